"""A layer move costs the Explorer backward passes only: the forward pass of the input (and of
the clean input, while it is perturbed) is kept (``widget.compute.RetainedForwards``), and the
maps are ``attribute``'s, byte for byte once rendered."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from test_widget_perturb import stroke

from backprop_lens import attribute
from backprop_lens.render import render_map
from backprop_lens.widget import Explorer
from backprop_lens.widget.defaults import DEFAULT_METHODS as METHODS
from backprop_lens.widget.keys import CLEAN, map_key


@pytest.fixture()
def explorer() -> Explorer:
    w = Explorer(model="shapes_cnn")
    assert w.wait(60)
    return w


@contextmanager
def forward_passes(explorer: Explorer) -> Iterator[list[int]]:
    """Counts the calls of the model's forward pass (the engine's twin of the model carries
    the hooks the model has when the twin is made)."""
    calls: list[int] = []
    handle = explorer.model.module.register_forward_pre_hook(lambda module, inputs: calls.append(1))
    try:
        yield calls
    finally:
        handle.remove()


def inner_layers(explorer: Explorer) -> list[str]:
    return [name for name, _ in explorer.model.layers]


def assert_maps_are_attributes(explorer: Explorer, layer: str, clean: bool) -> None:
    target = explorer.target
    for method in METHODS:
        for prefix, x in [("", explorer._session.x)] + ([(CLEAN, explorer.clean_input)] * clean):
            expected = render_map(attribute(explorer.model, x, method, [target], layer=layer)[0],
                                  method, None, *explorer._encoding)
            assert explorer.maps[prefix + map_key(layer, target, method)]["image"] == \
                expected.image, (prefix, method)


def test_layer_moves_run_no_forward_pass(explorer: Explorer) -> None:
    with forward_passes(explorer) as calls:
        for layer in inner_layers(explorer)[:3]:
            explorer.layer = layer
            assert explorer.wait(60)
    assert calls == []
    assert_maps_are_attributes(explorer, explorer.layer, clean=False)


def test_with_a_perturbed_input_neither_input_is_run_again(explorer: Explorer) -> None:
    stroke(explorer)
    explorer.layer = inner_layers(explorer)[0]
    assert explorer.wait(60)  # the perturbed input's forward pass, once
    with forward_passes(explorer) as calls:
        explorer.layer = inner_layers(explorer)[2]
        assert explorer.wait(60)
    assert calls == []
    assert_maps_are_attributes(explorer, explorer.layer, clean=True)
