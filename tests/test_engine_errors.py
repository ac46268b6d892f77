"""Bad arguments get a TypeError or ValueError that names the argument and what was expected."""

from __future__ import annotations

import warnings

import pytest
import torch
from engine_nets import SeparateReLUNet

from backprop_lens import attribute


@pytest.fixture()
def net() -> SeparateReLUNet:
    torch.manual_seed(0)
    return SeparateReLUNet(n_classes=5).eval()


X = torch.randn(1, 3, 8, 8)

CASES = [
    # (kwargs overriding a valid call, error type, message pattern)
    ({"x": torch.randn(3, 8, 8)}, ValueError, r"x must have 4 dimensions \(N, C, H, W\)"),
    ({"x": torch.randn(1, 4, 8, 8)}, ValueError, r"x has 4 channels .* expects 3"),
    ({"x": torch.full((1, 3, 8, 8), float("nan"))}, ValueError, r"x contains NaN or infinite"),
    ({"x": X.clone().index_fill_(3, torch.tensor([2]), float("inf"))}, ValueError,
     r"x contains NaN or infinite"),
    ({"x": torch.zeros(0, 3, 8, 8)}, ValueError, r"x holds no example"),
    ({"x": [[1.0]]}, TypeError, r"x must be a torch.Tensor"),
    ({"x": torch.zeros(1, 3, 8, 8, dtype=torch.uint8)}, TypeError, r"x must be a floating-point"),
    ({"x": X.double()}, ValueError, r"x is torch.float64 .* parameters are torch.float32"),
    ({"method": "gradcam++"}, ValueError, r"method must be one of \('saliency', 'deconvnet'"),
    ({"method": 3}, TypeError, r"method must be a str"),
    ({"target": 5}, ValueError, r"target must be in \[0, 5\); got 5"),
    ({"target": -1}, ValueError, r"target must be in \[0, 5\); got -1"),
    ({"target": [1, 7]}, ValueError, r"target must be in \[0, 5\); got 7"),
    ({"target": 1.5}, TypeError, r"target must be an int; got float"),
    ({"target": True}, TypeError, r"target must be an int; got bool"),
    ({"target": "top"}, ValueError, r"target must be an int, a sequence of ints, or one of"),
    ({"target": []}, ValueError, r"target sequence is empty"),
    ({"x": torch.randn(2, 3, 8, 8), "target": [0, 1]}, ValueError,
     r"a sequence target needs a single example .* got N=2"),
    ({"target": "cost"}, ValueError, r'target="cost" needs label='),
    ({"target": "cost", "label": 9}, ValueError, r"label must be in \[0, 5\)"),
    ({"target": "cost", "label": [1, 2]}, ValueError, r"label must hold one class per example"),
    ({"target": "cost", "layer": "conv2", "label": 0}, ValueError,
     r'target="cost" is defined on the model output only'),
    ({"target": "random", "seed": "abc"}, TypeError, r"seed must be an int or None"),
    ({"layer": "conv3"}, ValueError, r"layer must be a name from model.named_modules\(\); "
                                     r"got 'conv3'; did you mean 'conv2', 'conv1'"),
    ({"layer": ""}, ValueError, r"layer must be a name from model.named_modules"),
    ({"layer": 2}, TypeError, r"layer must be a module name"),
    ({"layer": "conv2", "target": 4}, ValueError,
     r"target \(a channel of layer\) must be in \[0, 4\)"),
    ({"model": "vgg16"}, TypeError, r"model must be a torch.nn.Module or a LensModel; got str"),
]


@pytest.mark.parametrize(("override", "error", "pattern"), CASES,
                         ids=[f"{i}-{next(iter(c[0]))}" for i, c in enumerate(CASES)])
def test_bad_arguments_are_named(
    net: SeparateReLUNet, override: dict[str, object], error: type[Exception], pattern: str
) -> None:
    kwargs: dict[str, object] = {"model": net, "x": X, "method": "guided_backprop", "target": 0}
    kwargs.update(override)
    with pytest.raises(error, match=pattern):
        attribute(**kwargs)  # type: ignore[arg-type]


def test_a_layer_the_forward_never_calls_is_named(net: SeparateReLUNet) -> None:
    net.unused = torch.nn.Conv2d(3, 3, 1)
    with pytest.raises(ValueError, match=r"layer 'unused' was not called"):
        attribute(net, X, "saliency", 0, layer="unused")


def test_scripted_models_are_refused_where_rules_cannot_reach() -> None:
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 2, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                              torch.nn.Linear(72, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TorchScript announces its deprecation
        scripted = torch.jit.script(net)
    with pytest.raises(TypeError, match=r"TorchScript module \(<model>\); guided_backprop"):
        attribute(scripted, X, "guided_backprop", 0)
    assert attribute(scripted, X, "saliency", 0).shape == X.shape  # the plain gradient is fine
