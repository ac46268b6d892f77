"""What an Explorer shows when not told: the shipped shapes CNN on a two-shape picture, and how
the ``model`` argument (a ``LensModel``, an ``nn.Module`` or a zoo name) becomes a ``LensModel``."""

from __future__ import annotations

from typing import Any

from torch import nn

from .. import data, models
from ..models import LensModel

DEFAULT_MODEL = "shapes_cnn"
#: The default picture: a star and an arrow, which the shapes CNN ranks as its top two classes
#: (p = 0.83 and 0.15), so that scrubbing the target shows which maps follow the class.
DEFAULT_IMAGE_SEED = 47


def as_spec(model: LensModel | nn.Module | str | None) -> LensModel:
    """``model`` as a ``LensModel``: the shipped default for None, a zoo model for a name."""
    if model is None:
        return models.load(DEFAULT_MODEL)
    if isinstance(model, str):
        return models.load(model)
    return models.as_lens_model(model)


def default_image() -> Any:
    """(64, 64, 3) uint8: the two-shape picture the default model explains."""
    return data.shapes.generate(1, seed=DEFAULT_IMAGE_SEED, objects=2).images[0]
