"""One forward pass kept for the maps of many layers (``engine.RetainedForward``): the same maps
as ``attribute``, at every layer and for every way of writing a rectifier, no trace on the model,
and a backward pass stopped half way leaves the kept graph whole."""

from __future__ import annotations

import warnings

import pytest
import torch
from engine_nets import FORMS, FORMS6, PAPER_METHODS, TinyNet, assert_close_maps
from test_engine_model import assert_untouched, snapshot
from torch import nn

from backprop_lens import NonReluActivationWarning, attribute
from backprop_lens.engine import NotCovered, RetainedForward
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


class AliasNet(nn.Module):
    """``same`` returns its input itself (as ``nn.Identity`` and eval-mode ``Dropout`` do); the
    model then changes that tensor in place, and relies on the alias: what ``fc`` reads has
    changed too."""

    def __init__(self, same: nn.Module) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.same = same
        self.fc = nn.Linear(4 * 8 * 8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(x)
        g = self.same(h)
        h.relu_()
        return self.fc(g.flatten(1))


@pytest.mark.parametrize("same", [nn.Identity(), nn.Dropout(0.5)], ids=["Identity", "Dropout"])
def test_an_output_that_is_its_input_stays_one_and_is_left_to_attribute(same: nn.Module) -> None:
    torch.manual_seed(0)
    net = AliasNet(same).eval()
    kept = RetainedForward(net, X, ["conv", "same"])
    assert kept.covers("conv") and not kept.covers("same")
    with pytest.raises(NotCovered, match="'same' is not covered"):
        kept.maps("same", "saliency", [0])
    for method in PAPER_METHODS:  # the model computes what it computes without us
        assert_close_maps(kept.maps(None, method, [0, 1]), attribute(net, X, method, [0, 1]))
        assert_close_maps(kept.maps("conv", method, [0, 1]),
                          attribute(net, X, method, [0, 1], layer="conv"))


def test_a_layer_whose_backward_pass_needs_a_tensor_changed_later_is_left_to_attribute() -> None:
    """``aux`` (a convolution) saves its input for its backward pass; the model then changes
    that input in place. ``attribute`` stops at ``aux`` before the change; the kept pass cannot
    answer."""

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)
            self.aux = nn.Conv2d(4, 4, 1)
            self.fc = nn.Linear(4 * 8 * 8, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = self.conv(x)
            self.aux(h)
            h.add_(1.0)
            return self.fc(h.flatten(1))

    torch.manual_seed(0)
    net = Net().eval()
    kept = RetainedForward(net, X, ["aux"])
    assert kept.covers("aux")
    with pytest.raises(NotCovered, match="changed in place a tensor"):
        kept.maps("aux", "saliency", [0])
    assert not kept.covers("aux")
    assert attribute(net, X, "saliency", [0], layer="aux").abs().sum() > 0
    assert_close_maps(kept.maps(None, "saliency", [1]), attribute(net, X, "saliency", [1]))


def bn_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.Flatten(), nn.Linear(4 * 8 * 8, 3)).eval()


@pytest.mark.parametrize("change", ["train-mode forward", "load_state_dict", "no_grad add_",
                                    "replaced parameter", "x changed in place"])
def test_a_pass_of_a_model_or_input_changed_since_is_refused(change: str) -> None:
    net, x = bn_net(), X.clone()
    kept = RetainedForward(net, x, ["2"])
    assert kept.is_current()
    if change == "train-mode forward":  # updates the batch-norm statistics in place
        net.train()
        net(torch.rand(2, 3, 8, 8) * 5)
        net.eval()
    elif change == "load_state_dict":
        net.load_state_dict({k: v + 0.01 for k, v in net.state_dict().items()})
    elif change == "no_grad add_":
        with torch.no_grad():
            net[4].weight.add_(0.01)
    elif change == "replaced parameter":
        net[4].weight = nn.Parameter(net[4].weight.detach() + 0.01)
    else:
        x.mul_(0.5)
    assert not kept.is_current()
    with pytest.raises(NotCovered, match="changed since"):
        kept.maps("2", "guided_backprop", [0])
    fresh = RetainedForward(net, x, ["2"])
    assert_close_maps(fresh.maps("2", "guided_backprop", [0]),
                      attribute(net, x, "guided_backprop", [0], layer="2"))


def test_only_the_operations_on_the_layers_backward_pass_are_reported() -> None:
    """A GELU above the layer is not on its backward pass: no warning there (as ``attribute``);
    at the output, the warning."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1),
                        nn.GELU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 3)).eval()
    kept = RetainedForward(net, X, ["0"])
    with warnings.catch_warnings():
        warnings.simplefilter("error", NonReluActivationWarning)
        kept.maps("0", "guided_backprop", [0])
    with pytest.warns(NonReluActivationWarning, match="gelu"):
        kept.maps(None, "guided_backprop", [0])


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
    with pytest.raises(ValueError, match="'conv9'"):
        RetainedForward(net, X, ["conv9"])
    with pytest.raises(ValueError, match="layer must be a name"):
        RetainedForward(net, X, [""])
    with pytest.raises(TypeError, match="sequence of module names; got the str 'conv1'"):
        RetainedForward(net, X, "conv1")
    with pytest.raises(ValueError, match="4 dimensions"):
        RetainedForward(net, X[0], LAYERS)
    with pytest.raises(ValueError, match="one example"):
        RetainedForward(net, X.repeat(2, 1, 1, 1), LAYERS)
    kept = RetainedForward(net, X, LAYERS)
    with pytest.raises(ValueError, match="target"):
        kept.maps("conv2", "saliency", [99])
    with pytest.raises(TypeError, match="targets must be a sequence"):
        kept.maps("conv2", "saliency", 0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="layer must be a module name"):
        kept.maps(3, "saliency", [0])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="'smoothgrad' is not one backward pass"):
        kept.maps("conv2", "smoothgrad", [0])
