"""``attribute``: the one entry point of the engine."""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import torch
from torch import nn

from .activations import channel_scores, logits_from_output
from .methods import Method, get_method
from .model_guard import LayerCapture, ModuleTracker, eval_mode
from .rules import relu_rule_applied
from .targets import Seeds, make_seeds

#: At most this many targets share one vectorised backward pass; bounds the memory of long lists.
TARGET_CHUNK = 16

#: Targets share a vectorised backward pass while (targets × input elements) stays under this.
#: Measured on a 2-core CPU with VGG-16: ten 64×64 maps come 1.8× faster vectorised than one by
#: one, while at 224×224 the ten-fold gradients outgrow the caches and one by one is faster.
VECTORISED_ELEMENTS = 2**18


class NonReluActivationWarning(UserWarning):
    """The model runs activations that have no DeconvNet / guided-backprop rule."""


def attribute(
    model: nn.Module | object,
    x: torch.Tensor,
    method: str = "guided_backprop",
    target: object = "max",
    layer: str | None = None,
    seed: int | None = None,
    label: object = None,
    *,
    strict: bool = False,
) -> torch.Tensor:
    """The map of ``method`` for ``target``: the gradient-like signal at the input ``x``.

    Args:
        model: an ``nn.Module``, or a ``LensModel`` (its ``.module`` is used). Left unchanged.
        x: a float tensor (N, C, H, W), already preprocessed, on the model's device and dtype.
        method: one of ``backprop_lens.METHODS``.
        target: a class index; a sequence of class indices (``N == 1``, returns (K, C, H, W),
            one map per target from one forward pass); ``"max"`` (each example's top score);
            ``"random"`` (uniform, reproducible with ``seed``); ``"cost"`` (the paper's
            Σ(softmax − onehot(label))², needs ``label``). With ``layer``, the indices name
            channels (conv) or units (linear) of that layer.
        layer: a name from ``model.named_modules()``; the backward pass starts from the sum of
            the chosen channel's activation there.
        seed: the seed of ``target="random"``.
        label: the true class of each example (int or one per example), for ``target="cost"``.
        strict: raise instead of warning when the model runs activations other than ReLU,
            which have no DeconvNet / guided-backprop rule.

    The model output used is a tensor, the first element of a tuple or list, or the
    ``"logits"``/``"out"`` entry of a mapping (or a ``.logits`` attribute). The maps are computed
    in eval mode; every submodule's training flag is restored afterwards.

    Returns:
        A detached tensor like ``x`` (or (K, C, H, W) for a sequence target).
    """
    module = as_module(model)
    chosen = get_method(method)
    _check_rules_can_apply(module, chosen)
    check_input(x, module)
    capture = None if layer is None else LayerCapture(_find_layer(module, layer), layer)

    x_in = x.detach().requires_grad_(True)
    other_activations: dict[str, set[str]] = {}
    with ExitStack() as stack:
        stack.enter_context(eval_mode(module))
        stack.enter_context(torch.enable_grad())
        stack.enter_context(_rule_scope(module, chosen, other_activations))
        if capture is None:
            scores = logits_from_output(module(x_in))
        else:
            scores = channel_scores(capture.run(module, x_in), capture.name)
    _report_other_activations(chosen, other_activations, strict)
    seeds = make_seeds(scores, target, seed=seed, label=label, at_output=layer is None)
    return _backward(seeds, x_in)


@contextmanager
def _rule_scope(
    module: nn.Module, method: Method, seen: dict[str, set[str]]
) -> Iterator[None]:
    """Apply ``method``'s ReLU rule (if any), noting where other activations run."""
    if method.relu_rule is None:
        yield
        return
    with ModuleTracker(module) as tracker:

        def note(function: str) -> None:
            seen.setdefault(tracker.current, set()).add(function)

        with relu_rule_applied(method.relu_rule, note):
            yield


def _report_other_activations(method: Method, seen: dict[str, set[str]], strict: bool) -> None:
    if not seen:
        return
    where = "; ".join(f"{name} ({', '.join(sorted(fns))})" for name, fns in sorted(seen.items()))
    message = (f"{method.name}: the model runs activations other than ReLU, which have no "
               f"{method.name} rule; the plain gradient flows through them in: {where}")
    if strict:
        raise ValueError(message + " (strict=True)")
    warnings.warn(message, NonReluActivationWarning, stacklevel=3)


def targets_per_pass(x: torch.Tensor) -> int:
    """How many targets one backward pass handles for an input like ``x`` (see above)."""
    return max(1, min(TARGET_CHUNK, VECTORISED_ELEMENTS // x[0].numel()))


def _backward(seeds: Seeds, x_in: torch.Tensor) -> torch.Tensor:
    if not seeds.batched:
        (grad,) = torch.autograd.grad(seeds.outputs, x_in, seeds.grad_outputs)
        return grad.detach()
    chunk = targets_per_pass(x_in)
    chunks = seeds.grad_outputs.split(chunk)
    maps = []
    for i, part in enumerate(chunks):
        retain = i < len(chunks) - 1  # one forward pass serves every chunk
        if chunk == 1:
            (grad,) = torch.autograd.grad(seeds.outputs, x_in, part[0], retain_graph=retain)
        else:
            (grad,) = torch.autograd.grad(
                seeds.outputs, x_in, part, retain_graph=retain, is_grads_batched=True
            )
        maps.append(grad.reshape(-1, *x_in.shape[1:]))
    return torch.cat(maps).detach()


def as_module(model: object) -> nn.Module:
    if isinstance(model, nn.Module):
        return model
    inner = getattr(model, "module", None)
    if isinstance(inner, nn.Module):
        return inner
    raise TypeError(f"model must be a torch.nn.Module or a LensModel; got {type(model).__name__}")


def _check_rules_can_apply(module: nn.Module, method: Method) -> None:
    """TorchScript runs outside Python, where no rule reaches its ReLUs: refuse, don't guess."""
    if method.relu_rule is None:
        return
    scripted = next((n or "<model>" for n, m in module.named_modules()
                     if isinstance(m, torch.jit.ScriptModule)), None)
    if scripted is not None:
        raise TypeError(f"model contains a TorchScript module ({scripted}); {method.name} rules "
                        "cannot reach the ReLUs inside it. Pass the original (eager) nn.Module")


def check_input(x: object, module: nn.Module) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor shaped (N, C, H, W); got {type(x).__name__}")
    if not x.dtype.is_floating_point:
        raise TypeError(f"x must be a floating-point tensor; got {x.dtype}")
    if x.ndim != 4:
        raise ValueError(f"x must have 4 dimensions (N, C, H, W); got shape {tuple(x.shape)}")
    if x.shape[0] == 0:
        raise ValueError("x holds no example (N = 0)")
    if not torch.isfinite(x).all():
        raise ValueError("x contains NaN or infinite values")
    conv = next((m for m in module.modules() if isinstance(m, nn.Conv2d)), None)
    if conv is not None and x.shape[1] != conv.in_channels:
        raise ValueError(f"x has {x.shape[1]} channels but the model's first convolution expects "
                         f"{conv.in_channels} (x shape {tuple(x.shape)})")
    param = next(module.parameters(), None)
    if param is not None and (param.device != x.device or param.dtype != x.dtype):
        raise ValueError(f"x is {x.dtype} on {x.device} but the model's parameters are "
                         f"{param.dtype} on {param.device}; move one to the other")


def _find_layer(module: nn.Module, layer: object) -> nn.Module:
    if not isinstance(layer, str):
        raise TypeError(f"layer must be a module name (str) or None; got {type(layer).__name__}")
    named = dict(module.named_modules())
    if layer and layer in named:
        return named[layer]
    close = difflib.get_close_matches(layer, [n for n in named if n], n=3)
    hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
    raise ValueError(f"layer must be a name from model.named_modules(); got {layer!r}{hint}")
