"""One forward pass kept for the maps of many layers (``engine.RetainedForward``): the same maps
as ``attribute``, at every layer and for every way of writing a rectifier, no trace on the model,
and a backward pass stopped half way leaves the kept graph whole."""

from __future__ import annotations

import pytest
import torch
from engine_nets import FORMS, FORMS6, PAPER_METHODS, TinyNet, assert_close_maps
from test_engine_model import assert_untouched, snapshot
from torch import nn

from backprop_lens import attribute
from backprop_lens.engine import RetainedForward
from backprop_lens.engine.interrupt import Interrupted, interruptible

X = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(3))
LAYERS = ("conv1", "pool", "conv2", "fc")  # conv1 and conv2 feed in-place rectifiers in FORMS


def make(form: type[TinyNet]) -> nn.Module:
    torch.manual_seed(0)
    return form().eval()


@pytest.mark.parametrize("form", [*FORMS, *FORMS6])
@pytest.mark.parametrize("method", PAPER_METHODS)
def test_maps_equal_attribute_at_every_layer(form: str, method: str) -> None:
    net = make({**FORMS, **FORMS6}[form])
    kept = RetainedForward(net, X, LAYERS)
    for layer in (None, *LAYERS):
        assert kept.covers(layer)
        targets = [1, 3]
        ours = kept.maps(layer, method, targets)
        reference = attribute(net, X, method, targets, layer=layer)
        assert_close_maps(ours, reference)


def test_a_layer_output_changed_in_place_later_is_not_covered() -> None:
    """An ``nn.Identity``'s output is its input, which the model then changes in place: the
    capture's graph would lead through that change, so the layer is left to ``attribute``."""

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)
            self.same = nn.Identity()
            self.fc = nn.Linear(4 * 8 * 8, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = self.conv(x)
            self.same(h)
            return self.fc(h.relu_().flatten(1))

    torch.manual_seed(0)
    kept = RetainedForward(Net().eval(), X, ["conv", "same"])
    assert kept.covers("conv") and not kept.covers("same")
    with pytest.raises(ValueError, match="'same' is not covered"):
        kept.maps("same", "saliency", [0])


def test_nothing_is_left_on_the_model() -> None:
    net = make(FORMS6["nn.ReLU6(inplace=True) reused"])
    net.train()
    before = snapshot(net)
    kept = RetainedForward(net, X, LAYERS)
    for method in PAPER_METHODS:
        kept.maps("conv2", method, [0])
    assert_untouched(before, net)


def test_a_stopped_backward_pass_leaves_the_kept_graph_usable() -> None:
    net = make(FORMS["nn.ReLU(inplace=True)"])
    kept = RetainedForward(net, X, LAYERS)
    with interruptible(lambda: True), pytest.raises(Interrupted):
        kept.maps(None, "guided_backprop", [2])
    assert_close_maps(kept.maps(None, "guided_backprop", [2]),
                      attribute(net, X, "guided_backprop", [2]))


def test_a_forward_pass_stopped_half_way_leaves_nothing_on_the_model() -> None:
    net = make(FORMS["nn.ReLU(inplace=True)"])
    before = snapshot(net)
    with interruptible(lambda: True), pytest.raises(Interrupted):
        RetainedForward(net, X, LAYERS)
    assert_untouched(before, net)


def test_bad_arguments_are_named() -> None:
    net = make(FORMS["nn.ReLU(inplace=True)"])
    with pytest.raises(ValueError, match="unknown: \\['conv9'\\]"):
        RetainedForward(net, X, ["conv9"])
    with pytest.raises(ValueError, match="4 dimensions"):
        RetainedForward(net, X[0], LAYERS)
    with pytest.raises(ValueError, match="target"):
        RetainedForward(net, X, LAYERS).maps("conv2", "saliency", [99])
    with pytest.raises(TypeError, match="'smoothgrad' is not one backward pass"):
        RetainedForward(net, X, LAYERS).maps("conv2", "smoothgrad", [0])
