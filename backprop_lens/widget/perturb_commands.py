"""The Explorer's perturbation traits and public commands: strokes, undo, reset and attacks.

A mixin of ``Explorer`` (as ``weights.WeightsTraits`` is): the input shown and explained is the
clean image plus a perturbation, which strokes painted in the view and FGSM/PGD attacks
(``attacks.AttackRunner``) replace one at a time. The perturbation itself lives in a
``perturbation.PerturbationSession``; the Explorer sets ``_session``, ``_attacks`` and
``_input_lock``, and owns ``_set_input`` (which re-ranks the targets and re-queues the maps) and
``_load`` (which starts again from the clean image).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
import traitlets

from .attacks import AttackRunner
from .compute import SIMILARITY_METRIC
from .perturb import check_attack
from .perturbation import PerturbationSession


class PerturbationTraits(traitlets.HasTraits):
    """The Explorer's synced perturbation traits (all Python's) and the commands that change
    the perturbation, from Python or from the view's messages (``messages``)."""

    input_shape = traitlets.List(traitlets.Int()).tag(sync=True)  # [H, W] of the model input
    perturbed = traitlets.Bool(False).tag(sync=True)
    perturbation_png = traitlets.Bytes(b"").tag(sync=True)  # amplified, grey = no change
    perturbation_scale = traitlets.Float(0.0).tag(sync=True)  # its largest change, pixel steps
    undo_depth = traitlets.Int(0).tag(sync=True)
    clean_targets = traitlets.List(traitlets.List()).tag(sync=True)  # clean output ranking
    similarity_metric = traitlets.Unicode(SIMILARITY_METRIC).tag(sync=True)
    similarity = traitlets.Dict().tag(sync=True)  # method → clean vs perturbed map, current key
    prediction_shift = traitlets.Float(0.0).tag(sync=True)  # total variation, clean vs now
    attacking = traitlets.Bool(False).tag(sync=True)
    attack_report = traitlets.Dict().tag(sync=True)

    _session: PerturbationSession
    _attacks: AttackRunner
    _input_lock: threading.RLock
    classes: list[str]
    _set_input: Callable[..., None]  # explain ``clean + delta`` from now on (``Explorer``)
    _load: Callable[[], None]  # show the clean image again (``Explorer``)

    @property
    def clean_input(self) -> torch.Tensor:
        """The model input of the clean image (never changed by strokes or attacks)."""
        return self._session.clean

    @property
    def perturbation(self) -> torch.Tensor:
        """The perturbation in input units, shaped like the input: what is explained is
        ``clean_input + perturbation``."""
        return self._session.delta

    @property
    def painted(self) -> np.ndarray:
        """(H, W) in [0, 1]: the painted region (the mask of a masked attack)."""
        return self._session.mask

    def _stroke(self, content: Mapping[str, Any], buffers: Sequence[Any]) -> None:
        delta, mask = self._session.stroke(content, buffers)
        if self.attacking:
            raise ValueError("an attack is running: wait for it, or cancel it, before painting")
        self._set_input(delta, mask)

    def undo(self) -> None:
        """Go back to the perturbation before the last stroke or attack."""
        if self.attacking:
            raise ValueError("an attack is running: wait for it, or cancel it, before undoing")
        delta, mask, report = self._session.previous()
        self._set_input(delta, mask, undoable=False, report=report)

    def reset(self) -> None:
        """Back to the clean image: no perturbation, no undo history, a running attack
        cancelled."""
        self._attacks.cancel()
        with self._input_lock:
            self._load()

    def attack(self, method: str = "pgd", eps: float = 8.0, steps: int = 10,
               target: int | None = None, masked: bool = False, start: str = "clean") -> None:
        """Replace the perturbation by an FGSM or PGD attack on the clean image, within ``eps``
        0–255 pixel steps (L∞), untargeted or towards ``target``, and with ``masked`` only
        inside the painted region; ``start="painted"`` attacks the painted image instead (Undo
        brings the painting back either way). Runs in the background (``wait()``;
        ``cancel()``)."""
        request = check_attack({"method": method, "eps": eps, "steps": steps,
                                "target": target, "masked": masked},
                               len(self.classes), bool(self._session.mask.any()))
        self._attacks.start(self._session, request, start)

    def cancel(self) -> None:
        """Stop a running attack; the input stays as it was before it."""
        self._attacks.cancel()
