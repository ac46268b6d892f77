"""The ReLU backward rules that tell saliency, DeconvNet and guided backprop apart.

The three methods share one forward pass and one backward pass; they differ only in what the
backward pass does at each ReLU (Nie, Zhang & Patel 2018, section 3). ``g`` is the gradient
arriving from above, ``a`` the ReLU's input:

- saliency:         g * 1[a > 0]          (the plain gradient; needs no rule at all)
- DeconvNet:        relu(g)
- guided backprop:  relu(g) * 1[a > 0]

A rule is applied to *every* ReLU the forward pass executes, however the model calls it
(``nn.ReLU`` in place or not, reused modules, ``F.relu``, ``torch.relu``, ``Tensor.relu``,
``relu_``), by a ``TorchFunctionMode`` that is active only inside :func:`relu_rule_applied`.
The mode lives on the calling thread, not on the model, so nothing is left behind on exit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode


@dataclass(frozen=True)
class ReluRule:
    """How a ReLU passes a gradient backwards.

    ``backward(grad, output)`` gets the incoming gradient and, when ``uses_output`` is true, the
    ReLU's forward output (``a > 0`` exactly where ``output > 0``); else ``None``, and nothing is
    kept from the forward pass.
    """

    name: str
    uses_output: bool
    backward: Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor]


def _deconvnet_backward(grad: torch.Tensor, output: torch.Tensor | None) -> torch.Tensor:
    return grad.clamp(min=0)


def _guided_backward(grad: torch.Tensor, output: torch.Tensor | None) -> torch.Tensor:
    assert output is not None
    # relu(g)·1[a>0] == relu(g·1[a>0]): the native ReLU backward, then one in-place clamp of the
    # fresh tensor it returns. Cheaper than masking by hand.
    return torch.ops.aten.threshold_backward(grad, output, 0).clamp_(min=0)


DECONVNET_RULE = ReluRule("relu(g)", uses_output=False, backward=_deconvnet_backward)
GUIDED_RULE = ReluRule("relu(g)*1[a>0]", uses_output=True, backward=_guided_backward)


class _RuledReLU(torch.autograd.Function):
    """A ReLU whose forward is the usual one and whose backward follows a :class:`ReluRule`."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, rule: ReluRule, inplace: bool) -> torch.Tensor:
        if inplace:
            ctx.mark_dirty(x)
            out = torch.relu_(x)
        else:
            out = torch.relu(x)
        ctx.rule = rule
        # Like the native ReLU, keep the output: a later in-place change to it is then caught
        # by autograd's version check instead of silently corrupting the mask.
        ctx.save_for_backward(out if rule.uses_output else None)
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        (output,) = ctx.saved_tensors
        return ctx.rule.backward(grad, output), None, None


_RELU: frozenset[Any] = frozenset({F.relu, torch.relu, torch.Tensor.relu})
_RELU_INPLACE: frozenset[Any] = frozenset({torch.relu_, F.relu_, torch.Tensor.relu_})

#: Activations that have no DeconvNet/GBP rule: the plain gradient flows through them.
OTHER_ACTIVATIONS: frozenset[Any] = frozenset(
    {
        F.gelu, F.silu, F.mish, F.elu, F.selu, F.celu, F.leaky_relu, F.rrelu, F.prelu,
        F.hardtanh, F.relu6, F.hardswish, F.hardsigmoid, F.softplus, F.softsign, F.tanhshrink,
        F.logsigmoid, F.glu, torch.sigmoid, torch.tanh, torch.Tensor.sigmoid, torch.Tensor.tanh,
        F.sigmoid, F.tanh,
    }
)


def _is_inplace(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    """``F.relu(x, inplace)`` may pass ``inplace`` by position or by keyword."""
    return bool(kwargs.get("inplace", args[1] if len(args) > 1 else False))


class _ReluRuleMode(TorchFunctionMode):
    """Routes every ReLU call through :class:`_RuledReLU`; reports other activations."""

    def __init__(self, rule: ReluRule, on_other_activation: Callable[[str], None]) -> None:
        super().__init__()
        self.rule = rule
        self.on_other_activation = on_other_activation

    def __torch_function__(
        self,
        func: Any,
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        kwargs = kwargs or {}
        if func in _RELU:
            inplace = func is F.relu and _is_inplace(args, kwargs)
            return _RuledReLU.apply(args[0], self.rule, inplace)
        if func in _RELU_INPLACE:
            return _RuledReLU.apply(args[0], self.rule, True)
        if func in OTHER_ACTIVATIONS:
            self.on_other_activation(getattr(func, "__name__", repr(func)))
        return func(*args, **kwargs)


@contextmanager
def relu_rule_applied(
    rule: ReluRule, on_other_activation: Callable[[str], None]
) -> Iterator[None]:
    """Inside this block every ReLU executed on this thread back-propagates by ``rule``.

    ``on_other_activation(function_name)`` is called for each non-ReLU activation executed.
    """
    with _ReluRuleMode(rule, on_other_activation):
        yield
