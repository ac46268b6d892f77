"""The Explorer's attack runs: FGSM or PGD on the clean input, one run at a time on the worker,
reporting progress through the Explorer's traits, and dropped when cancelled or when a new input
or a newer run replaced it; a run that finishes undropped becomes the perturbation.

Budgets arrive in 0–255 pixel steps (L∞) and are converted to input units; FGSM's step is ε,
PGD's 2.5 ε / steps (its steps together can cross the budget more than twice).

An attack starts from the clean image (the default, so that ε bounds the whole perturbation) or
from the painted one (``start="painted"``: ε bounds the attack's change on top of the painting).
Either way its result replaces the perturbation as one undoable step: Undo brings the painting
back. Its report (``report_trait``) travels with the perturbation it made (``perturbation``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
import torch

from ..adversarial import AttackReport, pgd, pixels_to_input_units
from .perturb import AttackRequest
from .perturbation import PerturbationSession


class AttackHost(Protocol):
    """The traits an attack run reports through (the Explorer's)."""

    attacking: bool
    status: str
    progress: float
    note: str
    attack_report: dict[str, Any]


#: Where an attack starts: the clean image (default) or the painted one.
ATTACK_STARTS = ("clean", "painted")


def check_start(start: object) -> str:
    """``start`` as one of ``ATTACK_STARTS``; ValueError naming it otherwise."""
    if start not in ATTACK_STARTS:
        raise ValueError(f"start must be one of {list(ATTACK_STARTS)}; got {start!r}")
    return str(start)


class ApplyInput(Protocol):
    """Makes a perturbation (input units) and painted region the input explained, with the
    attack report that belongs to it."""

    def __call__(self, delta: torch.Tensor, mask: np.ndarray, *,
                 report: dict[str, Any]) -> None: ...


class AttackRunner:
    """Runs attacks for one host; numbers the runs, and drops a run once it is cancelled or no
    longer the latest.

    Args:
        host: whose traits say that an attack runs, how far it got, and what came of it.
        submit: queues a task on the host's worker thread.
        lock: held while a finished run's result is checked and applied, so that nothing
            replaces the input in between.
        apply: makes a perturbation (input units) and painted region the input explained.
    """

    def __init__(self, host: AttackHost, submit: Callable[[Callable[[], None]], None],
                 lock: threading.RLock, apply: ApplyInput) -> None:
        self._host = host
        self._submit = submit
        self._lock = lock
        self._apply = apply
        self._latest = 0
        self._cancel = threading.Event()

    def start(self, session: PerturbationSession, request: AttackRequest,
              start: str = "clean") -> None:
        """Queue a run of ``request`` from ``session``'s clean input, or (``start="painted"``)
        from its perturbed one; ValueError while one runs, or for another ``start``."""
        start = check_start(start)
        host = self._host
        if host.attacking:
            raise ValueError("an attack is running already")
        self._cancel.clear()
        self._latest += 1
        run = self._latest
        host.attacking = True
        host.status = "computing"
        host.progress = 0.0
        origin = "painted" if start == "painted" and session.perturbed else "clean"
        self._submit(lambda: self._run(run, session, request, origin))

    def cancel(self) -> None:
        """Stop the running attack at its next step; the input stays as it was before it."""
        self._cancel.set()

    def drop(self) -> None:
        """A new input: whatever runs now is dropped."""
        self._latest += 1

    def _dropped(self, run: int) -> bool:
        return self._cancel.is_set() or run != self._latest

    def _run(self, run: int, session: PerturbationSession, request: AttackRequest,
             origin: str) -> None:
        """On the worker: attack ``session.clean`` (``origin="clean"``) or ``session.x``
        (``"painted"``), within ``session.mask`` when ``request.masked``, stopping early once
        dropped; then apply the result with its report unless dropped."""
        host = self._host
        try:
            spec, clean = session.spec, session.clean
            base = session.x if origin == "painted" else clean
            eps = pixels_to_input_units(spec, request.eps).to(clean.dtype)
            step = eps if request.method == "fgsm" else eps * 2.5 / request.steps
            mask = torch.from_numpy(session.mask) if request.masked else None
            label = request.method.upper()

            def on_step(done: int, steps: int) -> bool:
                host.progress = done / steps
                host.note = f"{label} step {done} of {steps}"
                return self._dropped(run)

            x_adv, report = pgd(spec, base, eps, step, request.steps, target=request.target,
                                mask=mask, on_step=on_step)
            host.note = ""
            with self._lock:
                if self._dropped(run):
                    host.attack_report = {"method": request.method, "cancelled": True}
                    return
                self._apply((x_adv - clean).detach(), session.mask,
                            report=report_trait(request, report, origin))
        finally:
            if run == self._latest:
                host.attacking = False


def report_trait(request: AttackRequest, report: AttackReport,
                 origin: str = "clean") -> dict[str, Any]:
    """The ``attack_report`` trait of a finished run: what was asked (``start``: the image it
    started from) and what came of it (the prediction and its confidence before and after, of
    the one input; ``success``: the prediction flipped, or, targeted, reached ``target``)."""
    return {
        "method": request.method, "eps": request.eps, "steps": report.steps, "start": origin,
        "target": request.target, "masked": request.masked, "cancelled": False,
        "before": report.before[0], "after": report.after[0],
        "confidence_before": report.confidence_before[0],
        "confidence_after": report.confidence_after[0],
        "success": report.success[0],
    }
