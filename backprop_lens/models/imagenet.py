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
from pathlib import Path

import torch
import torchvision

from .classes import imagenet_classes
from .init import LayerInit, build_uninitialized, initialize_all, paper_initializer
from .lens_model import IMAGENET_MEAN, IMAGENET_STD, LensModel
from .paper import PAPER_MEAN, PAPER_STD
from .state_dicts import cached_weight_path, load_weights

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
    load_weights(module, path, "torchvision VGG-16")
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
        load_weights(module, path, "torchvision ResNet-18")
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
