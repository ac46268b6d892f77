"""The ImageNet-1k class names, read from torchvision's weights metadata (in its wheel).

A module of its own because both the ``LensModel`` defaults (a plain module with 1000 outputs
gets these names) and the ImageNet networks need them; neither imports the other for it.
"""

from __future__ import annotations

from functools import cache

import torchvision


@cache
def _categories() -> tuple[str, ...]:
    return tuple(torchvision.models.VGG16_Weights.IMAGENET1K_V1.meta["categories"])


def imagenet_classes() -> list[str]:
    """The 1000 ImageNet-1k class names, in torchvision's index order (a fresh list)."""
    return list(_categories())
