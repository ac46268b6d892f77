"""The model zoo: every network ``models.load(name)`` knows, by name.

Each entry builds a :class:`LensModel`. EfficientNet-Lite0 (trained on ImageNet), the shapes
models and the paper's random networks work offline out of the box; ``vgg16`` and
``resnet18`` need torchvision's ImageNet weight file on disk (see ``models.vgg16``) and are
listed by :func:`available` only when it is there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .efficientnet import efficientnet_lite0
from .imagenet import _RESNET18_WEIGHTS, _VGG16_WEIGHTS, resnet18, vgg16
from .lens_model import LensModel
from .paper import paper_cnn, paper_fcn
from .shapes_nets import load_shapes_model
from .state_dicts import cached_weight_path


@dataclass(frozen=True)
class ZooEntry:
    build: Callable[..., LensModel]
    summary: str
    takes_options: bool = True
    needs_file: str | None = None  # a weight URL whose cached file must exist


def _shapes(name: str) -> Callable[..., LensModel]:
    return lambda: load_shapes_model(name)


ZOO: dict[str, ZooEntry] = {
    "efficientnet_lite0": ZooEntry(efficientnet_lite0,
                                   "EfficientNet-Lite0, ImageNet weights (ships as a dependency)",
                                   False),
    "shapes_cnn": ZooEntry(_shapes("shapes_cnn"),
                           "trained on data.shapes; conv-ReLU-max-pool ×3, fc", False),
    "shapes_cnn_strided": ZooEntry(_shapes("shapes_cnn_strided"),
                                   "trained on data.shapes; strided conv-ReLU ×3, fc", False),
    "paper_cnn": ZooEntry(paper_cnn, "the paper's random CNN: conv 7×7, ReLU, fc"),
    "paper_cnn_maxpool": ZooEntry(lambda **kw: paper_cnn(max_pool=True, **kw),
                                  "the paper's random CNN with max-pool 9×9"),
    "paper_cnn_deep": ZooEntry(lambda **kw: paper_cnn(**{"depth": 3, **kw}),
                               "the paper's random CNN, 3 conv-ReLU layers"),
    "paper_fcn": ZooEntry(paper_fcn, "the paper's random fully connected network"),
    "vgg16_random": ZooEntry(lambda **kw: vgg16(weights="random", **kw),
                             "VGG-16 with the paper's random weights"),
    "resnet18_random": ZooEntry(lambda **kw: resnet18(weights="random", **kw),
                                "ResNet-18 with torchvision's random initialisation"),
    "vgg16": ZooEntry(lambda: vgg16(weights="imagenet"), "VGG-16, ImageNet weights (local file)",
                      False, _VGG16_WEIGHTS.url),
    "resnet18": ZooEntry(lambda: resnet18(weights="imagenet"),
                         "ResNet-18, ImageNet weights (local file)", False,
                         _RESNET18_WEIGHTS.url),
}


def available(include_missing: bool = False) -> list[str]:
    """The names :func:`load` accepts and can load here (all of them with ``include_missing``:
    ``vgg16`` and ``resnet18`` need torchvision's weight file in torch's cache folder)."""
    return [name for name, entry in ZOO.items()
            if include_missing or entry.needs_file is None
            or cached_weight_path(entry.needs_file).is_file()]


def load(name: str, **options: Any) -> LensModel:
    """The zoo's model ``name`` (see :func:`available`) as a :class:`LensModel`.

    ``options`` go to the builder of the paper's networks, e.g.
    ``load("paper_cnn", input_size=64, seed=1)``; the trained models take none.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, one of {available(True)}; got "
                        f"{type(name).__name__}")
    entry = ZOO.get(name)
    if entry is None:
        raise ValueError(f"name must be one of {available(True)}; got {name!r}")
    if options and not entry.takes_options:
        raise TypeError(f"model {name!r} takes no options; got {sorted(options)}")
    return entry.build(**options)
