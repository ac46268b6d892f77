"""A layer move costs the Explorer backward passes only: the forward pass of the input (and of
the clean input, while it is perturbed) is kept (``widget.compute.RetainedForwards``), and the
maps are ``attribute``'s, byte for byte once rendered."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest
import torch
from test_widget_perturb import stroke
from torch import nn

from backprop_lens import attribute, models
from backprop_lens.render import render_map
from backprop_lens.widget import Explorer
from backprop_lens.widget.compute import RetainedForwards
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


def batch_norm_explorer() -> Explorer:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                        nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                        nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
                        nn.Flatten(), nn.Linear(8 * 16 * 16, 4)).eval()
    spec = models.as_lens_model(net, input_size=16)
    image = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    w = Explorer(model=spec, image=image, top_k=2)
    assert w.wait(60)
    return w


@pytest.mark.parametrize("change", ["load_state_dict", "train-mode forward"])
def test_a_model_changed_in_a_cell_is_run_again_not_shown_stale(change: str) -> None:
    """The kept pass belongs to the weights and statistics it ran with: once a cell changes
    them, the next layer's maps are of the model as it is now."""
    explorer = batch_norm_explorer()
    explorer.layer = inner_layers(explorer)[0]
    assert explorer.wait(60)
    module = explorer.model.module
    if change == "load_state_dict":
        module.load_state_dict({k: v * 1.5 if v.is_floating_point() else v
                                for k, v in module.state_dict().items()})
    else:  # updates the batch-norm running statistics in place
        module.train()
        module(torch.rand(4, 3, 16, 16) * 5)
        module.eval()
    explorer.layer = inner_layers(explorer)[-1]
    assert explorer.wait(60)
    assert explorer.status == "idle"
    assert_maps_are_attributes(explorer, explorer.layer, clean=False)


def test_passes_of_a_changed_model_are_not_kept() -> None:
    """After a change to the model every kept pass is stale: none stays held (a graph each)."""
    spec = batch_norm_explorer().model
    forwards = RetainedForwards(spec)
    clean, perturbed = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16)
    forwards.of(clean)
    forwards.of(perturbed)
    with torch.no_grad():
        spec.module[0].weight.add_(0.1)
    fresh = forwards.of(perturbed)
    assert forwards._kept == [fresh] and fresh.is_current()
