"""Input × gradient: the saliency map multiplied by the input, element by element.

The product is taken in the model's input space, i.e. with ``x`` as preprocessed (normalised
values, not 0–255 pixels): where the preprocessed input is 0 (the mean colour, for ImageNet
normalisation) the map is 0. Shrikumar et al. 2016 call it gradient × input; Captum
``InputXGradient`` computes the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from .attribute import attribute
from .method_base import SIGNED_CHANNEL, MethodObject, Request


@dataclass(frozen=True)
class InputXGradient(MethodObject):
    """``x · ∂score/∂x`` (signed; shown summed over channels, diverging colour map)."""

    name: ClassVar[str] = "input_x_gradient"
    description: ClassVar[str] = "input × gradient, in the model's input space"

    @property
    def display(self) -> str:
        return SIGNED_CHANNEL

    def compute(self, request: Request) -> torch.Tensor:
        grads = attribute(request.module, request.x, "saliency", request.target, request.layer,
                          request.seed, request.label, output=request.output,
                          strict=request.strict)
        return grads * request.x  # (K, C, H, W) × (1, C, H, W) for K targets of one image
