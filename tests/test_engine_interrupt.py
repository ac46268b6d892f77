"""Stopping an attribution that is no longer wanted (``engine.interrupt``): at a module call of
the forward pass or at a rectifier of the backward pass, leaving no trace, and only on the
thread that asked."""

from __future__ import annotations

import threading

import pytest
import torch
from test_engine_model import assert_untouched, snapshot
from torch import nn

from backprop_lens import attribute
from backprop_lens.engine.interrupt import Interrupted, interruptible


def small_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(),
        nn.Flatten(), nn.Linear(4 * 8 * 8, 5), nn.ReLU(), nn.Linear(5, 3),
    ).eval()


X = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(1))


class Counter:
    """A stop check that says stop at its ``stop_at``-th call (never when None)."""

    def __init__(self, stop_at: int | None = None) -> None:
        self.calls = 0
        self.stop_at = stop_at

    def __call__(self) -> bool:
        self.calls += 1
        return self.stop_at is not None and self.calls >= self.stop_at


@pytest.mark.parametrize("method", ["saliency", "deconvnet", "guided_backprop"])
def test_an_unwanted_attribution_stops_in_the_forward_or_the_backward_pass(method: str) -> None:
    model = small_net()
    before = snapshot(model)
    expected = attribute(model, X, method, target=1)
    every = Counter()
    with interruptible(every):
        assert torch.equal(attribute(model, X, method, target=1), expected)
    module_calls = len(list(model.modules()))  # the Sequential and its 8 layers, once each
    assert every.calls == module_calls + 3  # and one checkpoint per ReLU going back
    for stop_at in (1, module_calls, module_calls + 1, every.calls):  # forward, then backward
        with interruptible(Counter(stop_at)), pytest.raises(Interrupted):
            attribute(model, X, method, target=1)
        assert_untouched(before, model)
    # Outside the block nothing is asked, and the maps are the same.
    assert torch.equal(attribute(model, X, method, target=1), expected)


def test_only_the_thread_that_asked_is_interrupted() -> None:
    model = small_net()
    expected = attribute(model, X, "guided_backprop", target=0)
    results: list[torch.Tensor] = []

    def run() -> None:
        results.append(attribute(model, X, "guided_backprop", target=0))

    with interruptible(lambda: True):
        other = threading.Thread(target=run)
        other.start()
        other.join(60)
        with pytest.raises(Interrupted):
            attribute(model, X, "guided_backprop", target=0)
    assert len(results) == 1 and torch.equal(results[0], expected)


def test_nested_blocks_restore_the_outer_check() -> None:
    model = small_net()
    with interruptible(lambda: False):
        with interruptible(lambda: True), pytest.raises(Interrupted):
            attribute(model, X, "saliency", target=0)
        attribute(model, X, "saliency", target=0)  # the outer check again: never stop
