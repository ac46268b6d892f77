"""The front end's ``view`` message (issue 16, a burst of layer moves): each slider move tells
the kernel at once which maps to start, ahead of the state that ipywidgets sends one message at
a time. It starts those maps, drops the work of the layers passed over, and sets no trait."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from backprop_lens import models
from backprop_lens.widget import OUTPUT, Explorer
from backprop_lens.widget import explorer as explorer_module
from backprop_lens.widget.keys import map_key


@pytest.fixture()
def explorer() -> Explorer:
    spec = models.paper_cnn(n_filters=4, input_size=16, n_classes=3, depth=3)
    found = Explorer(model=spec, image=np.zeros((16, 16, 3), np.uint8), top_k=2)
    assert found.wait(60)
    return found


def view(explorer: Explorer, layer: Any, target: Any) -> None:
    explorer._on_custom_message(explorer, {"type": "view", "layer": layer, "target": target}, [])


def best(explorer: Explorer, layer: str) -> int:
    return int(explorer.targets[layer][0][0])


def inner_layers(explorer: Explorer) -> list[str]:
    return [entry["name"] for entry in explorer.layers if entry["name"] != OUTPUT]


class Recorded:
    """The (layer, method, targets) of every map the Explorer computes from now on; ``hold()``
    keeps its worker busy until ``release()``, so that messages queue work."""

    def __init__(self, explorer: Explorer, monkeypatch: pytest.MonkeyPatch) -> None:
        self.computed: list[tuple[str, str, tuple[int, ...]]] = []
        self.gate = threading.Event()
        compute = explorer_module.compute_maps

        def recording(spec: Any, x: Any, layer: str, method: str, targets: Any,
                      *args: Any, **kwargs: Any) -> Any:
            self.computed.append((layer, method, tuple(targets)))
            return compute(spec, x, layer, method, targets, *args, **kwargs)

        monkeypatch.setattr(explorer_module, "compute_maps", recording)
        self.explorer = explorer

    def hold(self) -> None:
        self.explorer._worker.submit_task(lambda: self.gate.wait(30))

    def release(self) -> None:
        self.gate.set()
        assert self.explorer.wait(60)


@pytest.fixture()
def recorded(explorer: Explorer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Recorded]:
    found = Recorded(explorer, monkeypatch)
    yield found
    found.gate.set()


def test_a_view_message_computes_that_view_and_sets_no_trait(explorer: Explorer) -> None:
    layer = inner_layers(explorer)[1]
    target = best(explorer, layer)
    shown = (explorer.layer, explorer.target)
    view(explorer, layer, target)
    assert explorer.wait(60)
    for method in explorer.methods:
        assert map_key(layer, target, method) in explorer.maps, method
    assert (explorer.layer, explorer.target) == shown  # the state that follows sets them
    assert explorer.status == "idle"


def test_a_burst_of_view_messages_then_the_state_computes_the_last_view_once(
    explorer: Explorer, recorded: Recorded,
) -> None:
    """As ipywidgets sends a burst of 5 layer moves: the first move's state, a view message per
    move, and the last move's state only once the kernel answered the first."""
    layers = inner_layers(explorer)[:5]
    recorded.hold()
    explorer.set_state({"layer": layers[0], "target": best(explorer, layers[0])})
    for layer in layers:
        view(explorer, layer, best(explorer, layer))
    last = layers[-1]
    explorer.set_state({"layer": last, "target": best(explorer, last)})
    recorded.release()
    assert {layer for layer, _, _ in recorded.computed} == {last}  # no layer passed over
    target = best(explorer, last)
    views = [(method, targets) for _, method, targets in recorded.computed if target in targets]
    assert sorted(views) == sorted((method, (target,)) for method in explorer.methods)  # once
    assert recorded.computed[0] == (last, explorer.method, (target,))  # the view first
    assert explorer.status == "idle"


def test_the_last_view_message_starts_before_the_state_arrives(
    explorer: Explorer, recorded: Recorded,
) -> None:
    """The maps of a burst's last move are computed with no state at all: the view messages
    alone drop the former moves' work and queue the last one's."""
    layers = inner_layers(explorer)[:5]
    recorded.hold()
    for layer in layers:
        view(explorer, layer, best(explorer, layer))
    recorded.release()
    last = layers[-1]
    target = best(explorer, last)
    methods = [explorer.method, *(m for m in explorer.methods if m != explorer.method)]
    assert recorded.computed == [(last, method, (target,)) for method in methods]
    assert explorer.layer == OUTPUT


BAD_VIEWS = [
    ("no-such-layer", 0, "layer must be one of"),
    (None, 0, "layer must be one of"),
    (["conv"], 0, "layer must be one of"),
    (OUTPUT, -1, "target must be a class in [0, 3)"),
    (OUTPUT, 3, "target must be a class in [0, 3)"),
    (OUTPUT, "1", "target must be a class"),
    (OUTPUT, True, "target must be a class"),
    (OUTPUT, 1.0, "target must be a class"),
    (OUTPUT, None, "target must be a class"),
    (OUTPUT, 10**400, "digits"),
]


@pytest.mark.parametrize(("layer", "target", "named"), BAD_VIEWS)
def test_a_bad_view_message_is_a_status_error_naming_it_and_queues_nothing(
    explorer: Explorer, recorded: Recorded, layer: Any, target: Any, named: str,
) -> None:
    shown = (explorer.layer, explorer.target)
    recorded.hold()
    view(explorer, layer, target)
    assert explorer.status.startswith("error: view: ") and named in explorer.status, \
        explorer.status
    recorded.release()
    assert recorded.computed == [] and (explorer.layer, explorer.target) == shown


def test_a_view_message_for_a_channel_past_the_layers_count_names_the_layer(
    explorer: Explorer,
) -> None:
    layer = inner_layers(explorer)[0]
    count = len(explorer.targets[layer])
    view(explorer, layer, count)
    assert explorer.status == (f"error: view: target must be a channel of {layer!r} in "
                               f"[0, {count}); got {count}")


def test_the_view_shown_gets_its_maps_when_no_state_follows_a_view_message(
    explorer: Explorer, recorded: Recorded,
) -> None:
    """A view message moves the work away from the view shown; if no state follows (a lost or
    refused one, or a message sent from Python), the worker must not go idle without it."""
    shown, elsewhere = inner_layers(explorer)[:2]
    recorded.hold()
    explorer.set_state({"layer": shown, "target": best(explorer, shown)})
    view(explorer, elsewhere, best(explorer, elsewhere))
    recorded.release()
    assert explorer.layer == shown
    for method in explorer.methods:
        assert map_key(shown, best(explorer, shown), method) in explorer.maps, method
    assert explorer.status == "idle"


def test_a_view_message_clears_a_former_error_as_a_state_would(explorer: Explorer) -> None:
    """A view message naming a layer of a former model (a race with ``w.model = ...``) is an
    error; the next good one is not."""
    view(explorer, "no-such-layer", 0)
    assert explorer.status.startswith("error: view: ")
    layer = inner_layers(explorer)[0]
    view(explorer, layer, best(explorer, layer))
    assert explorer.wait(60)
    assert explorer.status == "idle"
