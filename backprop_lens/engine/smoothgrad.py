"""SmoothGrad (Smilkov et al. 2017): the mean of a base method's maps over noisy copies of x.

Each copy is ``x + ε``, ε ~ N(0, σ²) per element, with σ = ``noise_level`` × (max − min) of the
example (the paper's noise level; Captum's ``NoiseTunnel`` takes an absolute σ, ``stdevs``).
The base is any rule method or input × gradient (then each copy's map is multiplied by that
copy, as Captum's ``NoiseTunnel(InputXGradient)`` does). The copies go through the network in
batches (see ``copies``). The noise comes from a private generator seeded with ``seed``, or 0
when ``seed`` is None: the same call gives the same map (a list of targets gives the maps of
separate calls); pass other seeds for other draws.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import ClassVar

import torch

from .copies import check_batch_size, rule_method, weighted_maps
from .method_base import SIGNED_CHANNEL, MethodObject, Request

BASES = ("saliency", "deconvnet", "guided_backprop", "input_x_gradient")


@dataclass(frozen=True)
class SmoothGrad(MethodObject):
    """SmoothGrad over ``base``: ``samples`` noisy copies, σ = ``noise_level`` × (max − min).

    Args:
        base: one of ``BASES``.
        noise_level: σ as a fraction of each example's value range, ≥ 0 (Smilkov et al.
            recommend 0.1–0.2).
        samples: the number of noisy copies, ≥ 1.
        batch_size: copies per forward pass; None chooses by input size.

    Raises:
        ValueError, TypeError: a bad setting, named.
    """

    base: str = "saliency"
    noise_level: float = 0.15
    samples: int = 25
    batch_size: int | None = None

    name: ClassVar[str] = "smoothgrad"
    description: ClassVar[str] = "SmoothGrad: the mean map over noisy copies of x"

    def __post_init__(self) -> None:
        if not isinstance(self.base, str) or self.base not in BASES:
            raise ValueError(f"base must be one of {list(BASES)}; got {self.base!r}")
        if isinstance(self.noise_level, bool) or not isinstance(self.noise_level, numbers.Real) \
                or not 0 <= float(self.noise_level) < float("inf"):
            raise ValueError(f"noise_level must be a finite number ≥ 0 (a fraction of the "
                             f"input's range); got {self.noise_level!r}")
        if isinstance(self.samples, bool) or not isinstance(self.samples, numbers.Integral) \
                or self.samples < 1:
            raise ValueError(f"samples must be a positive int; got {self.samples!r}")
        check_batch_size(self.batch_size)

    @property
    def _rule_name(self) -> str:
        return "saliency" if self.base == "input_x_gradient" else self.base

    @property
    def display(self) -> str:
        if self.base == "input_x_gradient":
            return SIGNED_CHANNEL
        return rule_method(self.base, "base", BASES).display

    @property
    def rules(self) -> tuple[str, ...]:
        return (self._rule_name,)

    def noise(self, x: torch.Tensor, seed: int | None = None) -> torch.Tensor:
        """The noise added to ``x`` (N, C, H, W): (N, samples, C, H, W), from a private
        generator seeded with ``seed`` (None: 0; the caller's random state is left alone)."""
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
            raise TypeError(f"seed must be an int or None; got {type(seed).__name__}")
        generator = torch.Generator(device=x.device)
        generator.manual_seed(0 if seed is None else int(seed))
        flat = x.detach().flatten(1)
        sigma = self.noise_level * (flat.amax(dim=1) - flat.amin(dim=1))
        shape = (x.shape[0], self.samples, *x.shape[1:])
        # drawn in float32 whatever x's dtype: the same seed gives the same noise in float64
        noise = torch.randn(shape, generator=generator, device=x.device, dtype=torch.float32)
        return noise.to(x.dtype) * sigma.view(-1, 1, 1, 1, 1)

    def compute(self, request: Request) -> torch.Tensor:
        x = request.x.detach()
        points = x.unsqueeze(1) + self.noise(x, request.seed)
        weights = torch.full((self.samples,), 1.0 / self.samples)
        rule = rule_method(self._rule_name, "base", BASES)
        return weighted_maps(request, rule, points, weights, self.batch_size,
                             times_input=self.base == "input_x_gradient")
