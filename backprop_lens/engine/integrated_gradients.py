"""Integrated Gradients (Sundararajan et al. 2017): (x − b) · ∫₀¹ ∇f(b + α(x − b)) dα.

The integral is a quadrature over ``steps`` points of the straight path from the baseline ``b``:
Gauss–Legendre (the default, as in Captum) or the trapezoid rule on ``steps`` equally spaced
points including both ends. All points of all examples go through the network as batches (see
``copies``). By completeness, the map sums to f(x) − f(b) up to the quadrature error;
:meth:`IntegratedGradients.completeness_error` measures what is left.

Baselines, in the model's input space:

- ``"black"``: the black image, preprocessed by the ``LensModel``'s ``preprocess``. A bare
  ``nn.Module`` has no preprocessing: its inputs are taken as pixel values, so black is zeros;
- ``"zeros"``: zeros (for ImageNet normalisation, the mean colour);
- ``"blur"``: ``x`` blurred by a Gaussian of σ = ``blur_sigma`` × min(H, W) pixels;
- a tensor broadcastable to ``x`` (C, H, W), (1, C, H, W) or (N, C, H, W).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torchvision.transforms.functional import gaussian_blur

from .attribute import as_module, check_input, scores_of
from .copies import check_batch_size, rule_method, weighted_maps
from .method_base import SIGNED_CHANNEL, MethodObject, Request
from .outputs import OutputChoice
from .targets import make_seeds

BASELINES = ("black", "zeros", "blur")
QUADRATURES = ("gausslegendre", "riemann_trapezoid")


def quadrature(method: str, steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(alphas, weights), float64, each (steps,): the points on [0, 1] and their weights
    (summing to 1). Captum's ``riemann_trapezoid`` weights sum to (steps − 1)/steps instead
    (1/steps each, halved at the ends, on points 1/(steps − 1) apart); ours are the trapezoid
    rule's, 1/(steps − 1), halved at the ends."""
    if method == "gausslegendre":
        nodes, weights = np.polynomial.legendre.leggauss(steps)
        return torch.from_numpy(0.5 * (nodes + 1)), torch.from_numpy(0.5 * weights)
    trapezoid = torch.full((steps,), 1.0 / (steps - 1), dtype=torch.float64)
    trapezoid[[0, -1]] /= 2
    return torch.linspace(0, 1, steps, dtype=torch.float64), trapezoid


@dataclass(frozen=True, eq=False)  # eq=False: a tensor baseline has no truth value to compare
class IntegratedGradients(MethodObject):
    """Integrated Gradients along the straight path from ``baseline`` to x.

    Args:
        steps: the number of points on the path (≥ 2 for the trapezoid rule, ≥ 1 else).
        baseline: ``"black"``, ``"zeros"``, ``"blur"`` or a tensor (see the module doc).
        method: ``"gausslegendre"`` or ``"riemann_trapezoid"``.
        blur_sigma: the σ of ``"blur"``, as a fraction of min(H, W).
        batch_size: path points per forward pass; None chooses by input size.

    Raises:
        ValueError, TypeError: a bad setting, named.
    """

    steps: int = 32
    baseline: str | torch.Tensor = "black"
    method: str = "gausslegendre"
    blur_sigma: float = 0.05
    batch_size: int | None = None

    name: ClassVar[str] = "integrated_gradients"
    description: ClassVar[str] = "Integrated Gradients: (x − baseline) · the mean gradient on " \
                                 "the straight path"

    def __post_init__(self) -> None:
        if self.method not in QUADRATURES:
            raise ValueError(f"method must be one of {list(QUADRATURES)}; got {self.method!r}")
        least = 2 if self.method == "riemann_trapezoid" else 1
        if isinstance(self.steps, bool) or not isinstance(self.steps, numbers.Integral) \
                or self.steps < least:
            raise ValueError(f"steps must be an int ≥ {least} for {self.method}; got "
                             f"{self.steps!r}")
        if isinstance(self.baseline, torch.Tensor):
            if not self.baseline.dtype.is_floating_point or \
                    not torch.isfinite(self.baseline).all():
                raise ValueError("baseline: a tensor baseline must hold finite floats")
        elif not isinstance(self.baseline, str) or self.baseline not in BASELINES:
            raise ValueError(f"baseline must be one of {list(BASELINES)} or a tensor; got "
                             f"{self.baseline!r}")
        if isinstance(self.blur_sigma, bool) or not isinstance(self.blur_sigma, numbers.Real) \
                or not 0 < float(self.blur_sigma) < float("inf"):
            raise ValueError(f"blur_sigma must be a positive number (a fraction of min(H, W)); "
                             f"got {self.blur_sigma!r}")
        check_batch_size(self.batch_size)

    @property
    def display(self) -> str:
        return SIGNED_CHANNEL

    def baseline_for(self, model: object, x: torch.Tensor) -> torch.Tensor:
        """The baseline of ``x`` (N, C, H, W) for ``model`` (a ``LensModel`` or module), like x."""
        x = x.detach()
        if isinstance(self.baseline, torch.Tensor):
            base = self.baseline.to(device=x.device, dtype=x.dtype)
            if base.ndim == 3:
                base = base.unsqueeze(0)
            try:
                return torch.broadcast_to(base, x.shape).clone()
            except RuntimeError:
                raise ValueError(f"baseline: shape {tuple(self.baseline.shape)} does not fit x "
                                 f"of shape {tuple(x.shape)}") from None
        if self.baseline == "zeros":
            return torch.zeros_like(x)
        if self.baseline == "blur":
            sigma = float(self.blur_sigma) * min(x.shape[-2:])
            # an odd kernel of ±3σ, no wider than the image allows for reflection padding
            size = min(2 * math.ceil(3 * sigma) + 1, 2 * (min(x.shape[-2:]) - 1) + 1)
            return gaussian_blur(x, [max(size, 1)] * 2, [sigma, sigma])
        return _black(model, x)

    def compute(self, request: Request) -> torch.Tensor:
        x = request.x.detach()
        base = self.baseline_for(request.model, x)
        alphas, weights = quadrature(self.method, int(self.steps))
        alphas = alphas.to(device=x.device, dtype=x.dtype).view(1, -1, 1, 1, 1)
        points = base.unsqueeze(1) + alphas * (x - base).unsqueeze(1)
        rule = rule_method("saliency", "rule", ("saliency",))
        mean_gradient = weighted_maps(request, rule, points, weights, self.batch_size)
        return mean_gradient * (x - base)

    def completeness_error(self, model: object, x: torch.Tensor, maps: torch.Tensor,
                           target: object = "max", *, layer: str | None = None,
                           seed: int | None = None, label: object = None,
                           output: OutputChoice = None) -> torch.Tensor:
        """Σ map − (f(x) − f(baseline)) for each map: (N,), or (K,) for K targets.

        ``maps`` are this method's maps of ``x`` for the same ``target`` (and ``layer``,
        ``seed``, ``label``, ``output``) as given to ``attribute``; f is the target's score
        (the paper's cost for ``target="cost"``). Two forward passes, without gradients.
        """
        module = as_module(model)
        check_input(x, module)
        base = self.baseline_for(model, x)
        at_output = layer is None
        scores_x = scores_of(module, x, layer, output)
        scores_b = scores_of(module, base, layer, output)
        seeds = make_seeds(scores_x, target, seed=seed, label=label, at_output=at_output)
        if isinstance(target, str) and target == "cost":
            gain = seeds.outputs - make_seeds(scores_b, "cost", seed=None, label=label,
                                              at_output=at_output).outputs
        else:  # the one-hot seeds of x pick the same units at the baseline
            gain = (seeds.grad_outputs * (scores_x - scores_b)).sum(dim=-1).reshape(-1)
        if maps.shape[0] != gain.shape[0]:
            raise ValueError(f"maps: expected {gain.shape[0]} maps for this x and target; got "
                             f"shape {tuple(maps.shape)}")
        return maps.flatten(1).sum(dim=1) - gain


def _black(model: object, x: torch.Tensor) -> torch.Tensor:
    """The black image through ``model``'s ``preprocess`` (a ``LensModel``), at x's size."""
    preprocess = getattr(model, "preprocess", None)
    if preprocess is None:  # a bare module: its inputs are pixel values
        return torch.zeros_like(x)
    black = preprocess(np.zeros((*x.shape[-2:], 3), dtype=np.uint8))
    black = black.to(device=x.device, dtype=x.dtype)
    if black.shape[1:] != x.shape[1:]:  # resized to the model's size: black is uniform anyway
        black = black[..., :1, :1]
    return torch.broadcast_to(black, x.shape).clone()
