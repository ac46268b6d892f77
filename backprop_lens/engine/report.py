"""Telling the user about operations that have no DeconvNet / guided-backprop rule.

One short warning per model (not per call, not per method): how many such operations run, of
which kinds, and the first few modules that run them; ``strict=True`` raises instead, listing
every module. The record of what was already reported holds the model weakly: it never keeps a
model alive and leaves nothing on it.
"""

from __future__ import annotations

import warnings
import weakref
from collections import Counter

from torch import nn

#: How many module names the warning shows.
SHOWN = 3

_reported: weakref.WeakKeyDictionary[nn.Module, set[tuple[str, str]]] = (
    weakref.WeakKeyDictionary()
)


class NonReluActivationWarning(UserWarning):
    """The model runs activations that have no DeconvNet / guided-backprop rule."""


def _kinds(found: list[tuple[str, str]]) -> str:
    counts = Counter(kind for _, kind in found)
    return ", ".join(kind if n == 1 else f"{kind} ×{n}" for kind, n in counts.most_common())


def report_without_rule(
    model: nn.Module, method: str, found: list[tuple[str, str]], strict: bool
) -> None:
    """Warn once per model (or raise with ``strict``) about ``found``: (module, operation) pairs.

    Raises:
        ValueError: with ``strict=True``, when ``found`` is not empty.
    """
    if not found:
        return
    modules = list(dict.fromkeys(module for module, _ in found))
    head = (f"the model runs {len(found)} operation{'s' if len(found) > 1 else ''} with no "
            f"DeconvNet/guided-backprop rule ({_kinds(found)}) in {len(modules)} "
            f"module{'s' if len(modules) > 1 else ''}")
    if strict:
        every = "; ".join(f"{m}: {_kinds([f for f in found if f[0] == m])}" for m in modules)
        raise ValueError(f"{method}: {head}: {every} (strict=True)")
    seen = _reported.setdefault(model, set())
    if set(found) <= seen:
        return
    seen.update(found)
    shown = ", ".join(modules[:SHOWN]) + (f" and {len(modules) - SHOWN} more"
                                         if len(modules) > SHOWN else "")
    warnings.warn(f"{head} ({shown}); the plain gradient flows through them. Pass strict=True "
                  "to raise with the full list", NonReluActivationWarning, stacklevel=3)
