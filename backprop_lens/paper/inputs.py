"""What the experiments feed the networks, and how much of it: the full run or a quick one.

The photos are the package's sample photos (the cat first); every experiment reports the mean
over them. The shapes images come from fixed seeds below 1000, which the shipped models never
saw in training (``models.train_shapes`` trains on seeds from 1000 up, tests on 2018).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .. import data
from ..data.images import ImageLike
from ..engine import attribute
from ..models import LensModel
from ..render import convention_for, to_pixels

#: The three methods of the paper, in its order.
PAPER_METHODS = ("saliency", "deconvnet", "guided_backprop")
LABELS = {"saliency": "saliency", "deconvnet": "DeconvNet", "guided_backprop": "GBP"}
#: The rows of the figures: the input, then one per method.
ROWS = ["input", *LABELS.values()]

CLASS_SENSITIVITY_SEED = 1
ADVERSARIAL_SEED = 2
RANDOMISATION_SEED = 3


@dataclass(frozen=True)
class Budget:
    """How much work each experiment does.

    ``input_size``: the side of the paper networks' input (224 in the paper); ``photos``: how
    many sample photos (``None``: all); the rest count shapes images.
    """

    name: str
    input_size: int
    photos: int | None
    class_images: int
    flipped_images: int
    randomisation_images: int


FULL = Budget("full", input_size=224, photos=None, class_images=100, flipped_images=100,
              randomisation_images=50)
QUICK = Budget("quick", input_size=64, photos=2, class_images=12, flipped_images=12,
               randomisation_images=8)


def budget(quick: bool) -> Budget:
    if not isinstance(quick, bool):
        raise TypeError(f"quick must be a bool; got {type(quick).__name__}")
    return QUICK if quick else FULL


def photos(chosen: Budget) -> dict[str, ImageLike]:
    """The sample photos by name, cat first; every one of them in a full run."""
    return {name: data.sample_image(name) for name in data.sample_images()[:chosen.photos]}


def as_inputs(spec: LensModel, images: Sequence[ImageLike]) -> torch.Tensor:
    """Pictures as one (N, C, H, W) batch of ``spec``'s inputs."""
    if len(images) == 0:
        raise ValueError("images must hold at least one picture")
    return torch.cat([spec.preprocess(image) for image in images])


def maps_by_method(
    spec: LensModel, x: torch.Tensor, target: object = "max",
    methods: Sequence[str] = PAPER_METHODS,
) -> dict[str, torch.Tensor]:
    """Each method's maps of the batch ``x``, one engine call per method."""
    return {method: attribute(spec, x, method, target) for method in methods}


def map_picture(values: torch.Tensor, method: str) -> np.ndarray:
    """A map as the widget shows it (``render``'s convention for the method)."""
    return to_pixels(values, convention_for(method))[0]
