"""Weight randomisation: each mode re-draws exactly its layers; the original is untouched."""

from __future__ import annotations

from collections import OrderedDict

import pytest
import torch
from torch import nn

from backprop_lens import models

pytestmark = pytest.mark.usefixtures("no_network")


def _deep_cnn() -> models.LensModel:
    return models.paper_cnn(n_filters=4, input_size=12, depth=3, seed=0)


def _state(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _changed_layers(before: dict[str, torch.Tensor], after: nn.Module) -> set[str]:
    now = after.state_dict()
    return {key.rsplit(".", 1)[0] for key in before if not torch.equal(before[key], now[key])}


@pytest.mark.parametrize(
    ("mode", "layer", "expected"),
    [
        ("cascade", "conv2", {"conv2", "conv3", "fc"}),
        ("cascade", "fc", {"fc"}),
        ("cascade", "conv1", {"conv1", "conv2", "conv3", "fc"}),
        ("only", "conv2", {"conv2"}),
        ("reverse", "conv2", {"conv1", "conv2"}),
        ("reverse", "fc", {"conv1", "conv2", "conv3", "fc"}),
    ],
)
def test_modes_redraw_exactly_their_layers_and_leave_the_original(
    mode: str, layer: str, expected: set[str]
) -> None:
    spec = _deep_cnn()
    original = _state(spec.module)
    randomized = models.randomize(spec, mode, layer, seed=1)
    assert _changed_layers(original, randomized.module) == expected
    assert models.randomized_layers(spec, mode, layer) == [
        n for n in spec.parameter_layers if n in expected]
    assert _changed_layers(original, spec.module) == set()  # the original is untouched
    assert randomized.module is not spec.module
    assert randomized.preprocess is not None and randomized.input_size == spec.input_size
    assert mode in randomized.name and layer in randomized.name


def test_same_seed_same_weights_other_seed_other_weights() -> None:
    spec = _deep_cnn()
    a = models.randomize(spec, "cascade", "conv2", seed=4).module.state_dict()
    b = models.randomize(spec, "cascade", "conv2", seed=4).module.state_dict()
    c = models.randomize(spec, "cascade", "conv2", seed=5).module.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["conv2.weight"], c["conv2.weight"])


def test_paper_networks_are_redrawn_the_papers_way() -> None:
    spec = models.paper_fcn(hidden=40, input_size=8)
    randomized = models.randomize(spec, "cascade", "fc1", seed=3).module
    assert torch.all(randomized.fc1.bias == 1.0)  # the paper's constant bias, kept
    assert randomized.fc1.weight.abs().max() <= 0.2
    assert randomized.fc2.weight.abs().max() > 10.0  # σ 10 for the output layer


def test_other_networks_are_redrawn_by_pytorchs_initialisation_and_keep_buffers() -> None:
    net = nn.Sequential(OrderedDict(
        conv=nn.Conv2d(3, 4, 3), bn=nn.BatchNorm2d(4), relu=nn.ReLU(), flatten=nn.Flatten(),
        fc=nn.Linear(4 * 30 * 30, 3),
    ))
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(0.5)
        net.bn.running_mean.fill_(2.0)
    torch.manual_seed(0)
    expected_rng = torch.rand(2)
    torch.manual_seed(0)
    randomized = models.randomize(net, "only", "conv", seed=0).module
    assert torch.equal(torch.rand(2), expected_rng)  # the global random state is untouched
    bound = 1.0 / (3 * 3 * 3) ** 0.5  # PyTorch's default conv init: U(±1/sqrt(fan_in))
    assert randomized.conv.weight.abs().max() <= bound
    assert not torch.equal(randomized.conv.weight, net.conv.weight)
    assert torch.all(net.conv.weight == 0.5)
    both = models.randomize(net, "reverse", "bn", seed=0).module
    assert torch.all(both.bn.running_mean == 2.0)  # buffers are kept
    assert torch.all(both.bn.weight == 1.0)  # BatchNorm's own reset


def test_shipped_model_can_be_randomised() -> None:
    spec = models.load("shapes_cnn")
    assert spec.parameter_layers == ["conv1", "conv2", "conv3", "fc1", "fc2"]
    randomized = models.randomize(spec, "cascade", "fc1", seed=0)
    assert torch.equal(randomized.module.conv3.weight, spec.module.conv3.weight)
    assert not torch.equal(randomized.module.fc1.weight, spec.module.fc1.weight)


@pytest.mark.parametrize(
    ("mode", "layer", "error", "message"),
    [
        ("sideways", "conv1", ValueError, "mode must be one of"),
        ("cascade", "relu1", ValueError, "layer must name a layer with parameters"),
        ("cascade", "nope", ValueError, "conv1"),
        ("only", 3, TypeError, "layer must be a str"),
    ],
)
def test_bad_arguments_raise_clear_errors(
    mode: str, layer: object, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        models.randomize(_deep_cnn(), mode, layer)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="seed"):
        models.randomize(_deep_cnn(), "only", "conv1", seed="x")  # type: ignore[arg-type]
