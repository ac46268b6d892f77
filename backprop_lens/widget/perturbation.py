"""The perturbation session: the clean input an Explorer was given, the perturbation painted
or attacked onto it, the painted region, the undo history, and how similar the maps of the
perturbed input are to the clean ones.

Units as in ``perturb`` (whose pure functions do the checking and the painting): ``delta`` in
model input units (1, C, H, W), ``mask`` (H, W) in [0, 1]. A new session starts with each new
image or model; strokes, attacks and undo move it along.

An attack's report belongs to the perturbation it made: a stroke on top keeps it (the attack's
change is still there), undo brings back the report of the perturbation it returns to (none for
the clean image or a painting), and a new session (reset, a new image) starts without one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from ..models import LensModel
from ..render import encode
from .keys import map_key
from .perturb import apply_stroke, check_stroke, perturbation_picture, prediction_shift

#: How many earlier perturbations ``undo`` can go back to.
UNDO_DEPTH = 32


class PerturbationSession:
    """The input explained, as ``clean`` + ``delta``.

    Attributes:
        clean: the clean model input (1, C, H, W); never changed.
        x: the input explained: ``clean + delta``, or ``clean`` itself (the same tensor) while
            nothing is perturbed, so that ``x is clean`` tells a clean input.
        delta: the perturbation, input units, shaped like ``clean``.
        mask: (H, W) float64 in [0, 1]: the painted region (the mask of a masked attack).
        clean_probabilities: (n_classes,) the clean input's class probabilities.
        similarities: the similarity of each clean vs perturbed map measured so far
            (``compute.SIMILARITY_METRIC``), by map key.
        report: the ``attack_report`` of the attack that made this perturbation (empty when
            none did).
    """

    def __init__(self, spec: LensModel, clean: torch.Tensor,
                 clean_probabilities: torch.Tensor) -> None:
        self.spec = spec
        self.clean = self.x = clean
        self.delta = torch.zeros_like(clean)
        self.mask = np.zeros(tuple(clean.shape[-2:]), dtype=np.float64)
        self.clean_probabilities = clean_probabilities
        self.similarities: dict[str, float] = {}
        self.report: dict[str, Any] = {}
        self._undo: list[tuple[torch.Tensor, np.ndarray, dict[str, Any]]] = []
        # Noise strokes are reproducible: the same strokes on the same image give the same input.
        self._noise = torch.Generator().manual_seed(0)

    @property
    def shape(self) -> tuple[int, int]:
        """(H, W) of the model input."""
        return int(self.clean.shape[-2]), int(self.clean.shape[-1])

    def input_for(self, delta: torch.Tensor) -> torch.Tensor:
        """The input ``delta`` makes: ``clean`` itself when it changes nothing."""
        return self.clean + delta if bool(delta.abs().max() > 0) else self.clean

    @property
    def perturbed(self) -> bool:
        return self.x is not self.clean

    def stroke(self, content: Mapping[str, Any],
               buffers: Sequence[Any]) -> tuple[torch.Tensor, np.ndarray]:
        """The perturbation and painted region after the front end's stroke message (checked:
        ValueError naming what is wrong); not yet applied (``apply``)."""
        stroke = check_stroke(content, buffers, self.shape)
        return apply_stroke(self.spec, self.clean, self.delta, self.mask, stroke, self._noise)

    def apply(self, x: torch.Tensor, delta: torch.Tensor, mask: np.ndarray,
              undoable: bool = True, report: Mapping[str, Any] | None = None) -> None:
        """Explain ``x`` (= ``input_for(delta)``) from now on; ``undoable``: the former
        perturbation goes onto the undo history (the oldest falls off beyond ``UNDO_DEPTH``).
        ``report``: the attack report of the new perturbation; None keeps the current one (a
        stroke on top of an attack)."""
        if undoable:
            self._undo = [*self._undo, (self.delta, self.mask, self.report)][-UNDO_DEPTH:]
        self.x, self.delta, self.mask = x, delta, mask
        if report is not None or not self.perturbed:
            self.report = dict(report or {})
        self.similarities = {}

    def previous(self) -> tuple[torch.Tensor, np.ndarray, dict[str, Any]]:
        """Take the last perturbation, region and attack report off the undo history;
        ValueError if empty."""
        if not self._undo:
            raise ValueError("nothing to undo")
        entry = self._undo[-1]
        self._undo = self._undo[:-1]
        return entry

    def traits(self, probabilities: torch.Tensor) -> dict[str, Any]:
        """The Explorer's perturbation traits for the input explained, whose class
        probabilities are ``probabilities`` (n_classes,)."""
        picture, largest = perturbation_picture(self.spec, self.delta)
        return {
            "perturbation_png": encode(picture) if self.perturbed else b"",  # grey: no change
            "perturbation_scale": largest,
            "perturbed": self.perturbed,
            "undo_depth": len(self._undo),
            "similarity": {},
            "prediction_shift": prediction_shift(self.clean_probabilities, probabilities),
            "attack_report": self.report,
        }

    def similarity_at(self, layer: str, target: int, methods: Sequence[str]) -> dict[str, float]:
        """The ``similarity`` trait: each method's clean vs perturbed map at one place, for
        the methods measured there so far."""
        found = {method: self.similarities.get(map_key(layer, target, method))
                 for method in methods}
        return {m: value for m, value in found.items() if value is not None}
