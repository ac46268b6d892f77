"""LensModel, the zoo, plain modules, and torchvision weights from local files."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file
from torch import nn

from backprop_lens import attribute, data, models
from backprop_lens.models.imagenet import cached_weight_path

pytestmark = pytest.mark.usefixtures("no_network")


def _small_cnn() -> nn.Sequential:
    return nn.Sequential(OrderedDict(
        conv=nn.Conv2d(3, 4, 3, padding=1),
        bn=nn.BatchNorm2d(4),
        relu=nn.ReLU(),
        pool=nn.MaxPool2d(2),
        drop=nn.Dropout(0.5),
        flatten=nn.Flatten(),
        fc=nn.Linear(4 * 16 * 16, 5),
    ))


# --- LensModel: preprocessing ------------------------------------------------------------


@pytest.fixture
def spec() -> models.LensModel:
    return models.as_lens_model(_small_cnn(), input_size=32)


def test_preprocess_accepts_every_documented_input(spec: models.LensModel, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
    path = tmp_path / "img.png"
    Image.fromarray(pixels).save(path)
    reference = spec.preprocess(pixels)
    assert reference.shape == (1, 3, 32, 32) and reference.dtype == torch.float32
    same = [
        spec.preprocess(Image.fromarray(pixels)),
        spec.preprocess(str(path)),
        spec.preprocess(path),
        spec.preprocess(pixels.astype(np.float64) / 255.0),
        spec.preprocess(torch.from_numpy(pixels).permute(2, 0, 1)),
        spec.preprocess(torch.from_numpy(pixels).permute(2, 0, 1)[None].float() / 255.0),
    ]
    for x in same:
        assert torch.allclose(x, reference, atol=1e-5)
    grey = spec.preprocess(pixels[:, :, 0])
    assert torch.allclose(grey[0, 0] * 0.229 + 0.485, grey[0, 1] * 0.224 + 0.456, atol=1e-5)


def test_preprocess_resizes_and_crops_to_the_input_size(spec: models.LensModel) -> None:
    x = spec.preprocess(data.sample_image("cat"))
    assert x.shape == (1, 3, 32, 32)
    wide = spec.preprocess(np.zeros((10, 50, 3), dtype=np.uint8))
    assert wide.shape == (1, 3, 32, 32)


def test_preprocess_normalises_with_imagenet_statistics_by_default(
    spec: models.LensModel,
) -> None:
    x = spec.preprocess(np.full((32, 32, 3), 255, dtype=np.uint8))
    expected = (1.0 - torch.tensor(models.IMAGENET_MEAN)) / torch.tensor(models.IMAGENET_STD)
    assert torch.allclose(x[0, :, 5, 5], expected)
    low, high = spec.input_bounds
    assert low.shape == (1, 3, 1, 1) and torch.allclose(high.flatten(), expected)


def test_deprocess_inverts_preprocess(spec: models.LensModel) -> None:
    pixels = np.random.default_rng(1).integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
    x = spec.preprocess(pixels)
    assert np.array_equal(spec.deprocess(x), pixels)
    assert np.array_equal(spec.deprocess(x[0]), pixels)
    batch = spec.deprocess(torch.cat([x, x]))
    assert batch.shape == (2, 32, 32, 3) and batch.dtype == np.uint8
    assert spec.deprocess(x + 100.0).max() == 255  # clipped, not wrapped


@pytest.mark.parametrize(
    ("bad", "error"),
    [("cat.png", FileNotFoundError), (np.zeros((4, 4, 2)), ValueError), (3.0, TypeError)],
)
def test_preprocess_rejects_bad_input(spec: models.LensModel, bad: object,
                                      error: type[Exception]) -> None:
    with pytest.raises(error):
        spec.preprocess(bad)  # type: ignore[arg-type]


def test_deprocess_rejects_bad_input(spec: models.LensModel) -> None:
    with pytest.raises(TypeError):
        spec.deprocess(np.zeros((3, 4, 4)))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="shaped"):
        spec.deprocess(torch.zeros(1, 2, 4, 4))


def test_preprocess_follows_the_modules_dtype() -> None:
    spec = models.as_lens_model(_small_cnn().double(), input_size=32)
    assert spec.preprocess(np.zeros((32, 32, 3), dtype=np.uint8)).dtype == torch.float64


def test_grey_models_get_one_luma_channel() -> None:
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(2 * 26 * 26, 3))
    spec = models.as_lens_model(net)
    assert spec.channels == 1 and spec.input_size == (28, 28)
    x = spec.preprocess(np.full((28, 28, 3), (255, 0, 0), dtype=np.uint8))
    assert x.shape == (1, 1, 28, 28)
    assert torch.allclose(x[0, 0, 0, 0], torch.tensor((0.299 - 0.5) / 0.5), atol=1e-4)
    assert spec.deprocess(x).shape == (28, 28, 3)


# --- LensModel: layers -----------------------------------------------------------------------


def test_layers_are_leaves_in_forward_order_with_output_shapes(spec: models.LensModel) -> None:
    assert spec.layers == [
        ("conv", (4, 32, 32)), ("bn", (4, 32, 32)), ("relu", (4, 32, 32)),
        ("pool", (4, 16, 16)), ("fc", (5,)),
    ]
    assert spec.parameter_layers == ["conv", "bn", "fc"]


def test_layers_follow_forward_order_not_definition_order() -> None:
    class Backwards(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(8 * 4 * 4, 2)
            self.conv = nn.Conv2d(3, 8, 3, padding=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(torch.relu(self.conv(x)).flatten(1))

    spec = models.as_lens_model(Backwards(), input_size=4)
    assert [n for n, _ in spec.layers] == ["conv", "fc"]


def test_computing_layers_leaves_no_hook_and_restores_training_flags() -> None:
    net = _small_cnn()
    net.train()
    net.bn.eval()  # a mixed state must come back as it was
    before = {k: v.clone() for k, v in net.state_dict().items()}
    spec = models.as_lens_model(net, input_size=32)
    assert spec.layers
    assert net.training and not net.bn.training and net.conv.training
    for module in net.modules():
        assert not module._forward_hooks and not module._forward_pre_hooks
    after = net.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # BN statistics untouched


def test_as_lens_model_infers_what_it_can() -> None:
    fcn = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 6))
    spec = models.as_lens_model(fcn)
    assert spec.input_size == (8, 8) and spec.classes == [str(i) for i in range(6)]
    named = models.as_lens_model(fcn, classes=list("abcdef"))
    assert named.classes == list("abcdef")
    assert models.as_lens_model(spec) is spec
    adaptive = nn.Sequential(nn.Conv2d(3, 2, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                             nn.Linear(2, 1000))
    wrapped = models.as_lens_model(adaptive)
    assert wrapped.input_size == (224, 224)
    assert wrapped.classes[281] == "tabby"


def test_as_lens_model_rejects_bad_input() -> None:
    with pytest.raises(TypeError, match=r"nn\.Module"):
        models.as_lens_model("resnet")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="classes"):
        models.as_lens_model(nn.Sequential(nn.Flatten(), nn.Linear(12, 3)), classes=["a"])
    with pytest.raises(ValueError, match="input_size"):
        models.as_lens_model(nn.Sequential(nn.Flatten(), nn.Linear(7, 3)))


def test_lens_model_validates_its_fields() -> None:
    with pytest.raises(TypeError, match="module"):
        models.LensModel("net", ["a"], 8)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="mean and std"):
        models.LensModel(nn.Identity(), ["a"], 8, mean=(0.5, 0.5), std=(1.0, 1.0))
    with pytest.raises(ValueError, match="std must be positive"):
        models.LensModel(nn.Identity(), ["a"], 8, std=(0.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="scale"):
        models.LensModel(nn.Identity(), ["a"], 8, scale=2.0)


# --- the zoo ---------------------------------------------------------------------------------


def test_available_lists_what_loads_offline() -> None:
    names = models.available()
    for name in ("shapes_cnn", "shapes_cnn_strided", "paper_cnn", "paper_fcn", "vgg16_random"):
        assert name in names
    assert set(names) <= set(models.available(include_missing=True))
    assert {"vgg16", "resnet18"} <= set(models.available(include_missing=True))


def test_load_passes_options_to_the_papers_networks() -> None:
    spec = models.load("paper_cnn", n_filters=4, input_size=16, seed=2)
    assert isinstance(spec, models.LensModel)
    assert spec.module.conv.out_channels == 4
    pooled = models.load("paper_cnn_maxpool", n_filters=4, input_size=16)
    assert "pool" in dict(pooled.module.named_children())
    assert models.load("paper_fcn", hidden=10, input_size=8).module.fc1.out_features == 10


def test_load_rejects_unknown_names_and_options() -> None:
    with pytest.raises(ValueError, match="one of"):
        models.load("alexnet")
    with pytest.raises(TypeError):
        models.load(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="takes no options"):
        models.load("shapes_cnn", seed=1)


def test_the_engine_accepts_a_lens_model_directly() -> None:
    spec = models.paper_cnn(n_filters=4, input_size=16)
    x = spec.preprocess(data.sample_image("dog"))
    maps = attribute(spec, x, "guided_backprop", target=[0, 1])
    assert maps.shape == (2, 3, 16, 16)


# --- torchvision weights from files ----------------------------------------------------------


def test_missing_weight_file_error_names_the_path_and_where_to_put_it(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "vgg16.pth"
    with pytest.raises(FileNotFoundError) as caught:
        models.vgg16(weights=path)
    message = str(caught.value)
    assert str(path) in message
    assert "vgg16-397923af.pth" in message
    assert str(cached_weight_path("https://x/vgg16-397923af.pth").parent) in message
    assert "never downloads" in message


def test_imagenet_weights_come_from_torchs_cache_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        models.resnet18(weights="imagenet")
    assert "resnet18" not in models.available()
    source = models.resnet18(seed=5)
    target = tmp_path / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    target.parent.mkdir(parents=True)
    torch.save(source.module.state_dict(), target)
    assert "resnet18" in models.available()
    loaded = models.load("resnet18")
    assert torch.equal(loaded.module.conv1.weight, source.module.conv1.weight)


def test_a_real_state_dict_file_loads(tmp_path: Path) -> None:
    source = models.resnet18(seed=3)
    state = source.module.state_dict()
    pth, st = tmp_path / "r18.pth", tmp_path / "r18.safetensors"
    torch.save(state, pth)
    save_file({k: v.contiguous() for k, v in state.items()}, str(st))
    for path in (pth, str(st)):
        loaded = models.resnet18(weights=path)
        for key, value in loaded.module.state_dict().items():
            assert torch.equal(value, state[key]), key
        assert loaded.mean == models.IMAGENET_MEAN and loaded.scale == 1.0
        assert loaded.classes[243] == "bull mastiff"
    wrapped = tmp_path / "wrapped.pth"
    torch.save({"state_dict": state, "epoch": 3}, wrapped)
    assert torch.equal(models.resnet18(weights=wrapped).module.fc.weight, state["fc.weight"])


def test_wrong_or_unsafe_weight_files_raise_clear_errors(tmp_path: Path) -> None:
    small = tmp_path / "small.pth"
    torch.save(_small_cnn().state_dict(), small)
    with pytest.raises(ValueError, match="not a torchvision VGG-16 state dict"):
        models.vgg16(weights=small)
    pickled = tmp_path / "object.pth"
    torch.save({"model": _small_cnn()}, pickled)  # a whole pickled module: refused
    with pytest.raises(ValueError, match="weights_only"):
        models.resnet18(weights=pickled)
    with pytest.raises(TypeError, match="weights must be"):
        models.vgg16(weights=3)  # type: ignore[arg-type]


@pytest.mark.slow
def test_vgg16_state_dict_round_trip(tmp_path: Path) -> None:
    source = models.vgg16(weights="random", seed=1)
    path = tmp_path / "vgg16.safetensors"
    save_file({k: v.contiguous() for k, v in source.module.state_dict().items()}, str(path))
    loaded = models.vgg16(weights=path)
    assert torch.equal(loaded.module.classifier[6].weight, source.module.classifier[6].weight)
    assert loaded.mean == models.IMAGENET_MEAN and loaded.name == "vgg16"
    assert [n for n, _ in loaded.layers][:3] == ["features.0", "features.1", "features.2"]


def test_every_zoo_model_comes_in_eval_mode() -> None:
    """Ready to explain: calling ``spec.module`` directly gives the maps' logits (no dropout)."""
    for name in models.available():
        options = {"input_size": 32} if name.startswith("paper") else {}
        spec = models.load(name, **options)
        assert not any(m.training for m in spec.module.modules()), name
