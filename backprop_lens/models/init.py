"""The paper's random initialisation, drawn from private generators.

The authors' code (BackpropVis, TensorFlow) draws every weight from a normal distribution
truncated at two standard deviations (``tf.truncated_normal``) and sets each bias to a constant.
We reproduce that (re-drawing values beyond 2σ) from a ``torch.Generator`` seeded by the
caller, and build the modules on the ``meta`` device first, so that PyTorch's own
initialisation never runs: the global random state is never read or changed, and the same seed
gives bit-identical weights.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

import torch
from torch import nn

from .lens_model import Initializer

ModuleT = TypeVar("ModuleT", bound=nn.Module)


@dataclass(frozen=True)
class LayerInit:
    """How one layer is drawn: weights ~ N(0, std²) truncated at ±2·std; bias = constant."""

    std: float = 0.1
    bias: float = 0.0


def seeded_generator(seed: int) -> torch.Generator:
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int; got {type(seed).__name__}")
    generator = torch.Generator(device="cpu")
    generator.manual_seed(seed)
    return generator


def truncated_normal_(tensor: torch.Tensor, std: float, generator: torch.Generator) -> None:
    """Fill ``tensor`` like ``tf.truncated_normal(stddev=std)``: N(0, std²) cut at ±2·std.

    As TensorFlow does, values beyond two standard deviations are drawn again until none is
    left (several times faster than inverting the CDF, which matters for VGG's 138 M weights).
    Drawn on the CPU, where the generator lives, and copied: any device gets the same values.
    """
    values = torch.randn(tensor.shape, generator=generator, dtype=torch.float32).flatten()
    redraw = (values.abs() > 2.0).nonzero().squeeze(1)
    while redraw.numel():
        fresh = torch.randn(redraw.numel(), generator=generator, dtype=torch.float32)
        values[redraw] = fresh
        redraw = redraw[fresh.abs() > 2.0]
    with torch.no_grad():
        tensor.copy_(values.view(tensor.shape).mul_(std))


def paper_initializer(plan: Mapping[str, LayerInit]) -> Initializer:
    """An initializer that draws the layers named in ``plan`` the paper's way.

    Layers not in ``plan`` get the paper's default, std 0.1 and bias 0.
    """

    def initialize(name: str, layer: nn.Module, generator: torch.Generator) -> None:
        how = plan.get(name, LayerInit())
        weight, bias = getattr(layer, "weight", None), getattr(layer, "bias", None)
        if not isinstance(weight, torch.Tensor):
            raise ValueError(f"layer {name!r} ({type(layer).__name__}) has no weight to draw")
        truncated_normal_(weight, how.std, generator)
        if isinstance(bias, torch.Tensor):
            with torch.no_grad():
                bias.fill_(how.bias)

    return initialize


def build_uninitialized(factory: Callable[[], ModuleT]) -> ModuleT:
    """``factory()`` built without running any initialisation: parameters hold garbage.

    Every parameter and buffer must be set afterwards (by an initializer or a state dict).
    """
    with torch.device("meta"):
        module = factory()
    return module.to_empty(device="cpu")


def initialize_all(module: nn.Module, initializer: Initializer, seed: int) -> None:
    """Draw every parameterised layer of ``module``, in ``named_modules`` order, from ``seed``."""
    generator = seeded_generator(seed)
    for name, layer in module.named_modules():
        if any(True for _ in layer.parameters(recurse=False)):
            initializer(name, layer, generator)
