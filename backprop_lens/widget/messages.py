"""The front end's custom messages to an Explorer, dispatched by their ``type``.

``{"type": "sync"}`` (a view is up: the kernel answers ``{"type": "synced"}``) is the Explorer's
own; ``{"type": "view", "layer", "target"}`` (a slider move: its maps start before its state
arrives) is ``view_queue``'s; the others act on the input, and each is checked where it acts
(``perturb``). Whatever a message holds, nothing escapes to the kernel: what is wrong becomes
the status line, naming the problem (a bad value: its message; anything else: its type too,
since that is a fault of ours).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from .perturb import attack_arguments, shown


class MessageTarget(Protocol):
    """What the messages act on: the Explorer's perturbation actions."""

    def _stroke(self, content: dict[str, Any], buffers: Sequence[Any]) -> None: ...

    def _preview(self, layer: Any, target: Any) -> None: ...

    def undo(self) -> None: ...

    def reset(self) -> None: ...

    def cancel(self) -> None: ...

    def attack(self, method: str = ..., eps: float = ..., steps: int = ...,
               target: int | None = ..., masked: bool = ...) -> None: ...


#: The longest status line a refused message or update gives, in characters.
STATUS_CHARS = 240

Handler = Callable[[MessageTarget, dict[str, Any], Sequence[Any]], None]

HANDLERS: dict[str, Handler] = {
    "view": lambda w, content, buffers: w._preview(content.get("layer"), content.get("target")),
    "stroke": lambda w, content, buffers: w._stroke(content, buffers),
    "undo": lambda w, content, buffers: w.undo(),
    "reset": lambda w, content, buffers: w.reset(),
    "cancel": lambda w, content, buffers: w.cancel(),
    "attack": lambda w, content, buffers: w.attack(**attack_arguments(content)),
}


def message_type(content: Any) -> Any:
    """The ``type`` of a message (None when it is no dict)."""
    return content.get("type") if isinstance(content, dict) else None


def handle(target: MessageTarget, content: Any, buffers: Sequence[Any]) -> str | None:
    """Act on one message; the status line to show when it fails, else None."""
    handler = HANDLERS.get(message_type(content)) if _hashable(message_type(content)) else None
    if handler is None:
        return f"error: unknown message from the front end: {shown(content)}"
    try:
        handler(target, content, buffers)
    except (ValueError, TypeError) as exc:
        return status_error(exc)
    except Exception as exc:  # the kernel never dies of a message
        return status_error(exc, named=True)
    return None


def status_error(exc: BaseException, named: bool = False) -> str:
    """The status line of a refused message or trait update: ``"error: "`` and what is wrong,
    cut to ``STATUS_CHARS`` (a refused value may print as thousands of digits); ``named``: with
    the exception's type first."""
    text = f"{type(exc).__name__}: {exc}" if named else str(exc)
    if len(text) > STATUS_CHARS:
        text = text[: STATUS_CHARS - 1] + "…"
    return f"error: {text}"


def _hashable(value: Any) -> bool:
    return isinstance(value, str | int | float | bool | type(None))
