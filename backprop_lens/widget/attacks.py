"""The Explorer's attack runs: FGSM or PGD on the clean input, one run at a time on the worker,
reporting progress through the Explorer's traits, and dropped when cancelled or when a new input
or a newer run replaced it; a run that finishes undropped becomes the perturbation.

Budgets arrive in 0–255 pixel steps (L∞) and are converted to input units; FGSM's step is ε,
PGD's 2.5 ε / steps (its steps together can cross the budget more than twice).
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
                 lock: threading.RLock,
                 apply: Callable[[torch.Tensor, np.ndarray], None]) -> None:
        self._host = host
        self._submit = submit
        self._lock = lock
        self._apply = apply
        self._latest = 0
        self._cancel = threading.Event()

    def start(self, session: PerturbationSession, request: AttackRequest) -> None:
        """Queue a run of ``request`` on ``session``'s clean input; ValueError while one runs."""
        host = self._host
        if host.attacking:
            raise ValueError("an attack is running already")
        self._cancel.clear()
        self._latest += 1
        run = self._latest
        host.attacking = True
        host.status = "computing"
        host.progress = 0.0
        self._submit(lambda: self._run(run, session, request))

    def cancel(self) -> None:
        """Stop the running attack at its next step; the input stays as it was before it."""
        self._cancel.set()

    def drop(self) -> None:
        """A new input: whatever runs now is dropped."""
        self._latest += 1

    def _dropped(self, run: int) -> bool:
        return self._cancel.is_set() or run != self._latest

    def _run(self, run: int, session: PerturbationSession, request: AttackRequest) -> None:
        """On the worker: attack ``session.clean`` (within ``session.mask`` when
        ``request.masked``), stopping early once dropped; then apply the result unless
        dropped, and report."""
        host = self._host
        try:
            spec, clean = session.spec, session.clean
            eps = pixels_to_input_units(spec, request.eps).to(clean.dtype)
            step = eps if request.method == "fgsm" else eps * 2.5 / request.steps
            mask = torch.from_numpy(session.mask) if request.masked else None
            label = request.method.upper()

            def on_step(done: int, steps: int) -> bool:
                host.progress = done / steps
                host.note = f"{label} step {done} of {steps}"
                return self._dropped(run)

            x_adv, report = pgd(spec, clean, eps, step, request.steps, target=request.target,
                                mask=mask, on_step=on_step)
            host.note = ""
            with self._lock:
                if self._dropped(run):
                    host.attack_report = {"method": request.method, "cancelled": True}
                    return
                host.attack_report = report_trait(request, report)
                self._apply((x_adv - clean).detach(), session.mask)
        finally:
            if run == self._latest:
                host.attacking = False


def report_trait(request: AttackRequest, report: AttackReport) -> dict[str, Any]:
    """The ``attack_report`` trait of a finished run: what was asked and what came of it (the
    prediction and its confidence before and after, of the one input)."""
    return {
        "method": request.method, "eps": request.eps, "steps": report.steps,
        "target": request.target, "masked": request.masked, "cancelled": False,
        "before": report.before[0], "after": report.after[0],
        "confidence_before": report.confidence_before[0],
        "confidence_after": report.confidence_after[0],
        "success": report.success[0],
    }
