"""The three ReLU backward rules, and that they reach every way a forward pass can run a ReLU."""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable

import pytest
import torch
import torchvision
from captum.attr import Deconvolution, GuidedBackprop, Saliency
from engine_nets import (
    FORMS,
    FORMS6,
    PAPER_METHODS,
    Reference6Net,
    ReferenceReLU6,
    SeparateReLUNet,
    assert_close_maps,
    same_weights,
)
from torch import nn

from backprop_lens import METHODS, NonReluActivationWarning, attribute

CAPTUM = {
    "saliency": lambda m: Saliency(m),
    "deconvnet": lambda m: Deconvolution(m),
    "guided_backprop": lambda m: GuidedBackprop(m),
}


def captum_map(model: nn.Module, x: torch.Tensor, method: str, target: int) -> torch.Tensor:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Captum announces the hooks it sets
        kwargs = {"abs": False} if method == "saliency" else {}
        return CAPTUM[method](model).attribute(x, target=target, **kwargs).detach()


def test_methods_list_the_three_paper_methods_first() -> None:
    assert METHODS[:3] == PAPER_METHODS


def test_rules_at_a_single_relu_match_their_definitions() -> None:
    # f(x) = w · relu(x): the map is w pushed back through one ReLU, so each rule is visible.
    x = torch.tensor([[[[1.0, -2.0], [3.0, -4.0]]]])
    w = torch.tensor([[2.0, 5.0, -3.0, -7.0]])
    model = nn.Sequential(nn.ReLU(), nn.Flatten(), nn.Linear(4, 1, bias=False))
    with torch.no_grad():
        model[2].weight.copy_(w)
    active = (x > 0).float().flatten()
    expected = {
        "saliency": w[0] * active,                      # g·1[a>0]
        "deconvnet": w[0].clamp(min=0),                 # relu(g)
        "guided_backprop": w[0].clamp(min=0) * active,  # relu(g)·1[a>0]
    }
    for method, want in expected.items():
        got = attribute(model, x, method, target=0).flatten()
        assert torch.equal(got, want), method


def test_max_pool_routes_the_gradient_through_its_forward_switch_in_every_method() -> None:
    x = torch.tensor([[[[1.0, 4.0], [2.0, 3.0]]]])  # the max, 4, sits at (0, 1)
    model = nn.Sequential(nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1, 1, bias=False))
    with torch.no_grad():
        model[2].weight.fill_(2.0)
    for method in PAPER_METHODS:
        got = attribute(model, x, method, target=0)
        assert torch.equal(got, torch.tensor([[[[0.0, 2.0], [0.0, 0.0]]]])), method


@pytest.mark.parametrize("form", list(FORMS))
@pytest.mark.parametrize("method", ["saliency", "deconvnet", "guided_backprop"])
def test_every_relu_form_follows_the_rule(form: str, method: str) -> None:
    torch.manual_seed(0)
    net = FORMS[form]().eval()
    reference = same_weights(net, SeparateReLUNet())
    x = torch.randn(2, 3, 8, 8)
    for target in (0, 3):
        want = captum_map(reference, x, method, target)
        assert_close_maps(attribute(net, x, method, target=target), want)


def test_the_reference_tells_the_methods_apart() -> None:
    """Guards the form test: were the three maps equal, a missed ReLU would go unnoticed."""
    torch.manual_seed(0)
    reference = SeparateReLUNet().eval()
    x = torch.randn(2, 3, 8, 8)
    maps = [captum_map(reference, x, method, 0) for method in PAPER_METHODS]
    for i in range(len(maps)):
        for j in range(i + 1, len(maps)):
            assert not torch.allclose(maps[i], maps[j], atol=1e-6)


class _GeluNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.gelu = nn.GELU()
        self.head = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.nn.functional.silu(self.gelu(self.conv(x)))
        return self.head(x.mean(dim=(2, 3)))


def test_other_activations_warn_once_naming_the_module() -> None:
    x = torch.randn(1, 3, 6, 6)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        attribute(_GeluNet(), x, "guided_backprop", target=0)
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1
    assert "(gelu, silu) in 2 modules (gelu, <model>)" in messages[0]  # kinds and modules
    assert "\n" not in messages[0]


def test_other_activations_raise_with_strict() -> None:
    with pytest.raises(ValueError, match=r"gelu.*strict=True"):
        attribute(_GeluNet(), torch.randn(1, 3, 6, 6), "deconvnet", target=0, strict=True)


def test_saliency_needs_no_rule_and_does_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        attribute(_GeluNet(), torch.randn(1, 3, 6, 6), "saliency", target=0, strict=True)


def _reference_map(reference: nn.Module, x: torch.Tensor, target: int) -> torch.Tensor:
    """The plain gradient of a net whose rectifiers carry the hand-written rule."""
    x_in = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(reference(x_in)[:, target].sum(), x_in)
    return grad


@pytest.mark.parametrize("form", list(FORMS6))
@pytest.mark.parametrize("method", PAPER_METHODS)
def test_every_relu6_form_follows_the_rule_with_the_mask_0_a_6(form: str, method: str) -> None:
    torch.manual_seed(1)
    net = FORMS6[form]().eval()
    reference = same_weights(net, Reference6Net(method))
    x = 6 * torch.randn(2, 3, 8, 8)  # large enough that some activations pass 6
    with torch.no_grad():
        assert (net.conv1(x) > 6).any() and (net.conv1(x) < 0).any()
    with warnings.catch_warnings():
        warnings.simplefilter("error", NonReluActivationWarning)  # ReLU6 has its rule now
        for target in (0, 3):
            assert_close_maps(attribute(net, x, method, target=target),
                              _reference_map(reference, x, target))


def test_the_relu6_reference_tells_the_methods_and_the_cap_apart() -> None:
    """Guards the ReLU6 test: the cap and each rule change the map."""
    torch.manual_seed(1)
    x = 6 * torch.randn(2, 3, 8, 8)
    maps = {m: _reference_map(Reference6Net(m).eval(), x, 0) for m in PAPER_METHODS}
    assert not torch.allclose(maps["guided_backprop"], maps["deconvnet"])
    assert not torch.allclose(maps["guided_backprop"], maps["saliency"])
    relu = same_weights(Reference6Net("saliency"), SeparateReLUNet())
    assert not torch.allclose(attribute(relu, x, "guided_backprop", 0), maps["guided_backprop"])


def _with_reference_relu6(model: nn.Module, method: str) -> nn.Module:
    reference = copy.deepcopy(model)
    for parent in list(reference.modules()):
        for name, child in parent.named_children():
            if isinstance(child, nn.ReLU6):
                setattr(parent, name, ReferenceReLU6(method))
    return reference.eval()


@pytest.mark.parametrize("method", PAPER_METHODS)
def test_mobilenet_v2_matches_its_rewrite_with_the_reference_relu6(method: str) -> None:
    torch.manual_seed(0)
    model = torchvision.models.mobilenet_v2(weights=None).eval()  # ReLU6(inplace=True)
    reference = _with_reference_relu6(model, method)
    assert not any(isinstance(m, nn.ReLU6) for m in reference.modules())
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    with warnings.catch_warnings():
        warnings.simplefilter("error", NonReluActivationWarning)
        for target in (1, 998):
            assert_close_maps(attribute(model, x, method, target),
                              _reference_map(reference, x, target))


def test_clamp_passes_nothing_at_its_bounds_like_any_rectifier() -> None:
    """clamp's own backward passes a == 0 and a == 6; the rules' mask is 1[0<a<6], the same
    for every way of writing the rectifier (here the input itself holds the bounds)."""
    x = torch.tensor([[[[0.0, 6.0, 3.0, -1.0], [7.0, 0.0, 2.0, 6.0]]]])
    w = torch.tensor([[1.0, -2.0, 3.0, -4.0, 5.0, -6.0, 7.0, -8.0]])
    for act in (lambda a: a.clamp(0, 6), nn.ReLU6(), lambda a: a.clamp(min=0), nn.ReLU()):
        net = nn.Sequential(_Lambda(act), nn.Flatten(), nn.Linear(8, 1, bias=False))
        with torch.no_grad():
            net[2].weight.copy_(w)
        capped = isinstance(act, nn.ReLU6) or act(torch.tensor(7.0)) == 6
        m = ((x > 0) & ((x < 6) if capped else True)).float().flatten()
        want = {"saliency": w[0] * m, "deconvnet": w[0].clamp(min=0),
                "guided_backprop": w[0].clamp(min=0) * m}
        for method in PAPER_METHODS:
            assert torch.equal(attribute(net, x, method, 0).flatten(), want[method]), method


class _Lambda(nn.Module):
    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)
