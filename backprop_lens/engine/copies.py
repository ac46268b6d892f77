"""Weighted sums of maps over many inputs made from each example: the noisy copies of SmoothGrad,
the points on the path of Integrated Gradients.

The copies go through the network as batches: every copy of every example is one row, and rows
are cut into chunks of at most :data:`COPY_ELEMENTS` input elements, one forward pass (and one
backward pass per target) each. The target is chosen once per example, on the example itself,
and then seeds every copy of it: ``"max"`` is the top class of ``x``, not of each noisy copy.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np
import torch

from .attribute import forward_pass, scores_of
from .method_base import Request
from .methods import Method, get_method
from .targets import Seeds, make_seeds

#: A forward pass takes at most this many input elements of copies (16 images at 224×224):
#: larger batches do not run faster on a CPU, and the saved activations grow with the batch.
COPY_ELEMENTS = 16 * 3 * 224 * 224


def rule_method(name: object, what: str, allowed: Sequence[str]) -> Method:
    """The rule method ``name`` of ``allowed``, for the setting ``what``; a clear error else."""
    if not isinstance(name, str) or name not in allowed:
        raise ValueError(f"{what} must be one of {list(allowed)}; got {name!r}")
    found = get_method(name)
    assert isinstance(found, Method)
    return found


def check_batch_size(value: object) -> None:
    """``batch_size``: None (chosen by input size) or a positive int."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Integral)
                              or value < 1):
        raise ValueError(f"batch_size must be a positive int or None; got {value!r}")


def rows_per_pass(x: torch.Tensor, batch_size: int | None) -> int:
    """How many copies one forward pass takes (see :data:`COPY_ELEMENTS`)."""
    return batch_size or max(1, COPY_ELEMENTS // x[0].numel())


def _repeat_label(label: object, copies: int) -> object:
    """``label`` for the copies: one per example becomes one per copy (rows example-major)."""
    if label is None or isinstance(label, str | numbers.Integral):
        return label
    if isinstance(label, torch.Tensor | np.ndarray) and label.ndim == 0:
        return label
    values = list(label.reshape(-1)) if isinstance(label, torch.Tensor | np.ndarray) \
        else list(label)  # type: ignore[call-overload]
    return [v for v in values for _ in range(copies)]


def _target_seeds(request: Request, n_units: int) -> Seeds | None:
    """The seeds of the examples themselves (None for ``"cost"``: that is taken per copy).
    Only ``"max"`` needs the scores' values; the other targets only their width."""
    target, n = request.target, request.x.shape[0]
    if isinstance(target, str) and target == "cost":
        return None
    if isinstance(target, str) and target == "max":
        scores = scores_of(request.module, request.x, request.layer, request.output)
    else:
        scores = torch.zeros(n, n_units, device=request.x.device, dtype=request.x.dtype)
    return make_seeds(scores, target, seed=request.seed, label=request.label,
                      at_output=request.layer is None)


def _chunk_seeds(chosen: Seeds, scores: torch.Tensor, example: torch.Tensor) -> Seeds:
    """``chosen`` (per example) spread over a chunk's rows, ``example`` giving each row's."""
    if chosen.batched:  # (K, 1, U): one example, several targets
        grad = chosen.grad_outputs.expand(-1, scores.shape[0], -1)
    else:
        grad = chosen.grad_outputs[example]
    return Seeds(scores, grad.to(scores.dtype), chosen.batched)


def weighted_maps(request: Request, rule: Method, points: torch.Tensor, weights: torch.Tensor,
                  batch_size: int | None = None, *, times_input: bool = False) -> torch.Tensor:
    """Σ_s weights[s] · map(points[n, s]) for every example n, under ``rule``; with
    ``times_input``, each copy's map is multiplied by that copy (input × gradient).

    Args:
        request: the ``attribute`` call (its ``x``, target, layer, label, output, strict).
        rule: the rule method of the backward passes (saliency, DeconvNet, GBP).
        points: (N, S, C, H, W), the S inputs made from each example.
        weights: (S,), the weight of each copy.
        batch_size: copies per forward pass; None: by :func:`rows_per_pass`.

    Returns:
        (N, C, H, W), or (K, C, H, W) for K targets of one example.
    """
    n, copies = points.shape[:2]
    rows = points.reshape(n * copies, *points.shape[2:])
    example = torch.arange(n, device=rows.device).repeat_interleave(copies)
    row_weight = weights.to(rows).repeat(n)
    label = _repeat_label(request.label, copies)
    per_pass = rows_per_pass(request.x, batch_size)
    chosen: Seeds | None = None
    total: torch.Tensor | None = None
    for start in range(0, rows.shape[0], per_pass):
        part = slice(start, start + per_pass)
        with forward_pass(request.module, rows[part], rule, layer=request.layer,
                          output=request.output, strict=request.strict) as run:
            if chosen is None and not (isinstance(request.target, str)
                                       and request.target == "cost"):
                chosen = _target_seeds(request, run.scores.shape[1])
            if chosen is None:  # the cost of each copy, with its example's label
                seeds = make_seeds(run.scores, "cost", seed=None, label=label[part]
                                   if isinstance(label, list) else label,
                                   at_output=request.layer is None)
            else:
                seeds = _chunk_seeds(chosen, run.scores, example[part])
            grads = run.gradients(seeds, rule.relu_rule)
        grads = grads.reshape(-1, run.x_in.shape[0], *rows.shape[1:]) * \
            row_weight[part].view(1, -1, 1, 1, 1)
        if times_input:
            grads = grads * rows[part]
        summed = torch.zeros(grads.shape[0], n, *rows.shape[1:], dtype=rows.dtype,
                             device=rows.device).index_add_(1, example[part], grads)
        total = summed if total is None else total + summed
    assert total is not None
    return total.reshape(-1, *rows.shape[1:])
