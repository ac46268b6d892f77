"""The three ReLU backward rules, and that they reach every way a forward pass can run a ReLU."""

from __future__ import annotations

import warnings

import pytest
import torch
from captum.attr import Deconvolution, GuidedBackprop, Saliency
from engine_nets import FORMS, SeparateReLUNet, assert_close_maps, same_weights
from torch import nn

from backprop_lens import METHODS, attribute

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


def test_methods_lists_the_three_paper_methods() -> None:
    assert METHODS == ("saliency", "deconvnet", "guided_backprop")


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
    for method in METHODS:
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
    maps = [captum_map(reference, x, method, 0) for method in METHODS]
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
    assert "gelu (gelu)" in messages[0]        # the module and the function it ran
    assert "<model> (silu)" in messages[0]     # a functional call in the top-level forward


def test_other_activations_raise_with_strict() -> None:
    with pytest.raises(ValueError, match=r"gelu.*strict=True"):
        attribute(_GeluNet(), torch.randn(1, 3, 6, 6), "deconvnet", target=0, strict=True)


def test_saliency_needs_no_rule_and_does_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        attribute(_GeluNet(), torch.randn(1, 3, 6, 6), "saliency", target=0, strict=True)
