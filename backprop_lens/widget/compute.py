"""What the worker computes for one job: the maps of the input explained at one layer, for one
method and some targets, rendered in the widget's encoding; for a perturbed input, the clean
input's maps beside them and how similar each pair is; for several output targets, the paper's
class sensitivity of the maps.

The metrics (scipy, scikit-image) are imported on first use, by the worker: the first map of a
fresh kernel needs neither.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial

import torch

from ..engine import (
    IntegratedGradients,
    Method,
    NotCovered,
    RetainedForward,
    attribute,
    get_method,
)
from ..models import LensModel
from ..render import ABS_GREY, RenderedMap, convention_for, render_map
from .keys import CLEAN, OUTPUT, map_key

#: The map similarity shown between the clean and the perturbed input (named in the UI).
SIMILARITY_METRIC = "SSIM"


@dataclass(frozen=True)
class ComputedMaps:
    #: By map key; the clean input's under ``CLEAN + key``.
    rendered: dict[str, RenderedMap]
    #: Clean vs perturbed map similarity (``SIMILARITY_METRIC``) by map key; empty when clean.
    similarities: dict[str, float]
    #: The class sensitivity of the maps of two or more output targets, else None.
    sensitivity: float | None
    #: The maps themselves, (K, C, H, W) for the K targets (before rendering).
    maps: torch.Tensor | None = None
    #: Integrated Gradients' completeness by map key: {"error": Σ map − (f(x) − f(b)),
    #: "gain": f(x) − f(b)}; empty for other methods.
    completeness: dict[str, dict[str, float]] = field(default_factory=dict)


class RetainedForwards:
    """The forward passes kept for the inputs explained now (``engine.RetainedForward``): the
    input and, while it is perturbed, the clean one; the least recently used goes first. So a
    layer move costs a backward pass, not a forward pass too. For one thread (the worker)."""

    KEPT = 2

    def __init__(self, spec: LensModel) -> None:
        self._spec = spec
        self._layers = [name for name, _ in spec.layers]
        self._kept: list[RetainedForward] = []

    def of(self, x: torch.Tensor) -> RetainedForward:
        """The pass of ``x`` (this very tensor), run now if not kept, or if the model or ``x``
        changed since (a cell trained it, loaded other weights)."""
        found = next((f for f in self._kept if f.x is x and f.is_current()), None)
        if found is None:
            found = RetainedForward(self._spec, x, self._layers)
            # A changed model leaves the others stale too: their graphs go now, not later.
            self._kept = [f for f in self._kept if f.is_current()]
        self._kept = [found, *(f for f in self._kept if f is not found)][: self.KEPT]
        return found


def compute_maps(spec: LensModel, x: torch.Tensor, layer: str, method: str,
                 targets: Sequence[int], encoding: tuple[str, int],
                 clean: torch.Tensor | None = None,
                 forwards: RetainedForwards | None = None) -> ComputedMaps:
    """The maps of ``x`` (1, C, H, W) for ``targets`` of ``layer`` (``OUTPUT``: classes), and,
    when ``clean`` is given (``x`` is perturbed), those of ``clean`` and their similarity.
    ``encoding`` is (``"png"``/``"webp"``/``"jpeg"``, quality). With ``forwards``, the maps of
    the rule methods come from its kept forward passes (the same maps, sooner)."""
    attribute_at = partial(_attribute, spec, layer=layer, method=method, targets=targets,
                           forwards=forwards)
    maps = attribute_at(x)
    rendered = _render(maps, layer, method, targets, encoding)
    sensitivity = None
    if layer == OUTPUT and len(targets) > 1:
        from ..metrics import class_sensitivity

        sensitivity = class_sensitivity(maps)
    similarities: dict[str, float] = {}
    if clean is not None:
        from ..metrics import ssim

        originals = attribute_at(clean)
        rendered.update(_render(originals, layer, method, targets, encoding, CLEAN))
        # Compared as shown: methods drawn as |map| are compared on |map|.
        absolute = convention_for(method) == ABS_GREY
        similarities = {map_key(layer, t, method): ssim(original, perturbed, absolute)
                        for t, original, perturbed in zip(targets, originals, maps, strict=True)}
    return ComputedMaps(rendered, similarities, sensitivity, maps,
                        completeness_of(spec, x, layer, method, targets, maps))


def completeness_of(spec: LensModel, x: torch.Tensor, layer: str, method: str,
                    targets: Sequence[int], maps: torch.Tensor) -> dict[str, dict[str, float]]:
    """Integrated Gradients' completeness error of each map (two forward passes), by map key;
    empty for every other method."""
    chosen = get_method(method)
    if not isinstance(chosen, IntegratedGradients):
        return {}
    errors = chosen.completeness_error(spec, x, maps, list(targets),
                                       layer=None if layer == OUTPUT else layer)
    sums = maps.flatten(1).sum(dim=1)
    return {map_key(layer, t, method): {"error": float(e), "gain": float(s - e)}
            for t, e, s in zip(targets, errors, sums, strict=True)}


def _attribute(spec: LensModel, x: torch.Tensor, *, layer: str, method: str,
               targets: Sequence[int], forwards: RetainedForwards | None) -> torch.Tensor:
    at = None if layer == OUTPUT else layer
    chosen = get_method(method)
    if forwards is not None and isinstance(chosen, Method):
        with contextlib.suppress(NotCovered):  # attribute() can, with a forward pass of its own
            return forwards.of(x).maps(at, chosen, targets)
    return attribute(spec, x, chosen, list(targets), layer=at)


def _render(maps: torch.Tensor, layer: str, method: str, targets: Sequence[int],
            encoding: tuple[str, int], prefix: str = "") -> dict[str, RenderedMap]:
    kind, quality = encoding
    return {prefix + map_key(layer, t, method): render_map(m, method, None, kind, quality)
            for t, m in zip(targets, maps, strict=True)}
