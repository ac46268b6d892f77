"""Input × gradient, SmoothGrad, Integrated Gradients, Grad-CAM and guided Grad-CAM: against Captum
(the settings that make them the same computation) on VGG-16, ResNet-18 and EfficientNet-Lite0,
against hand references, and their settings, targets, batching and errors."""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable

import numpy as np
import pytest
import torch
import torchvision
from captum.attr import (
    GuidedGradCam,
    InputXGradient,
    IntegratedGradients,
    LayerAttribution,
    LayerGradCam,
)
from engine_nets import SeparateReLUNet
from torch import nn
from torchvision.transforms.functional import gaussian_blur

from backprop_lens import METHODS, attribute, methods, models
from backprop_lens.models.efficientnet import EfficientNetLite0
from backprop_lens.stats.batched import target_maps

TOLERANCE = 1e-5  # of the largest value


def assert_close(ours: torch.Tensor, theirs: torch.Tensor) -> None:
    assert ours.shape == theirs.shape
    scale = theirs.abs().max()
    assert scale > 0, "a trivial (all-zero) reference proves nothing"
    assert (ours - theirs).abs().max() <= TOLERANCE * scale, \
        float((ours - theirs).abs().max() / scale)


def _relu6_as_relu(module: nn.Module) -> nn.Module:
    """The same net with each ``nn.ReLU6`` module made an ``nn.ReLU`` (Captum's guided backprop
    has a rule for ``nn.ReLU`` only)."""
    for name, child in module.named_children():
        if isinstance(child, nn.ReLU6):
            setattr(module, name, nn.ReLU())
        else:
            _relu6_as_relu(child)
    return module


def _efficientnet() -> nn.Module:
    torch.manual_seed(0)
    return EfficientNetLite0(n_classes=1000).eval()


NETS: dict[str, Callable[[], nn.Module]] = {
    "vgg16": lambda: torchvision.models.vgg16(weights=None).eval(),
    "resnet18": lambda: torchvision.models.resnet18(weights=None).eval(),
    "efficientnet_lite0": _efficientnet,
}
DEFAULT_LAYERS = {"vgg16": "features", "resnet18": "layer4", "efficientnet_lite0": "_head_relu6"}


@pytest.fixture(scope="module", params=list(NETS))
def net(request: pytest.FixtureRequest) -> tuple[str, nn.Module, torch.Tensor]:
    torch.manual_seed(1)
    model = NETS[request.param]()
    return request.param, model, torch.randn(2, 3, 64, 64)


def _cam_target(model: nn.Module, x: torch.Tensor, layer: nn.Module) -> int:
    """A class whose Grad-CAM is not all zero for both examples (random weights may give 0)."""
    cam = LayerGradCam(model, layer)
    for target in range(20):
        if (cam.attribute(x, target, relu_attributions=True).flatten(1).amax(1) > 0).all():
            return target
    raise AssertionError("no class with a non-zero Grad-CAM")


@pytest.mark.slow
def test_input_x_gradient_matches_captum(net: tuple[str, nn.Module, torch.Tensor]) -> None:
    _, model, x = net
    assert_close(attribute(model, x, "input_x_gradient", 3),
                 InputXGradient(model).attribute(x, target=3))


@pytest.mark.slow
@pytest.mark.parametrize("quadrature", ["gausslegendre", "riemann_trapezoid"])
def test_integrated_gradients_match_captum(net: tuple[str, nn.Module, torch.Tensor],
                                           quadrature: str) -> None:
    _, model, x = net
    steps = 8
    baseline = torch.randn(1, 3, 64, 64) * 0.1
    ours = attribute(model, x, methods.IntegratedGradients(steps, baseline, quadrature), 3)
    theirs = IntegratedGradients(model).attribute(x, baseline.expand_as(x), target=3,
                                                  n_steps=steps, method=quadrature)
    if quadrature == "riemann_trapezoid":  # Captum's weights sum to (n − 1)/n, ours to 1
        theirs = theirs * steps / (steps - 1)
    assert_close(ours, theirs)


@pytest.mark.slow
def test_gradcam_and_guided_gradcam_match_captum(net: tuple[str, nn.Module, torch.Tensor]) -> None:
    name, model, x = net
    layer_name = methods.GradCAM().default_layer(model, x)
    assert layer_name == DEFAULT_LAYERS[name]
    layer = dict(model.named_modules())[layer_name]
    target = _cam_target(model, x, layer)
    cam = LayerGradCam(model, layer).attribute(x, target, relu_attributions=True)
    theirs = LayerAttribution.interpolate(cam, (64, 64), "bilinear")
    ours = attribute(model, x, "gradcam", target)
    assert_close(ours, theirs.expand(-1, 3, -1, -1))

    guided = attribute(model, x, "guided_gradcam", target)
    if name == "efficientnet_lite0":  # ReLU6: Captum's GBP has no rule for it, ours does
        assert_close(guided, attribute(model, x, "guided_backprop", target) * theirs)
        model = _relu6_as_relu(_efficientnet())
        layer = dict(model.named_modules())[layer_name]
        guided = attribute(model, x, "guided_gradcam", target)
    assert_close(guided, GuidedGradCam(model, layer).attribute(x, target,
                                                                interpolate_mode="bilinear"))


@pytest.mark.slow
@pytest.mark.parametrize("base", ["saliency", "deconvnet", "guided_backprop", "input_x_gradient"])
def test_smoothgrad_is_the_mean_over_the_same_noisy_copies(base: str) -> None:
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None).eval()
    x = torch.randn(2, 3, 64, 64)
    method = methods.SmoothGrad(base=base, noise_level=0.2, samples=5, batch_size=3)
    noise = method.noise(x, seed=7)
    rule = "saliency" if base == "input_x_gradient" else base
    copies = [x + noise[:, s] for s in range(5)]
    maps = [attribute(model, c, rule, 4) * (c if base == "input_x_gradient" else 1)
            for c in copies]
    assert_close(attribute(model, x, method, 4, seed=7), torch.stack(maps).mean(dim=0))


def test_smoothgrad_noise_is_scaled_to_each_examples_range_and_seeded() -> None:
    x = torch.stack([torch.rand(3, 16, 16), 10 * torch.rand(3, 16, 16) - 4])
    method = methods.SmoothGrad(noise_level=0.1, samples=400)
    noise = method.noise(x, seed=3)
    assert noise.shape == (2, 400, 3, 16, 16)
    for n in range(2):
        sigma = 0.1 * float(x[n].max() - x[n].min())
        assert abs(float(noise[n].std()) / sigma - 1) < 0.02
    assert torch.equal(noise, method.noise(x, seed=3))
    assert not torch.equal(noise, method.noise(x, seed=4))
    state = torch.get_rng_state()
    method.noise(x)
    assert torch.equal(state, torch.get_rng_state())  # the caller's random state is left alone


class Counting(nn.Module):
    """Counts its forward passes and the rows they carry."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module
        self.rows: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.rows.append(x.shape[0])
        return self.module(x)


@pytest.mark.slow
def test_guided_gradcam_for_three_targets_is_one_forward_pass() -> None:
    torch.manual_seed(0)
    model = Counting(torchvision.models.vgg16(weights=None).eval())
    x = torch.randn(1, 3, 64, 64)
    maps = attribute(model, x, "guided_gradcam", target=[1, 2, 3])
    assert maps.shape == (3, 3, 64, 64)
    assert model.rows == [1]
    for k, target in enumerate([1, 2, 3]):
        single = attribute(model, x, "guided_gradcam", target)[0]
        assert (maps[k] - single).abs().max() <= TOLERANCE * single.abs().max().clamp_min(1e-30)


@pytest.mark.parametrize("method", [methods.SmoothGrad(samples=7, batch_size=3),
                                    methods.IntegratedGradients(steps=7, batch_size=3)])
def test_copies_go_through_the_network_in_batches(method: methods.MethodObject) -> None:
    torch.manual_seed(0)
    model = Counting(SeparateReLUNet(n_classes=6).eval())
    x = torch.randn(2, 3, 8, 8)
    maps = attribute(model, x, method, target=1)
    assert model.rows == [3, 3, 3, 3, 2]  # 2 examples × 7 copies, 3 rows per pass
    model.rows.clear()
    one = attribute(model, x[:1], method, target=[1, 4, 5])
    assert model.rows == [3, 3, 1]  # three targets share the passes
    whole = dataclasses.replace(method, batch_size=None)  # type: ignore[type-var]
    assert torch.allclose(attribute(model, x, whole, 1), maps, atol=1e-6)
    assert torch.allclose(attribute(model, x[:1], whole, 4)[0], one[1], atol=1e-6)


@pytest.mark.parametrize("target", [2, "max", "random", "cost"])
@pytest.mark.parametrize("name", ["smoothgrad", "integrated_gradients"])
def test_copies_take_every_target_form(name: str, target: object) -> None:
    torch.manual_seed(0)
    model = SeparateReLUNet(n_classes=6).eval()
    x = torch.randn(2, 3, 8, 8)
    maps = attribute(model, x, name, target, seed=5, label=[1, 3])
    assert maps.shape == x.shape
    # SmoothGrad's first example gets the same noise alone as in the batch; IG's are all alike
    examples = range(2) if name == "integrated_gradients" else range(1)
    if target == "max":  # the top class of x itself, for every copy
        top = model(x).argmax(dim=1)
        for n in examples:
            single = attribute(model, x[n:n + 1], name, int(top[n]), seed=5)[0]
            assert torch.allclose(maps[n], single, atol=1e-7)
    if target == "cost":
        for n in examples:
            single = attribute(model, x[n:n + 1], name, "cost", seed=5, label=[1, 3][n])[0]
            assert torch.allclose(maps[n], single, atol=1e-7)


def test_completeness_error_is_small_and_per_target() -> None:
    torch.manual_seed(0)
    model = SeparateReLUNet(n_classes=6).eval()
    x = torch.randn(1, 3, 8, 8)
    method = methods.IntegratedGradients(steps=64, baseline="zeros")
    maps = attribute(model, x, method, target=[0, 2, 5])
    error = method.completeness_error(model, x, maps, target=[0, 2, 5])
    assert error.shape == (3,)
    with torch.no_grad():
        gain = (model(x) - model(torch.zeros_like(x)))[0, [0, 2, 5]]
    assert torch.allclose(maps.flatten(1).sum(1) - gain, error, atol=1e-6)
    assert (error.abs() <= 0.01 * gain.abs().max()).all()
    coarse = methods.IntegratedGradients(steps=2, baseline="zeros", method="riemann_trapezoid")
    rough = coarse.completeness_error(model, x, attribute(model, x, coarse, [0, 2, 5]), [0, 2, 5])
    assert rough.abs().max() > error.abs().max()


def test_baselines() -> None:
    torch.manual_seed(0)
    module = SeparateReLUNet().eval()
    spec = models.as_lens_model(module, input_size=8)
    x = torch.randn(2, 3, 8, 8)
    black = spec.preprocess(np.zeros((8, 8, 3), np.uint8))
    assert torch.allclose(methods.IntegratedGradients().baseline_for(spec, x), black.expand_as(x))
    assert torch.allclose(attribute(spec, x, "integrated_gradients", 1),
                          attribute(module, x, methods.IntegratedGradients(baseline=black), 1),
                          atol=1e-7)
    # a bare module's inputs are taken as pixel values: black is zeros
    assert torch.equal(methods.IntegratedGradients().baseline_for(module, x), torch.zeros_like(x))
    blur = methods.IntegratedGradients(baseline="blur", blur_sigma=0.125).baseline_for(module, x)
    assert torch.allclose(blur, gaussian_blur(x, [7, 7], [1.0, 1.0]))
    big = torch.randn(1, 3, 224, 224)
    assert methods.IntegratedGradients(baseline="blur").baseline_for(module, big).shape == \
        big.shape
    with pytest.raises(ValueError, match="baseline: shape"):
        attribute(module, x, methods.IntegratedGradients(baseline=torch.zeros(3, 4, 4)), 1)


def test_gradcam_layers_targets_and_shapes() -> None:
    torch.manual_seed(0)
    model = SeparateReLUNet(n_classes=6).eval()
    x = torch.randn(1, 3, 8, 8)
    assert methods.GradCAM().default_layer(model, x) == "relu2"
    at_pool = attribute(model, x, methods.GradCAM(layer="pool"), target=[0, 1, 2, 3])
    assert at_pool.shape == (4, 3, 8, 8) and (at_pool >= 0).all()
    assert torch.equal(at_pool[:, 0], at_pool[:, 2])  # one channel, repeated
    # at an inner layer: the target is a channel of layer=, the map from a layer before it
    inner = attribute(model, x, methods.GradCAM(layer="pool"), target=1, layer="conv2")
    assert inner.shape == x.shape
    with pytest.raises(ValueError, match="'relu2' was not run"):
        attribute(model, x, methods.GradCAM(layer="relu2"), target=1, layer="conv2")


def test_registry_display_and_objects_wherever_a_name_is() -> None:
    assert METHODS == ("saliency", "deconvnet", "guided_backprop", "input_x_gradient",
                       "smoothgrad", "integrated_gradients", "gradcam", "guided_gradcam")
    assert methods.get_method("smoothgrad") == methods.SmoothGrad()
    shown = {name: methods.get_method(name).display for name in METHODS}
    assert shown == {"saliency": "abs_grey", "deconvnet": "signed_rgb",
                     "guided_backprop": "signed_rgb", "input_x_gradient": "signed_channel",
                     "smoothgrad": "abs_grey", "integrated_gradients": "signed_channel",
                     "gradcam": "heatmap", "guided_gradcam": "signed_rgb"}
    assert methods.SmoothGrad(base="guided_backprop").display == "signed_rgb"
    method = methods.SmoothGrad(base="guided_backprop", noise_level=0.15, samples=25)
    assert methods.get_method(method) is method
    torch.manual_seed(0)
    model = SeparateReLUNet().eval()
    x = torch.randn(1, 3, 8, 8)
    assert torch.equal(attribute(model, x, methods.InputXGradient(), 2),
                       attribute(model, x, "input_x_gradient", 2))


@pytest.mark.parametrize(("make", "error", "match"), [
    (lambda: methods.SmoothGrad(base="gradcam"), ValueError, "base must be one of"),
    (lambda: methods.SmoothGrad(noise_level=-0.1), ValueError, "noise_level"),
    (lambda: methods.SmoothGrad(noise_level=math.inf), ValueError, "noise_level"),
    (lambda: methods.SmoothGrad(samples=0), ValueError, "samples must be a positive int"),
    (lambda: methods.SmoothGrad(samples=2.5), ValueError, "samples"),  # type: ignore[arg-type]
    (lambda: methods.SmoothGrad(batch_size=0), ValueError, "batch_size"),
    (lambda: methods.IntegratedGradients(steps=1, method="riemann_trapezoid"), ValueError,
     "steps must be an int ≥ 2"),
    (lambda: methods.IntegratedGradients(method="simpson"), ValueError, "method must be one of"),
    (lambda: methods.IntegratedGradients(baseline="white"), ValueError, "baseline must be one"),
    (lambda: methods.IntegratedGradients(baseline=torch.zeros(3, dtype=torch.long)), ValueError,
     "finite floats"),
    (lambda: methods.IntegratedGradients(blur_sigma=0), ValueError, "blur_sigma"),
    (lambda: methods.GradCAM(layer=3), TypeError, "layer must be a module name"),  # type: ignore[arg-type]
])
def test_bad_settings_are_named(make: Callable[[], object], error: type[Exception],
                                match: str) -> None:
    with pytest.raises(error, match=match):
        make()


def test_bad_calls_are_named() -> None:
    model = SeparateReLUNet().eval()
    x = torch.randn(1, 3, 8, 8)
    with pytest.raises(ValueError, match="GradCAM layer must be a name"):
        attribute(model, x, methods.GradCAM(layer="nope"), 1)
    with pytest.raises(TypeError, match="or a method object"):
        attribute(model, x, 42, 1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="seed must be an int"):
        attribute(model, x, "smoothgrad", 1, seed="7")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="maps: expected 2 maps"):
        methods.IntegratedGradients().completeness_error(model, x, torch.zeros(1, 3, 8, 8),
                                                         [0, 1])


def test_new_methods_follow_the_model_guarantees_on_a_gelu_net() -> None:
    """GELU has no GBP rule: guided Grad-CAM and SmoothGrad over GBP warn, the others do not."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.GELU(), nn.Conv2d(4, 4, 3), nn.ReLU(),
                          nn.Flatten(), nn.Linear(64, 3)).eval()
    x = torch.randn(1, 3, 8, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name in ("input_x_gradient", "integrated_gradients", "gradcam", "smoothgrad"):
            attribute(model, x, name, 0)
    with pytest.raises(ValueError, match="strict=True"):
        attribute(model, x, "guided_gradcam", 0, strict=True)
    with pytest.raises(ValueError, match="strict=True"):
        attribute(model, x, methods.SmoothGrad(base="guided_backprop"), 0, strict=True)


@pytest.mark.parametrize("name", METHODS[3:])
def test_statistics_batches_give_each_image_its_own_maps(name: str) -> None:
    """``stats`` stacks a batch into one example for the rule methods; the other methods make
    their copies, baselines and layer maps per image, so they are computed one image a call."""
    torch.manual_seed(0)
    model = SeparateReLUNet(n_classes=6).eval()
    x = torch.randn(3, 3, 8, 8)
    targets = torch.tensor([[1, 2], [0, 3], [4, 5]])
    want = torch.stack([attribute(model, x[n:n + 1], name, targets[n].tolist())
                        for n in range(3)])
    assert torch.equal(target_maps(model, x, name, targets), want)
