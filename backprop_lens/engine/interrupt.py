"""Stopping an attribution that is no longer wanted, while it runs.

A caller that may lose interest in a computation it started (the Explorer's worker, when the user
moves on mid-map) runs it inside ``interruptible(should_stop)``. The engine then asks
``should_stop()`` at its checkpoints, each module call of the forward pass and each rectifier of
the backward pass, and raises :class:`Interrupted` there when it answers True: the work left is
not done, rather than done and thrown away.

The check belongs to the thread that set it: a forward pass that another thread runs meanwhile
(the user's own, on the same model) is never interrupted. The backward checkpoints are hooks on
the one graph being differentiated, so they take the check with them whichever thread runs them.
Outside ``interruptible`` the engine adds nothing: no hook, no call.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

StopCheck = Callable[[], bool]

_local = threading.local()


class Interrupted(Exception):
    """Raised inside an attribution whose ``interruptible`` check answered True. Every hook the
    engine placed is removed on the way out, as after any error."""


@contextmanager
def interruptible(should_stop: StopCheck) -> Iterator[None]:
    """Attributions this thread runs inside the block stop with :class:`Interrupted` at their
    next checkpoint once ``should_stop()`` is True (it is called often: keep it cheap)."""
    previous = current_check()
    _local.check = should_stop
    try:
        yield
    finally:
        _local.check = previous


def current_check() -> StopCheck | None:
    """The check of this thread's innermost ``interruptible`` block, if any."""
    check: StopCheck | None = getattr(_local, "check", None)
    return check


def stop_if_asked(check: StopCheck | None) -> None:
    """Raise :class:`Interrupted` if ``check`` (None: never) says stop."""
    if check is not None and check():
        raise Interrupted("the computation was no longer wanted")
