"""Which part of a model's output holds the class scores.

Models return a tensor, or a tuple, list, namedtuple, dict, dataclass or Hugging Face
``ModelOutput`` holding several. The logits are found by name first, then by shape:

1. a ``logits`` field, key or attribute, wherever it sits in the output (nested too);
2. else the one tensor shaped (N, n_classes), N being the batch size;
3. else the choice is ambiguous and refused, with a message that lists the candidates and
   says how to choose: ``output=`` (an index, a key or attribute name, or a function of the
   output) or a wrapper module that returns the logits.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import torch

#: ``output=``: an index, a key or attribute name, or a function from the output to the logits.
OutputChoice = int | str | Callable[[Any], Any] | None

_DEPTH = 3  # how deep nested outputs are searched


def _children(value: object) -> Iterator[tuple[str, object]]:
    """(label, child) pairs of a container; labels as the user would write them."""
    if isinstance(value, Mapping):
        for key, child in value.items():
            yield f"[{key!r}]", child
    elif isinstance(value, tuple) and hasattr(value, "_fields"):  # a namedtuple
        for name in value._fields:
            yield f".{name}", getattr(value, name)
    elif isinstance(value, tuple | list):
        for index, child in enumerate(value):
            yield f"[{index}]", child
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for item in dataclasses.fields(value):
            yield f".{item.name}", getattr(value, item.name)
    elif isinstance(getattr(value, "logits", None), torch.Tensor):
        yield ".logits", value.logits  # type: ignore[attr-defined]


def _tensors(value: object, path: str = "", depth: int = 0) -> Iterator[tuple[str, torch.Tensor]]:
    """Every tensor in the output, with its path (``[0]``, ``.logits``, ``['head'].logits``)."""
    if isinstance(value, torch.Tensor):
        yield path, value
    elif depth < _DEPTH:
        for label, child in _children(value):
            yield from _tensors(child, path + label, depth + 1)


def _is_logits_path(path: str) -> bool:
    return path.endswith((".logits", "['logits']"))


def _pick(output: object, choice: OutputChoice) -> object:
    if callable(choice):
        return choice(output)
    if isinstance(choice, bool) or not isinstance(choice, int | str):
        raise TypeError(f"output must be an int (index), a str (key or attribute name), a "
                        f"function of the model's output, or None; got {type(choice).__name__}")
    if isinstance(choice, int):
        if isinstance(output, tuple | list) and -len(output) <= choice < len(output):
            return output[choice]
        raise ValueError(f"output={choice}: the model returned {_describe(output)}, which has "
                         f"no element {choice}")
    if isinstance(output, Mapping) and choice in output:
        return output[choice]
    if not isinstance(output, Mapping) and hasattr(output, choice):
        return getattr(output, choice)
    raise ValueError(f"output={choice!r}: the model returned {_describe(output)}, which has no "
                     f"key or attribute {choice!r}")


def _describe(output: object) -> str:
    found = [f"{path or 'the output'} {tuple(t.shape)}" for path, t in _tensors(output)]
    kind = type(output).__name__
    return f"a {kind} holding tensors {', '.join(found)}" if found else f"a {kind}"


def logits_from_output(
    output: object, choice: OutputChoice = None, batch: int | None = None
) -> torch.Tensor:
    """The class scores (N, n_classes) inside what the model returned (see the module doc).

    ``choice`` is the ``output=`` argument; ``batch`` the number of examples N, when known.

    Raises:
        TypeError: no tensor in the output, or a bad ``choice``.
        ValueError: the chosen tensor is not (N, n_classes), or the choice is ambiguous.
    """
    chosen = _pick(output, choice) if choice is not None else _infer(output, batch)
    if not isinstance(chosen, torch.Tensor):
        raise TypeError(f"the model output chosen (output={choice!r}) is "
                        f"{type(chosen).__name__}; expected a tensor of logits (N, n_classes)")
    if chosen.ndim != 2:
        raise ValueError(f"the model output must be logits shaped (N, n_classes); got shape "
                         f"{tuple(chosen.shape)}. Use layer= to start from an inner module, "
                         "or output= to choose another part of the output")
    return chosen


def _infer(output: object, batch: int | None) -> object:
    if isinstance(output, torch.Tensor):
        return output
    tensors = list(_tensors(output))
    if not tensors:
        raise TypeError(f"the model returned {type(output).__name__}; expected a tensor of "
                        "logits (N, n_classes), or a tuple/list/mapping/dataclass holding one")
    named = [(path, t) for path, t in tensors if _is_logits_path(path)]
    if len({id(t) for _, t in named}) == 1:
        return named[0][1]
    if named:
        _ambiguous(output, named, "several entries named logits")
    if batch is None:
        batch = next((t.shape[0] for _, t in tensors if t.ndim), None)
    scores = [(path, t) for path, t in tensors if t.ndim == 2 and t.shape[0] == batch]
    if len({id(t) for _, t in scores}) == 1:
        return scores[0][1]
    if scores:
        _ambiguous(output, scores, "several (N, n_classes) tensors and none named logits")
    if len(tensors) == 1:
        return tensors[0][1]  # the shape check names what is wrong with it
    raise ValueError(f"the model output must hold logits shaped (N, n_classes); the model "
                     f"returned {_describe(output)}. Use layer= to start from an inner module, "
                     "or output= to choose a part of the output")


def _ambiguous(output: object, candidates: list[tuple[str, torch.Tensor]], why: str) -> None:
    listed = ", ".join(f"{path} {tuple(t.shape)}" for path, t in candidates)
    path = candidates[-1][0]
    top = path.count("[") + path.count(".") == 1
    if top and path.startswith("["):
        hint = f"output={path[1:-1]}"
    elif top:
        hint = f"output={path[1:]!r}"
    else:
        hint = f"output=lambda out: out{path}"
    raise ValueError(
        f"the model returned a {type(output).__name__} with {why}: {listed}. Say which holds "
        f"the class scores with output= (e.g. {hint}: an index, a key or attribute name, or a "
        "function of the output), or wrap the model so that it returns the logits")
