"""What a configurable method object is: the base of SmoothGrad, Integrated Gradients, Grad-CAM, ….

The three rule methods (saliency, DeconvNet, guided backprop) are :class:`~.methods.Method`
records: one forward pass, one backward pass under a rectifier rule. The others are built from
such passes and are small frozen dataclasses deriving from :class:`MethodObject`: their fields are
the method's settings (``SmoothGrad(base="guided_backprop", noise_level=0.15, samples=25)``),
checked when the object is made, and ``compute`` turns one :class:`Request` (the arguments of
``attribute``) into maps. An instance is accepted wherever a method name is; the name gives the
instance with its defaults.

``display`` tells a view how the maps are meant to be shown; the names follow ``render``'s
conventions where one exists:

- ``"abs_grey"``: |map| summed over channels, grey (saliency);
- ``"signed_rgb"``: each channel signed, centred on grey (DeconvNet, GBP, guided Grad-CAM);
- ``"signed_channel"``: the map summed over channels, one signed channel, a diverging colour map
  (input × gradient, Integrated Gradients);
- ``"heatmap"``: one non-negative channel (``maps[:, 0]``; the others repeat it) over the
  image, a sequential colour map (Grad-CAM).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from .outputs import OutputChoice

ABS_GREY = "abs_grey"
SIGNED_RGB = "signed_rgb"
SIGNED_CHANNEL = "signed_channel"
HEATMAP = "heatmap"
DISPLAYS = (ABS_GREY, SIGNED_RGB, SIGNED_CHANNEL, HEATMAP)


@dataclass(frozen=True)
class Request:
    """The arguments of one ``attribute`` call, checked (see ``attribute`` for each).

    ``model`` is what the caller passed (a ``LensModel`` carries the preprocessing that
    ``IntegratedGradients(baseline="black")`` needs); ``module`` the ``nn.Module`` that runs.
    """

    model: object
    module: nn.Module
    x: torch.Tensor
    target: object
    layer: str | None
    seed: int | None
    label: object
    output: OutputChoice
    strict: bool


class MethodObject(ABC):
    """A method built from forward and backward passes; subclasses are frozen dataclasses."""

    #: The registered name; ``display`` and ``description`` as for every method.
    name: ClassVar[str]
    description: ClassVar[str]

    @property
    def display(self) -> str:
        """How the maps are meant to be shown: one of ``DISPLAYS`` (see the module doc)."""
        return SIGNED_RGB

    @property
    def rules(self) -> tuple[str, ...]:
        """The rule methods (by name) whose backward passes this method runs."""
        return ("saliency",)

    @abstractmethod
    def compute(self, request: Request) -> torch.Tensor:
        """The maps for ``request``: (N, C, H, W), or (K, C, H, W) for K targets of one
        image (Grad-CAM: one channel repeated over C, see its class)."""
