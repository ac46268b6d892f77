"""torchvision_model: any torchvision classifier, with named weights, a file, or random ones.

Nothing is downloaded: named weights are placed in a temporary torch cache folder, and the
tests without them check that the error comes fast, also when the network swallows packets.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import torchvision
from safetensors.torch import save_file

from backprop_lens import models

SMALL = "mobilenet_v3_small"  # 2.5 M parameters: quick to build
SMALL_WEIGHTS = torchvision.models.MobileNet_V3_Small_Weights.IMAGENET1K_V1


@pytest.fixture
def torch_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty torch cache folder (``$TORCH_HOME``)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "torch"


@pytest.fixture
def black_hole(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A network that never answers: every connection attempt waits (up to a minute)."""
    released = threading.Event()

    def wait(*args: object, **kwargs: object) -> None:
        released.wait(60)
        raise OSError("black hole")

    monkeypatch.setattr(socket, "create_connection", wait)
    monkeypatch.setattr(socket.socket, "connect", wait)
    yield
    released.set()


def _cache(torch_home: Path, url: str, state: dict[str, torch.Tensor]) -> Path:
    path = torch_home / "hub" / "checkpoints" / Path(url).name
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return path


@pytest.mark.usefixtures("no_network")
def test_uncached_named_weights_offline_fail_fast_naming_file_place_and_url(
    torch_home: Path,
) -> None:
    start = time.monotonic()
    with pytest.raises(FileNotFoundError) as caught:
        models.torchvision_model("resnet18", weights="DEFAULT")
    assert time.monotonic() - start < 5
    message = str(caught.value)
    assert "ResNet18_Weights.IMAGENET1K_V1" in message
    assert "https://download.pytorch.org/models/resnet18-f37072fd.pth" in message
    assert str(torch_home / "hub" / "checkpoints" / "resnet18-f37072fd.pth") in message


@pytest.mark.usefixtures("black_hole")
def test_a_network_that_never_answers_does_not_hang(torch_home: Path) -> None:
    start = time.monotonic()
    with pytest.raises(FileNotFoundError, match=r"no answer from the server within 0\.5 s"):
        models.torchvision_model(SMALL, weights="IMAGENET1K_V1", connect_timeout=0.5)
    assert time.monotonic() - start < 3
    assert not (torch_home / "hub" / "checkpoints").exists() or not any(
        (torch_home / "hub" / "checkpoints").iterdir())


@pytest.mark.usefixtures("no_network")
def test_cached_named_weights_load_through_torchvisions_api(torch_home: Path) -> None:
    source = models.torchvision_model(SMALL, weights="random", seed=4).module.state_dict()
    _cache(torch_home, SMALL_WEIGHTS.url, source)
    for weights in ("DEFAULT", "IMAGENET1K_V1", SMALL_WEIGHTS):
        spec = models.torchvision_model(SMALL, weights=weights)
        for key, value in spec.module.state_dict().items():
            assert torch.equal(value, source[key]), (weights, key)
        assert spec.name == SMALL and "MobileNet_V3_Small_Weights.IMAGENET1K_V1" in spec.description
        assert spec.classes[285] == "Egyptian cat" and spec.input_size == (224, 224)
        assert spec.mean == models.IMAGENET_MEAN and spec.std == models.IMAGENET_STD
        assert not spec.module.training


@pytest.mark.usefixtures("no_network")
def test_a_local_file_loads_as_torch_or_safetensors(tmp_path: Path) -> None:
    source = models.torchvision_model(SMALL, weights="random", seed=2).module.state_dict()
    pth, st = tmp_path / "small.pth", tmp_path / "small.safetensors"
    torch.save(source, pth)
    save_file({k: v.contiguous() for k, v in source.items()}, str(st))
    for weights in (pth, str(pth), st):
        spec = models.torchvision_model(SMALL, weights=weights)
        key = "classifier.3.weight"
        assert torch.equal(spec.module.state_dict()[key], source[key])
        assert str(pth.parent) in spec.description and spec.name == SMALL
    ten = models.torchvision_model(SMALL, weights="random", num_classes=10)
    torch.save(ten.module.state_dict(), pth)
    spec = models.torchvision_model(SMALL, weights=pth, num_classes=10)
    assert spec.classes == [str(i) for i in range(10)]
    with pytest.raises(ValueError, match=r"not a torchvision mobilenet_v3_small state dict"):
        models.torchvision_model(SMALL, weights=_cache(tmp_path, "x/resnet.pth",
                                                       {"fc.weight": torch.zeros(2, 2)}))
    with pytest.raises(FileNotFoundError, match="nowhere"):
        models.torchvision_model(SMALL, weights=tmp_path / "nowhere.pth")


def test_random_weights_are_seeded_and_leave_the_global_random_state() -> None:
    state = torch.random.get_rng_state()
    a = models.torchvision_model(SMALL, weights="random", seed=1)
    assert torch.equal(torch.random.get_rng_state(), state)
    b = models.torchvision_model(SMALL, weights="random", seed=1)
    c = models.torchvision_model(SMALL, weights="random", seed=2)
    first = [spec.module.state_dict()["features.0.0.weight"] for spec in (a, b, c)]
    assert torch.equal(first[0], first[1]) and not torch.equal(first[0], first[2])
    assert a.name == f"{SMALL}_random"


def test_preprocessing_comes_from_the_weights_metadata() -> None:
    # efficientnet_b1's default weights (V2) are evaluated at 240 × 240.
    spec = models.torchvision_model("efficientnet_b1", weights="random")
    assert spec.input_size == (240, 240)
    assert len(spec.classes) == 1000


def test_bad_arguments_raise_clear_errors() -> None:
    with pytest.raises(ValueError, match="did you mean 'resnet18'"):
        models.torchvision_model("resnet81")
    with pytest.raises(TypeError, match="name must be a str"):
        models.torchvision_model(18)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"weights must be one of \['DEFAULT', 'IMAGENET1K_V1'"):
        models.torchvision_model(SMALL, weights="IMAGENET1K_V9")
    with pytest.raises(ValueError, match="are not weights of 'mobilenet_v3_small'"):
        models.torchvision_model(SMALL, weights=torchvision.models.ResNet18_Weights.DEFAULT)
    with pytest.raises(TypeError, match="weights must be a torchvision weights name"):
        models.torchvision_model(SMALL, weights=3)
    with pytest.raises(TypeError, match="seed must be an int"):
        models.torchvision_model(SMALL, weights="random", seed=1.5)  # type: ignore[arg-type]
    assert SMALL in models.classification_models()
    assert "fasterrcnn_resnet50_fpn" not in models.classification_models()
