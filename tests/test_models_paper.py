"""The paper's networks: structure, initialisation, determinism, and its image recovery."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from backprop_lens import attribute, data, models
from backprop_lens.models.paper import PAPER_MEAN

pytestmark = pytest.mark.usefixtures("no_network")


def _params(spec: models.LensModel) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in spec.module.state_dict().items()}


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize(
    "build",
    [
        lambda seed: models.paper_cnn(n_filters=8, input_size=32, seed=seed),
        lambda seed: models.paper_cnn(n_filters=4, max_pool=True, input_size=16, seed=seed,
                                      depth=3),
        lambda seed: models.paper_fcn(hidden=50, input_size=16, seed=seed),
    ],
    ids=["cnn", "deep-cnn", "fcn"],
)
def test_same_seed_gives_bit_identical_weights_and_another_seed_others(build: object) -> None:
    assert callable(build)
    first, again, other = _params(build(3)), _params(build(3)), _params(build(4))
    assert _same(first, again)
    weights = [k for k in first if k.endswith("weight")]
    assert all(not torch.equal(first[k], other[k]) for k in weights)


def test_building_leaves_the_global_random_state_alone() -> None:
    torch.manual_seed(1234)
    expected = torch.rand(3)
    torch.manual_seed(1234)
    models.paper_cnn(n_filters=4, input_size=16, seed=9)
    models.paper_fcn(hidden=10, input_size=8)
    models.resnet18(seed=2)
    assert torch.equal(torch.rand(3), expected)


def test_paper_cnn_is_built_as_the_authors_code_builds_it() -> None:
    spec = models.paper_cnn(n_filters=16, max_pool=True, n_classes=7, input_size=40, seed=0)
    module = spec.module
    assert [name for name, _ in module.named_children()] == [
        "conv", "relu", "pool", "flatten", "fc"]
    conv, pool, fc = module.conv, module.pool, module.fc
    assert isinstance(conv, nn.Conv2d) and conv.kernel_size == (7, 7)
    assert conv.stride == (1, 1) and conv.padding == (3, 3) and conv.out_channels == 16
    assert isinstance(pool, nn.MaxPool2d) and (pool.kernel_size, pool.stride, pool.padding) == (
        9, 1, 4)
    assert isinstance(fc, nn.Linear) and (fc.in_features, fc.out_features) == (16 * 40 * 40, 7)
    assert spec.layers == [("conv", (16, 40, 40)), ("relu", (16, 40, 40)),
                           ("pool", (16, 40, 40)), ("fc", (7,))]
    assert spec.input_size == (40, 40) and len(spec.classes) == 7
    # Truncated normal, σ 0.1, cut at ±2σ; biases 0.
    for layer in (conv, fc):
        weight = layer.weight.detach()
        assert weight.abs().max() <= 0.2
        assert weight.std().item() == pytest.approx(0.1 * 0.8796, rel=0.05)  # truncated σ
        assert torch.count_nonzero(layer.bias) == 0


def test_paper_cnn_defaults_match_the_contract() -> None:
    spec = models.paper_cnn()
    assert spec.input_size == (224, 224)
    assert spec.module.conv.out_channels == 64
    assert "pool" not in dict(spec.module.named_children())
    assert spec.module.fc.out_features == 10


def test_depth_variant_stacks_conv_relu_blocks() -> None:
    spec = models.paper_cnn(n_filters=4, input_size=16, depth=3, max_pool=True)
    names = [name for name, _ in spec.module.named_children()]
    assert names == ["conv1", "relu1", "pool1", "conv2", "relu2", "pool2", "conv3", "relu3",
                     "pool3", "flatten", "fc"]
    assert spec.module.conv2.in_channels == 4
    assert models.load("paper_cnn_deep", n_filters=4, input_size=16).module.conv3 is not None


def test_paper_fcn_is_built_as_the_authors_code_builds_it() -> None:
    spec = models.paper_fcn(hidden=300, n_classes=5, input_size=12)
    fc1, fc2 = spec.module.fc1, spec.module.fc2
    assert (fc1.in_features, fc1.out_features, fc2.out_features) == (3 * 12 * 12, 300, 5)
    assert torch.all(fc1.bias == 1.0) and torch.all(fc2.bias == 0.0)
    assert fc1.weight.abs().max() <= 0.2
    assert fc2.weight.abs().max() <= 20.0 and fc2.weight.abs().max() > 10.0  # σ 10
    assert [n for n, _ in spec.layers] == ["fc1", "relu", "fc2"]
    default = models.paper_fcn()
    assert default.module.fc1.out_features == 5000 and default.input_size == (64, 64)


def test_paper_preprocessing_is_pixels_minus_the_mean() -> None:
    spec = models.paper_cnn(n_filters=2, input_size=4)
    white = spec.preprocess(np.full((4, 4, 3), 255, dtype=np.uint8))
    black = spec.preprocess(np.zeros((4, 4, 3), dtype=np.uint8))
    assert torch.allclose(white[0, :, 0, 0], 255.0 - torch.tensor(PAPER_MEAN))
    assert torch.allclose(black[0, :, 0, 0], -torch.tensor(PAPER_MEAN))
    low, high = spec.input_bounds
    assert torch.allclose(low.flatten(), black[0, :, 0, 0])
    assert torch.allclose(high.flatten(), white[0, :, 0, 0])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: models.paper_cnn(n_filters=0), "n_filters"),
        (lambda: models.paper_cnn(n_classes=1.5), "n_classes"),  # type: ignore[arg-type]
        (lambda: models.paper_cnn(depth=0), "depth"),
        (lambda: models.paper_cnn(max_pool="yes"), "max_pool"),  # type: ignore[arg-type]
        (lambda: models.paper_cnn(input_size=0), "size"),
        (lambda: models.paper_cnn(seed="a"), "seed"),  # type: ignore[arg-type]
        (lambda: models.paper_fcn(hidden=-1), "hidden"),
    ],
)
def test_bad_arguments_raise_clear_errors(call: object, message: str) -> None:
    assert callable(call)
    with pytest.raises((TypeError, ValueError), match=message):
        call()


def _pearson(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(np.corrcoef(a.flatten().numpy(), b.flatten().numpy())[0, 1])


def test_guided_backprop_recovers_the_cat_image() -> None:
    """The paper's finding: GBP on a random CNN reproduces the (mean-subtracted) input."""
    spec = models.paper_cnn(input_size=64)
    x = spec.preprocess(data.sample_image("cat"))
    gbp = attribute(spec, x, "guided_backprop", target=0)
    saliency = attribute(spec, x, "saliency", target=0)
    assert _pearson(gbp, x) > 0.6
    assert abs(_pearson(saliency, x)) < 0.2


@pytest.mark.slow
def test_guided_backprop_recovers_the_cat_image_at_the_papers_size() -> None:
    spec = models.paper_cnn()  # 224×224, 64 filters
    x = spec.preprocess(data.sample_image("cat"))
    assert _pearson(attribute(spec, x, "guided_backprop", target=0), x) > 0.6


@pytest.mark.slow
def test_vgg16_random_is_drawn_the_papers_way() -> None:
    spec = models.vgg16(weights="random", seed=0)
    module = spec.module
    convs = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
    linears = [m for m in module.modules() if isinstance(m, nn.Linear)]
    assert len(convs) == 13 and len(linears) == 3
    for layer in convs:
        assert torch.count_nonzero(layer.bias) == 0
    for layer in linears:
        assert torch.all(layer.bias == 1.0)
    first = convs[0].weight.detach()
    assert first.abs().max() <= 0.2 and first.std().item() == pytest.approx(0.088, rel=0.1)
    assert linears[0].weight.abs().max() <= 0.2
    assert spec.scale == 255.0 and spec.mean == PAPER_MEAN
    assert len(spec.classes) == 1000 and spec.input_size == (224, 224)
    again = models.vgg16(seed=0).module
    assert torch.equal(again.features[0].weight, module.features[0].weight)
    assert torch.equal(again.classifier[6].weight, module.classifier[6].weight)
