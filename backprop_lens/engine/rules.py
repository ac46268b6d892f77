"""The rectifier backward rules that tell saliency, DeconvNet and guided backprop apart.

The three methods share one forward pass and one backward pass; they differ only in what the
backward pass does at each rectifier (Nie, Zhang & Patel 2018, section 3). ``g`` is the gradient
arriving from above, ``a`` the rectifier's input, and the forward mask is ``m = 1[0 < a]`` for a
ReLU, ``m = 1[0 < a < c]`` for a rectifier capped at ``c`` (ReLU6: ``c = 6``):

- saliency:         g * m                 (the plain gradient)
- DeconvNet:        relu(g)
- guided backprop:  relu(g) * m

A rule is attached as a hook to each rectifier node of the autograd graph of one forward pass
(found by :func:`backprop_lens.engine.graph.scan`). The hooks live on that graph only, never on
the model, and are removed by :func:`rules_attached` on exit; the forward pass itself runs
unchanged, which is what activation checkpointing needs when it recomputes it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.hooks import RemovableHandle

from .graph import Rectifier
from .interrupt import current_check, stop_if_asked

Grads = tuple[torch.Tensor | None, ...]


@dataclass(frozen=True)
class ReluRule:
    """How a rectifier passes a gradient backwards.

    ``attach(rectifier)`` hooks one rectifier node so that its backward follows the rule.
    """

    name: str
    attach: Callable[[Rectifier], RemovableHandle]


def _forward_mask(source: torch.Tensor, upper: float | None) -> torch.Tensor:
    """``1[0 < a < upper]``; ``source`` is the node's saved input or output (same mask)."""
    mask = source > 0
    return mask if upper is None else mask & (source < upper)


def _attach_guided(rectifier: Rectifier) -> RemovableHandle:
    node = rectifier.node
    if rectifier.strict_mask:
        # The node's own backward gives g·m in a fresh tensor; relu(g)·m == relu(g·m), so one
        # in-place clamp of that tensor finishes the rule (no extra allocation).
        def guided(grad_inputs: Grads, grad_outputs: Grads) -> Grads:
            first = grad_inputs[0]
            return (None if first is None else first.clamp_(min=0), *grad_inputs[1:])

        return node.register_hook(guided)

    # clamp's own backward also passes a == 0 and a == c: build the strict mask from the input
    # it saved. The hook holds the node; removing the handle breaks that cycle.
    upper = rectifier.upper

    def guided_from_input(grad_inputs: Grads, grad_outputs: Grads) -> Grads:
        grad = grad_outputs[0]
        if grad is None or grad_inputs[0] is None:
            return grad_inputs
        mask = _forward_mask(node._saved_self, upper)
        return (grad.clamp(min=0) * mask, *grad_inputs[1:])

    return node.register_hook(guided_from_input)


def _deconvnet(grad_inputs: Grads, grad_outputs: Grads) -> Grads:
    grad = grad_outputs[0]
    if grad is None or grad_inputs[0] is None:
        return grad_inputs
    return (grad.clamp(min=0), *grad_inputs[1:])


def _attach_deconvnet(rectifier: Rectifier) -> RemovableHandle:
    return rectifier.node.register_hook(_deconvnet)


DECONVNET_RULE = ReluRule("relu(g)", attach=_attach_deconvnet)
GUIDED_RULE = ReluRule("relu(g)*m", attach=_attach_guided)


def _attach_plain(rectifier: Rectifier) -> RemovableHandle | None:
    """Saliency needs no rule, except at clamp nodes, whose own backward also passes ``a == 0``
    (and ``a == c``): there ``g·m`` is applied, so that the map does not depend on how a ReLU
    is written."""
    if rectifier.strict_mask:
        return None
    node, upper = rectifier.node, rectifier.upper

    def plain(grad_inputs: Grads, grad_outputs: Grads) -> Grads:
        first = grad_inputs[0]
        if first is None:
            return grad_inputs
        return (first * _forward_mask(node._saved_self, upper), *grad_inputs[1:])

    return node.register_hook(plain)


@contextmanager
def rules_attached(rule: ReluRule | None, rectifiers: Sequence[Rectifier]) -> Iterator[None]:
    """Inside this block the given rectifier nodes back-propagate by ``rule`` (None: ``g·m``,
    the plain gradient); inside ``interrupt.interruptible``, each is a checkpoint too."""
    attach: Callable[[Rectifier], RemovableHandle | None] = (
        _attach_plain if rule is None else rule.attach)
    handles: list[Any] = [h for h in map(attach, rectifiers) if h is not None]
    check = current_check()
    if check is not None:  # the backward pass's checkpoints (see ``interrupt``)
        handles += [r.node.register_prehook(lambda grads: stop_if_asked(check))
                    for r in rectifiers]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
