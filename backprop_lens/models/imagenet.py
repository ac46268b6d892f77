"""torchvision's VGG-16 and ResNet-18: random, or with ImageNet weights from a local file.

Nothing is ever downloaded. ``weights`` is:

- ``"random"``: VGG-16 drawn the paper's way (every weight N(0, 0.1²) truncated at ±0.2,
  convolution biases 0, fully connected biases 1.0, as in the authors' ``vgg16.py``), with the
  paper's preprocessing (0–255 minus the pixel mean). ResNet-18 (not in the paper) is drawn by
  torchvision's own initialisation under the given seed, with ImageNet preprocessing.
- ``"imagenet"``: torchvision's ImageNet weights, read from torch's cache folder
  (``torch.hub.get_dir()/checkpoints``), where torchvision itself keeps them once it has
  downloaded them on a machine with internet.
- a path: a state dict saved by torch (``.pth``/``.pt``, read with ``weights_only=True``) or a
  ``.safetensors`` file, with torchvision's parameter names.

The ImageNet class names come from torchvision's weights metadata, which ships in its wheel.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch
import torchvision
from safetensors.torch import load_file
from torch import nn

from .classes import imagenet_classes
from .init import LayerInit, build_uninitialized, initialize_all, paper_initializer
from .lens_model import IMAGENET_MEAN, IMAGENET_STD, LensModel
from .paper import PAPER_MEAN, PAPER_STD

Weights = str | os.PathLike[str]

_VGG16_WEIGHTS = torchvision.models.VGG16_Weights.IMAGENET1K_V1
_RESNET18_WEIGHTS = torchvision.models.ResNet18_Weights.IMAGENET1K_V1

#: The paper's VGG-16 draw: the fully connected layers (torchvision's classifier.0/3/6) have
#: bias 1.0; every other layer bias 0; all weights σ 0.1.
VGG16_PAPER_INIT = paper_initializer({
    "classifier.0": LayerInit(0.1, 1.0),
    "classifier.3": LayerInit(0.1, 1.0),
    "classifier.6": LayerInit(0.1, 1.0),
})


def cached_weight_path(url: str) -> Path:
    """Where torchvision keeps the weight file of ``url`` once downloaded."""
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name


def vgg16(weights: Weights = "random", seed: int = 0) -> LensModel:
    """torchvision's VGG-16, drawn the paper's way (``"random"``) or with ImageNet weights.

    See the module doc for ``weights``. ``seed`` only matters for ``"random"``. Randomising
    layers of either (``models.randomize``) re-draws them the paper's way, as its code does.
    """
    if _is_random(weights):
        module = build_uninitialized(lambda: torchvision.models.vgg16(weights=None)).eval()
        initialize_all(module, VGG16_PAPER_INIT, seed)
        return LensModel(module, imagenet_classes(), (224, 224), PAPER_MEAN, PAPER_STD, 255.0,
                         name="vgg16_random",
                         description=f"VGG-16 with the paper's random weights, seed {seed}",
                         initializer=VGG16_PAPER_INIT)
    path = _weight_file(weights, "VGG-16", _VGG16_WEIGHTS.url, "vgg16")
    module = build_uninitialized(lambda: torchvision.models.vgg16(weights=None)).eval()
    _load_state_dict(module, path, "VGG-16")
    return LensModel(module, imagenet_classes(), (224, 224), IMAGENET_MEAN, IMAGENET_STD, 1.0,
                     name="vgg16", description=f"VGG-16 with ImageNet weights from {path}",
                     initializer=VGG16_PAPER_INIT)


def resnet18(weights: Weights = "random", seed: int = 0) -> LensModel:
    """torchvision's ResNet-18, random (torchvision's initialisation, seeded) or trained."""
    if _is_random(weights):
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"seed must be an int; got {type(seed).__name__}")
        with torch.random.fork_rng(devices=[]):  # the caller's random state is restored
            torch.manual_seed(seed)
            module = torchvision.models.resnet18(weights=None).eval()
        description = f"ResNet-18 with torchvision's random initialisation, seed {seed}"
        name = "resnet18_random"
    else:
        path = _weight_file(weights, "ResNet-18", _RESNET18_WEIGHTS.url, "resnet18")
        module = build_uninitialized(lambda: torchvision.models.resnet18(weights=None)).eval()
        _load_state_dict(module, path, "ResNet-18")
        description, name = f"ResNet-18 with ImageNet weights from {path}", "resnet18"
    return LensModel(module, imagenet_classes(), (224, 224), IMAGENET_MEAN, IMAGENET_STD, 1.0,
                     name=name, description=description)


def _is_random(weights: object) -> bool:
    if isinstance(weights, str) and weights == "random":
        return True
    if not isinstance(weights, str | os.PathLike):
        raise TypeError('weights must be "random", "imagenet", or a path to a state dict file; '
                        f"got {type(weights).__name__}")
    return False


def _weight_file(weights: Weights, what: str, url: str, builder: str) -> Path:
    """The file to read for ``weights``; a clear error, saying where to put it, if missing."""
    filename = Path(url).name
    path = cached_weight_path(url) if weights == "imagenet" else Path(weights)
    if path.is_file():
        return path
    raise FileNotFoundError(
        f"{what} weight file not found: {str(path)!r}. backprop-lens never downloads weights. "
        f"Get torchvision's file {filename} (from {url}, or from ~/.cache/torch/hub/checkpoints/ "
        f"on a machine where torchvision.models.{builder}(weights='IMAGENET1K_V1') has run) "
        f"and put it at {str(cached_weight_path(url))!r} to use weights='imagenet', or pass "
        f"its path: models.{builder}(weights='/path/to/{filename}')."
    )


def _read_state_dict(path: Path) -> Mapping[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        return load_file(str(path), device="cpu")
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # pickle errors come in many types
        raise ValueError(f"could not read {str(path)!r} as a torch state dict "
                         f"(weights_only=True): {error}") from None
    if isinstance(loaded, Mapping):
        for key in ("state_dict", "model"):
            inner = loaded.get(key)
            if isinstance(inner, Mapping):
                loaded = inner
                break
    if not isinstance(loaded, Mapping) or not all(
        isinstance(v, torch.Tensor) for v in loaded.values()
    ):
        raise ValueError(f"{str(path)!r} does not hold a state dict (a mapping of names to "
                         "tensors)")
    return loaded


def _load_state_dict(module: nn.Module, path: Path, what: str) -> None:
    state = _read_state_dict(path)
    try:
        result = module.load_state_dict(state, strict=False)
    except RuntimeError as error:  # a tensor of the wrong shape
        raise ValueError(f"{str(path)!r} does not fit torchvision's {what}: {error}") from None
    missing, unexpected = result.missing_keys, result.unexpected_keys
    if missing or unexpected:
        raise ValueError(
            f"{str(path)!r} is not a torchvision {what} state dict: missing "
            f"{_first(missing)}, unexpected {_first(unexpected)}"
        )


def _first(keys: list[str], n: int = 4) -> str:
    if not keys:
        return "none"
    more = f" and {len(keys) - n} more" if len(keys) > n else ""
    return ", ".join(keys[:n]) + more

