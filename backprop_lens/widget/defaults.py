"""What an Explorer shows when not told: EfficientNet-Lite0 (ImageNet weights, shipped offline)
on the cat photo, or, for the shapes CNNs, their two-shape picture; and how the ``model`` argument
(a ``LensModel``, an ``nn.Module`` or a zoo name) becomes a ``LensModel``."""

from __future__ import annotations

from typing import Any

from torch import nn

from .. import data, models
from ..models import LensModel

DEFAULT_MODEL = "efficientnet_lite0"
#: The photo a model trained on ImageNet (or any model but the shapes CNNs) explains by default:
#: EfficientNet-Lite0 ranks it Egyptian cat, tabby, tiger cat, so that scrubbing the target
#: shows which maps follow the class.
DEFAULT_PHOTO = "cat"
#: The shapes CNNs' default picture: a star and an arrow, which the shapes CNN ranks as its top
#: two classes (p = 0.83 and 0.15).
DEFAULT_SHAPES_SEED = 47


def as_spec(model: LensModel | nn.Module | str | None) -> LensModel:
    """``model`` as a ``LensModel``: the shipped default for None, a zoo model for a name."""
    if model is None:
        return models.load(DEFAULT_MODEL)
    if isinstance(model, str):
        return models.load(model)
    return models.as_lens_model(model)


def default_image(spec: LensModel) -> Any:
    """What ``spec`` explains when no image is given: for the shapes CNNs, a (64, 64, 3) uint8
    two-shape picture of their own data; for every other model, the cat photo (a PIL image)."""
    if spec.name.startswith("shapes_cnn"):
        return data.shapes.generate(1, seed=DEFAULT_SHAPES_SEED, objects=2).images[0]
    return data.sample_image(DEFAULT_PHOTO)


#: The methods an Explorer compares when not told: the paper's three (``backprop_lens.METHODS``
#: lists every method the engine offers; ``methods=`` picks others).
DEFAULT_METHODS = ("saliency", "deconvnet", "guided_backprop")
