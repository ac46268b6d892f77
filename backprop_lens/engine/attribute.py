"""``attribute``: the one entry point of the engine.

One forward pass, run exactly as the model is written (in eval mode); then the rules are
attached to the rectifier nodes of the graph it built (see ``graph`` and ``rules``), and one
backward pass (vectorised over targets) gives the maps.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .activations import channel_scores
from .graph import GraphScan, Rectifier, scan
from .method_base import MethodObject, Request
from .methods import Method, get_method
from .model_guard import CallRecorder, LayerCapture, eval_twin
from .outputs import OutputChoice, logits_from_output
from .report import NonReluActivationWarning, report_without_rule
from .rules import ReluRule, rules_attached
from .targets import Seeds, make_seeds

__all__ = ["ForwardPass", "NonReluActivationWarning", "attribute", "backward", "check_input",
           "forward_pass", "scores_of"]

#: At most this many targets share one vectorised backward pass; bounds the memory of long lists.
TARGET_CHUNK = 16

#: Targets share a vectorised backward pass while (targets × input elements) stays under this.
#: Measured on a 2-core CPU with VGG-16: ten 64×64 maps come 1.8× faster vectorised than one by
#: one, while at 224×224 the ten-fold gradients outgrow the caches and one by one is faster.
VECTORISED_ELEMENTS = 2**18


def attribute(
    model: nn.Module | object,
    x: torch.Tensor,
    method: str | Method | MethodObject = "guided_backprop",
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
        method: one of ``backprop_lens.METHODS``, or a method object with its settings
            (``SmoothGrad(base="guided_backprop", samples=25)``, see ``backprop_lens.methods``).
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
        A detached tensor like ``x`` (or (K, C, H, W) for a sequence target). Grad-CAM's one
        channel is repeated over the C channels.

    Raises:
        TypeError, ValueError: bad arguments, each named; see also ``graph.CheckpointError``.
    """
    module = as_module(model)
    chosen = get_method(method)
    for rule_method in _rule_methods(chosen):
        check_rules_can_apply(module, rule_method)
    check_input(x, module)
    if isinstance(chosen, MethodObject):
        return chosen.compute(Request(model, module, x, target, layer, seed, label, output, strict))
    with forward_pass(module, x, chosen, layer=layer, output=output, strict=strict) as run:
        seeds = make_seeds(run.scores, target, seed=seed, label=label, at_output=layer is None)
        return run.gradients(seeds, chosen.relu_rule)


@dataclass(frozen=True)
class ForwardPass:
    """One forward pass, ready for backward passes: the input leaf ``x_in``, the ``scores``
    (N, U) the targets choose from, and the rectifier nodes of its graph."""

    x_in: torch.Tensor
    scores: torch.Tensor
    rectifiers: list[Rectifier]

    def gradients(self, seeds: Seeds, rule: ReluRule | None, wrt: torch.Tensor | None = None,
                  *, keep_graph: bool = False) -> torch.Tensor:
        """The gradient of the seeds at ``wrt`` (default ``x_in``) with ``rule`` at every
        rectifier; ``keep_graph`` for a further backward pass over the same graph."""
        with rules_attached(rule, self.rectifiers):
            return backward(seeds, self.x_in if wrt is None else wrt, keep_graph=keep_graph)


@contextmanager
def forward_pass(module: nn.Module, x: torch.Tensor, method: Method, *, layer: str | None,
                 output: OutputChoice, strict: bool) -> Iterator[ForwardPass]:
    """Run ``module`` on ``x`` (checked by the caller) in eval mode with gradients on, up to
    ``layer`` if given; report the operations without a rule of ``method``. The backward
    passes belong inside the block (checkpointed layers recompute in eval mode there)."""
    # The user's module is never changed: its eval-mode twin runs (also while checkpointed
    # layers recompute), and the capture hook goes on the twin's layer.
    twin = eval_twin(module)
    capture = None if layer is None else LayerCapture(find_layer(twin, layer), layer)
    with ExitStack() as stack:
        stack.enter_context(gradients_on())
        # A copy of an inference-mode tensor is an ordinary one, which autograd can use.
        x_in = (x.clone() if x.is_inference() else x).detach().requires_grad_(True)
        recorder = stack.enter_context(CallRecorder(twin))
        with shape_errors_named(recorder, x.shape):
            if capture is None:
                scores = logits_from_output(twin(x_in), output, x.shape[0])
            else:
                scores = channel_scores(capture.run(twin, x_in), capture.name)
        graph = scan(scores, x_in)
        if method.relu_rule is not None:
            report_without_rule(module, method.name, rule_gaps(graph, recorder), strict)
        yield ForwardPass(x_in, scores, graph.rectifiers)


@contextmanager
def gradients_on() -> Iterator[None]:
    """Gradients on, whatever the caller's mode: ``torch.no_grad()`` or
    ``torch.inference_mode()`` around the engine's calls are fine."""
    with torch.inference_mode(False), torch.enable_grad():
        yield


def scores_of(module: nn.Module, x: torch.Tensor, layer: str | None,
              output: OutputChoice) -> torch.Tensor:
    """The scores (N, U) ``attribute`` would choose targets from, without gradients: what
    ``target="max"`` reads when the maps are taken at other inputs (noisy copies, a path)."""
    twin = eval_twin(module)
    with torch.no_grad():
        if layer is None:
            return logits_from_output(twin(x), output, x.shape[0])
        capture = LayerCapture(find_layer(twin, layer), layer)
        return channel_scores(capture.run(twin, x), capture.name)


@contextmanager
def shape_errors_named(recorder: CallRecorder, shape: torch.Size) -> Iterator[None]:
    """A forward pass that fails on a layer given an input of the wrong width raises a
    ``ValueError`` naming the layer that ran, not the first one registered."""
    try:
        yield
    except RuntimeError as error:
        if recorder.mismatch is None:
            raise
        raise ValueError(f"{recorder.mismatch} (x shape {tuple(shape)})") from error


def rule_gaps(graph: GraphScan, recorder: CallRecorder) -> list[tuple[str, str]]:
    """The operations of ``graph`` that no rectifier rule covers, as (module that ran it, what it
    computes), in the order they ran; thresholds with a value are moved out of
    ``graph.rectifiers`` first (see below)."""
    _demote_thresholds_with_a_value(graph.rectifiers, graph.without_rule, recorder)
    owners = recorder.owners(graph.without_rule)
    in_order = sorted(graph.without_rule, key=lambda node: node._sequence_nr())
    return [(owners[node], graph.without_rule[node]) for node in in_order]


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
    """How many targets one backward pass handles for gradients like ``x`` (see above)."""
    return max(1, min(TARGET_CHUNK, VECTORISED_ELEMENTS // x.numel()))


def backward(seeds: Seeds, wrt: torch.Tensor, *, keep_graph: bool = False) -> torch.Tensor:
    """The gradient of ``seeds`` at ``wrt``: shaped like ``wrt``, or (K·N, …) for K batched
    targets (target-major: rows k·N … k·N + N − 1 belong to target k)."""
    if not seeds.batched:
        (grad,) = torch.autograd.grad(seeds.outputs, wrt, seeds.grad_outputs,
                                      retain_graph=keep_graph)
        return grad.detach()
    chunk = targets_per_pass(wrt)
    chunks = seeds.grad_outputs.split(chunk)
    maps = []
    for i, part in enumerate(chunks):
        retain = keep_graph or i < len(chunks) - 1  # one forward pass serves every chunk
        if chunk == 1:
            (grad,) = torch.autograd.grad(seeds.outputs, wrt, part[0], retain_graph=retain)
        else:
            (grad,) = torch.autograd.grad(
                seeds.outputs, wrt, part, retain_graph=retain, is_grads_batched=True
            )
        maps.append(grad.reshape(-1, *wrt.shape[1:]))
    return torch.cat(maps).detach()


def _rule_methods(method: Method | MethodObject) -> list[Method]:
    if isinstance(method, Method):
        return [method]
    found = [get_method(name) for name in method.rules]
    return [m for m in found if isinstance(m, Method)]


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


def check_rules_can_apply(module: nn.Module, method: Method) -> None:
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


def find_layer(module: nn.Module, layer: object) -> nn.Module:
    if not isinstance(layer, str):
        raise TypeError(f"layer must be a module name (str) or None; got {type(layer).__name__}")
    named = dict(module.named_modules())
    if layer and layer in named:
        return named[layer]
    close = difflib.get_close_matches(layer, [n for n in named if n], n=3)
    hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
    raise ValueError(f"layer must be a name from model.named_modules(); got {layer!r}{hint}")
