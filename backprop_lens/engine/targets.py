"""Turning a ``target`` argument into the gradient seeds that start the backward pass.

The backward pass starts from a score matrix ``scores`` (N, U): the model's logits, or, for an
intermediate ``layer``, each channel's summed activation (each unit's value for a linear layer).
A target chooses one unit per example (``int``, ``"max"``, ``"random"``), several units for a
single example (a sequence), or the paper's cost Σ(softmax − onehot(label))².
"""

from __future__ import annotations

import numbers
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

TargetSpec = int | str | Sequence[int] | torch.Tensor | np.ndarray

NAMED_TARGETS = ("max", "random", "cost")


@dataclass(frozen=True)
class Seeds:
    """What to differentiate and with which seed vectors.

    ``outputs`` is the tensor to back-propagate from; ``grad_outputs`` has its shape, or one more
    leading dimension of length K when ``batched`` (one backward pass per target, vectorised).
    """

    outputs: torch.Tensor
    grad_outputs: torch.Tensor
    batched: bool


def _as_index(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral | torch.Tensor):
        raise TypeError(f"{what} must be an int; got {type(value).__name__}")
    if isinstance(value, torch.Tensor):
        if value.numel() != 1 or value.dtype.is_floating_point or value.dtype == torch.bool:
            raise TypeError(f"{what} must be an int; got a tensor of {value.dtype}")
        return int(value.item())
    return int(value)


def _check_range(index: int, n_units: int, what: str) -> int:
    if not 0 <= index < n_units:
        raise ValueError(f"{what} must be in [0, {n_units}); got {index}")
    return index


def _one_hot(indices: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.one_hot(indices, scores.shape[1]).to(scores.dtype)


def _sequence(target: object) -> list[object] | None:
    """The target as a list when it is a sequence of indices, else ``None``."""
    if isinstance(target, torch.Tensor | np.ndarray):
        return None if target.ndim == 0 else list(target.reshape(-1))
    if isinstance(target, Sequence) and not isinstance(target, str):
        return list(target)
    return None


def random_units(n_examples: int, n_units: int, seed: int | None) -> torch.Tensor:
    """Uniform unit indices, one per example; reproducible for a given ``seed``.

    A private generator is used so that the caller's global random state is not touched.
    """
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
        raise TypeError(f"seed must be an int or None; got {type(seed).__name__}")
    rng = np.random.default_rng(secrets.randbits(64) if seed is None else int(seed))
    return torch.from_numpy(rng.integers(0, n_units, size=n_examples))


def _labels(label: object, n_examples: int, n_units: int) -> torch.Tensor:
    if label is None:
        raise ValueError('target="cost" needs label= (the true class of each example)')
    items = _sequence(label)
    values = [label] * n_examples if items is None else items
    if len(values) != n_examples:
        raise ValueError(f"label must hold one class per example ({n_examples}); got {len(values)}")
    return torch.tensor([_check_range(_as_index(v, "label"), n_units, "label") for v in values])


def paper_cost(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The paper's cost per example: Σ_c (softmax(z)_c − onehot(label)_c)²."""
    residual = logits.softmax(dim=1) - _one_hot(labels.to(logits.device), logits)
    return (residual**2).sum(dim=1)


def make_seeds(
    scores: torch.Tensor,
    target: object,
    *,
    seed: int | None,
    label: object,
    at_output: bool,
) -> Seeds:
    """Resolve ``target`` against ``scores`` (N, U) into the seeds of the backward pass."""
    n_examples, n_units = scores.shape
    what = "target" if at_output else "target (a channel of layer)"
    if isinstance(target, str):
        if target == "max":
            indices = scores.detach().argmax(dim=1)
        elif target == "random":
            indices = random_units(n_examples, n_units, seed).to(scores.device)
        elif target == "cost":
            if not at_output:
                raise ValueError(
                    'target="cost" is defined on the model output only; use layer=None'
                )
            cost = paper_cost(scores, _labels(label, n_examples, n_units))
            return Seeds(cost, torch.ones_like(cost), batched=False)
        else:
            raise ValueError(f"target must be an int, a sequence of ints, or one of "
                             f"{NAMED_TARGETS}; got {target!r}")
        return Seeds(scores, _one_hot(indices, scores), batched=False)

    items = _sequence(target)
    if items is None:
        index = _check_range(_as_index(target, what), n_units, what)
        indices = torch.full((n_examples,), index, device=scores.device)
        return Seeds(scores, _one_hot(indices, scores), batched=False)
    if n_examples != 1:
        raise ValueError(f"a sequence target needs a single example (x of shape (1, C, H, W)); "
                         f"got N={n_examples}. Pass an int target, or call once per example")
    if not items:
        raise ValueError("target sequence is empty; give at least one index")
    indices = torch.tensor([_check_range(_as_index(v, what), n_units, what) for v in items])
    return Seeds(scores, _one_hot(indices.to(scores.device), scores).unsqueeze(1), batched=True)
