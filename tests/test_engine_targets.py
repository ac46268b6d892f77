"""Targets: class indices, lists from one forward pass, "max", "random", "cost", inner layers."""

from __future__ import annotations

import sys

import pytest
import torch
import torchvision
from engine_nets import FORMS, SeparateReLUNet
from torch import nn

from backprop_lens import METHODS, attribute
from backprop_lens.engine.attribute import TARGET_CHUNK, targets_per_pass

attribute_module = sys.modules["backprop_lens.engine.attribute"]


class CountingNet(SeparateReLUNet):
    """Counts its forward passes, in a list: the engine runs the model's eval-mode twin, which
    shares the list (a plain int attribute would be the twin's own copy)."""

    def __init__(self, n_classes: int = 40) -> None:
        super().__init__(n_classes=n_classes)
        self.passes = [0]

    @property
    def calls(self) -> int:
        return self.passes[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.passes[0] += 1
        return super().forward(x)


def _relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    # an all-zero reference (a Grad-CAM map can be) must be matched exactly
    return ((a - b).abs().max() / b.abs().max().clamp_min(torch.finfo(b.dtype).tiny)).item()


@pytest.mark.parametrize("per_pass", ["vectorised", "one by one"])
@pytest.mark.parametrize("method", METHODS)
def test_a_list_of_targets_equals_separate_calls_from_one_forward_pass(
    method: str, per_pass: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if per_pass == "one by one":  # what large inputs get
        monkeypatch.setattr(attribute_module, "VECTORISED_ELEMENTS", 1)
    torch.manual_seed(0)
    net = CountingNet().eval()
    x = torch.randn(1, 3, 8, 8)
    targets = list(range(TARGET_CHUNK + 5))  # more than one vectorised chunk
    maps = attribute(net, x, method, target=targets)
    assert net.calls == 1
    assert maps.shape == (len(targets), 3, 8, 8)
    for k, target in enumerate(targets):
        assert _relative_error(maps[k], attribute(net, x, method, target)[0]) <= 1e-5


def test_a_list_of_targets_on_vgg16_equals_separate_calls() -> None:
    torch.manual_seed(0)
    model = torchvision.models.vgg16(weights=None).eval()
    x = torch.randn(1, 3, 64, 64)
    maps = attribute(model, x, "guided_backprop", target=[1, 2, 3])
    assert maps.shape == (3, 3, 64, 64)
    for k, target in enumerate([1, 2, 3]):
        single = attribute(model, x, "guided_backprop", target)[0]
        assert _relative_error(maps[k], single) <= 1e-5


def test_list_targets_accept_tensors_and_arrays() -> None:
    net = SeparateReLUNet().eval()
    x = torch.randn(1, 3, 8, 8)
    want = attribute(net, x, "saliency", [4, 1])
    assert torch.equal(attribute(net, x, "saliency", torch.tensor([4, 1])), want)
    assert torch.equal(attribute(net, x, "saliency", torch.tensor([4, 1]).numpy()), want)
    assert torch.equal(attribute(net, x, "saliency", torch.tensor(4)), want[:1])


def test_an_int_target_gives_each_example_its_own_map() -> None:
    torch.manual_seed(0)
    net = SeparateReLUNet().eval()
    x = torch.randn(3, 3, 8, 8)
    batch = attribute(net, x, "guided_backprop", 2)
    for i in range(3):
        assert torch.allclose(batch[i], attribute(net, x[i : i + 1], "guided_backprop", 2)[0])


def test_max_targets_each_examples_top_class() -> None:
    torch.manual_seed(2)
    net = SeparateReLUNet().eval()
    x = torch.randn(6, 3, 8, 8) * 4
    top = net(x).argmax(dim=1)
    assert len(set(top.tolist())) > 1, "the examples should disagree for this test to mean much"
    maps = attribute(net, x, "saliency", "max")
    for i, cls in enumerate(top.tolist()):
        assert torch.allclose(maps[i], attribute(net, x[i : i + 1], "saliency", cls)[0])


def test_random_targets_are_reproducible_with_a_seed_and_leave_global_rng_alone() -> None:
    torch.manual_seed(0)
    net = SeparateReLUNet(n_classes=5).eval()
    x = torch.randn(8, 3, 8, 8)
    state = torch.get_rng_state()
    a = attribute(net, x, "saliency", "random", seed=3)
    b = attribute(net, x, "saliency", "random", seed=3)
    assert torch.equal(a, b)
    assert torch.equal(torch.get_rng_state(), state)
    draws = {tuple(attribute(net, x, "saliency", "random", seed=s).flatten()[:4].tolist())
             for s in range(6)}
    assert len(draws) > 1
    classes = {c: attribute(net, x, "saliency", c) for c in range(5)}
    for i in range(8):  # each example's map is that of some class
        assert any(torch.equal(a[i], classes[c][i]) for c in range(5))


def test_cost_target_is_the_papers_squared_softmax_error() -> None:
    torch.manual_seed(0)
    net = SeparateReLUNet().eval()
    x = torch.randn(2, 3, 8, 8)
    labels = [1, 4]
    x_in = x.clone().requires_grad_(True)
    logits = net(x_in)
    onehot = torch.nn.functional.one_hot(torch.tensor(labels), 5).float()
    cost = ((logits.softmax(dim=1) - onehot) ** 2).sum()
    (want,) = torch.autograd.grad(cost, x_in)
    got = attribute(net, x, "saliency", "cost", label=labels)
    assert torch.allclose(got, want, atol=1e-7)
    same_label = attribute(net, x, "saliency", "cost", label=1)
    assert torch.allclose(same_label[0], got[0])


class _Head(nn.Module):
    """Counts calls: used to prove that nothing after the chosen layer runs."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0
        self.fc = nn.Linear(4 * 16, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.fc(x.flatten(1))


def _layered_net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 4, 3, padding=1), nn.ReLU(), _Head(),
    ).eval()


@pytest.mark.parametrize("method", METHODS)
def test_layer_target_starts_from_the_channel_sum_and_stops_the_forward(method: str) -> None:
    net = _layered_net()
    x = torch.randn(1, 3, 8, 8)
    got = attribute(net, x, method, target=2, layer="4")
    assert net[5].calls == 0
    truncated = nn.Sequential(*net[:5], nn.Flatten(2), _ChannelSum()).eval()
    assert torch.allclose(got, attribute(truncated, x, method, target=2), atol=1e-7)


class _ChannelSum(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.sum(dim=2)


def test_layer_max_picks_the_most_active_channel_and_lists_pick_several() -> None:
    net = _layered_net()
    x = torch.randn(1, 3, 8, 8)
    with torch.no_grad():
        strongest = net[:5](x).sum(dim=(2, 3)).argmax().item()
    assert torch.equal(attribute(net, x, "guided_backprop", "max", layer="3"),
                       attribute(net, x, "guided_backprop", strongest, layer="3"))
    several = attribute(net, x, "deconvnet", [0, 3], layer="3")
    assert torch.equal(several[1], attribute(net, x, "deconvnet", 3, layer="3")[0])


def test_layer_target_on_a_linear_layer_is_the_unit_value() -> None:
    net = _layered_net()
    x = torch.randn(1, 3, 8, 8)
    x_in = x.clone().requires_grad_(True)
    (want,) = torch.autograd.grad(net(x_in)[0, 4], x_in)
    assert torch.allclose(attribute(net, x, "saliency", 4, layer="5.fc"), want)


@pytest.mark.parametrize("form", ["nn.ReLU reused", "F.relu(inplace=True)"])
def test_list_targets_work_through_every_relu_form(form: str) -> None:
    torch.manual_seed(0)
    net = FORMS[form]().eval()
    x = torch.randn(1, 3, 8, 8)
    maps = attribute(net, x, "guided_backprop", [0, 1, 2])
    for k in range(3):
        assert torch.allclose(maps[k], attribute(net, x, "guided_backprop", k)[0])


def test_small_inputs_share_backward_passes_and_large_ones_go_one_by_one() -> None:
    assert targets_per_pass(torch.zeros(1, 3, 8, 8)) == TARGET_CHUNK
    assert targets_per_pass(torch.zeros(1, 3, 64, 64)) == TARGET_CHUNK
    assert targets_per_pass(torch.zeros(1, 3, 224, 224)) == 1
