"""``attribute``: the one entry point of the engine.

One forward pass, run exactly as the model is written (in eval mode); then the rules are
attached to the rectifier nodes of the graph it built (see ``graph`` and ``rules``), and one
backward pass (vectorised over targets) gives the maps.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import torch
from torch import nn

from .activations import channel_scores
from .graph import Rectifier, scan
from .methods import Method, get_method
from .model_guard import CallRecorder, LayerCapture, eval_mode
from .outputs import OutputChoice, logits_from_output
from .report import NonReluActivationWarning, report_without_rule
from .rules import rules_attached
from .targets import Seeds, make_seeds

__all__ = ["NonReluActivationWarning", "attribute", "check_input"]

#: At most this many targets share one vectorised backward pass; bounds the memory of long lists.
TARGET_CHUNK = 16

#: Targets share a vectorised backward pass while (targets × input elements) stays under this.
#: Measured on a 2-core CPU with VGG-16: ten 64×64 maps come 1.8× faster vectorised than one by
#: one, while at 224×224 the ten-fold gradients outgrow the caches and one by one is faster.
VECTORISED_ELEMENTS = 2**18


def attribute(
    model: nn.Module | object,
    x: torch.Tensor,
    method: str = "guided_backprop",
    target: object = "max",
    layer: str | None = None,
    seed: int | None = None,
    label: object = None,
    *,
    output: OutputChoice = None,
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
        output: which part of the model's output holds the logits, when it returns several:
            an index, a key or attribute name, or a function of the output. By default a
            ``logits`` field or key wherever it sits, else the one (N, n_classes) tensor; an
            ambiguous output is refused with a message saying how to choose.
        strict: raise instead of warning when the model runs operations that have no
            DeconvNet / guided-backprop rule (GELU, SiLU, sigmoid, …).

    The rules reach every rectifier the forward pass runs (ReLU, ReLU6, ``clamp(min=0)``,
    ``hardtanh(0, 6)``, ``nn.Threshold(0, 0)``, …), however written and on whatever thread,
    through the autograd graph of this one forward pass. The maps are computed in eval mode;
    every submodule's training flag is restored afterwards. ``torch.no_grad()`` and
    ``torch.inference_mode()`` around the call, or an ``x`` made under them, are fine.

    Returns:
        A detached tensor like ``x`` (or (K, C, H, W) for a sequence target).

    Raises:
        TypeError, ValueError: bad arguments, each named; see also ``graph.CheckpointError``.
    """
    module = as_module(model)
    chosen = get_method(method)
    _check_rules_can_apply(module, chosen)
    check_input(x, module)
    capture = None if layer is None else LayerCapture(_find_layer(module, layer), layer)

    with ExitStack() as stack:
        stack.enter_context(torch.inference_mode(False))
        stack.enter_context(torch.enable_grad())
        # A copy of an inference-mode tensor is an ordinary one, which autograd can use.
        x_in = (x.clone() if x.is_inference() else x).detach().requires_grad_(True)
        stack.enter_context(eval_mode(module))  # also while checkpointing recomputes
        recorder = stack.enter_context(CallRecorder(module))
        with _shape_errors_named(recorder, x.shape):
            if capture is None:
                scores = logits_from_output(module(x_in), output, x.shape[0])
            else:
                scores = channel_scores(capture.run(module, x_in), capture.name)
        graph = scan(scores, x_in)
        if chosen.relu_rule is not None:
            _demote_thresholds_with_a_value(graph.rectifiers, graph.without_rule, recorder)
            owners = recorder.owners(graph.without_rule)
            in_order = sorted(graph.without_rule, key=lambda node: node._sequence_nr())
            found = [(owners[node], graph.without_rule[node]) for node in in_order]
            report_without_rule(module, chosen.name, found, strict)
        seeds = make_seeds(scores, target, seed=seed, label=label, at_output=layer is None)
        with rules_attached(chosen.relu_rule, graph.rectifiers):
            return _backward(seeds, x_in)


@contextmanager
def _shape_errors_named(recorder: CallRecorder, shape: torch.Size) -> Iterator[None]:
    """A forward pass that fails on a layer given an input of the wrong width raises a
    ``ValueError`` naming the layer that ran, not the first one registered."""
    try:
        yield
    except RuntimeError as error:
        if recorder.mismatch is None:
            raise
        raise ValueError(f"{recorder.mismatch} (x shape {tuple(shape)})") from error


def _demote_thresholds_with_a_value(
    rectifiers: list[Rectifier], without_rule: dict[Any, str], recorder: CallRecorder
) -> None:
    """``nn.Threshold(0, v)`` with ``v != 0`` is not a ReLU, though its graph node looks like
    one (the node does not keep ``v``); the module that ran it says so."""
    outputs = {node: call.module.value for call in recorder.calls
               if isinstance(call.module, nn.Threshold) and call.module.value != 0
               for node in call.outputs}
    for rectifier in list(rectifiers):
        if rectifier.node in outputs:
            rectifiers.remove(rectifier)
            without_rule[rectifier.node] = f"threshold (at 0, value {outputs[rectifier.node]})"


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
    """The ``nn.Module`` to run: ``model``, a ``LensModel``'s ``.module``, or the original
    module of a ``torch.compile``-d one (the same function; the rules need its eager graph,
    which compiled code replaces by one opaque node)."""
    module = model if isinstance(model, nn.Module) else getattr(model, "module", None)
    if not isinstance(module, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module or a LensModel; got "
                        f"{type(model).__name__}")
    original = getattr(module, "_orig_mod", None)
    if type(module).__name__ == "OptimizedModule" and isinstance(original, nn.Module):
        return original
    return module


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
    """Check ``x`` against what is known before running the model.

    The input's width is checked by what runs (the first convolution or linear layer the
    forward pass calls; see ``attribute``), not here: the first one registered may run later.
    """
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
    param = next(module.parameters(), None)
    if param is not None and (param.device != x.device or param.dtype != x.dtype):
        raise ValueError(f"x is {x.dtype} on {x.device} but the model's parameters are "
                         f"{param.dtype} on {param.device}; move one to the other")
    made = next((name for name, t in (*module.named_parameters(), *module.named_buffers())
                 if t.is_inference()), None)
    if made is not None:
        raise ValueError(
            f"model: its tensors were made under torch.inference_mode() ({made!r} is an "
            "inference tensor), and autograd cannot differentiate through them. Build or load "
            "the model outside inference mode (torch.no_grad() is fine)")


def _find_layer(module: nn.Module, layer: object) -> nn.Module:
    if not isinstance(layer, str):
        raise TypeError(f"layer must be a module name (str) or None; got {type(layer).__name__}")
    named = dict(module.named_modules())
    if layer and layer in named:
        return named[layer]
    close = difflib.get_close_matches(layer, [n for n in named if n], n=3)
    hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
    raise ValueError(f"layer must be a name from model.named_modules(); got {layer!r}{hint}")
