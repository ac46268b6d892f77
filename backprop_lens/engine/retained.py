"""One forward pass kept for the maps of many layers: ``RetainedForward``.

``attribute`` runs a forward pass for every call. An explorer that moves from layer to layer on
the same input repeats that pass each time, though only the backward pass differs: the rules act
on the backward pass alone (see ``rules``), and the activations of every layer come out of the
same forward pass. So ``RetainedForward`` runs the whole model once, keeps its autograd graph and
the output of each named layer, and answers ``maps(layer, method, targets)`` with one backward
pass from that layer's activation. The maps equal ``attribute``'s (same graph, same rules).

What it keeps: the graph's saved tensors, about what one training step of the model on this
input keeps for its backward pass (EfficientNet-Lite0 at 224²: README, "The engine"). Nothing on
the model: the pass runs on its eval-mode twin, and the capture hooks are removed once it ends.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from contextlib import ExitStack
from typing import Any

import torch
from torch import nn

from .activations import channel_scores
from .attribute import (
    as_module,
    backward,
    check_input,
    check_rules_can_apply,
    find_layer,
    gradients_on,
    rule_gaps,
    shape_errors_named,
)
from .graph import scan
from .methods import Method, get_method
from .model_guard import CallRecorder, eval_twin
from .outputs import OutputChoice, logits_from_output
from .report import report_without_rule
from .rules import rules_attached
from .targets import make_seeds


class NotCovered(ValueError):
    """``RetainedForward.maps`` cannot answer for this layer; ``attribute`` can (see
    ``RetainedForward``)."""


class RetainedForward:
    """The forward pass of ``model`` on ``x`` (one example, (1, C, H, W), preprocessed), with
    the outputs of ``layers`` (names from ``model.named_modules()``) captured on their first
    call, kept for backward passes.

    A layer is not covered (``covers`` is False, ``maps`` raises ``NotCovered``; use
    ``attribute`` for it) when its output is not a single tensor, when it runs only on another
    thread, or when the model changed its output in place after it returned (its graph would
    lead through that change). The model goes on with a copy of each captured output that has
    storage of its own, so that a ``ReLU(inplace=True)`` after a convolution leaves the
    capture alone; an output that shares its input's storage (``nn.Identity``, eval-mode
    ``Dropout``) is not copied, so the model computes exactly what it computes without us.
    ``maps`` also raises ``NotCovered`` where the model changed in place a tensor that the
    layer's backward pass needs (``attribute`` stops at the layer, before that change).

    The pass belongs to the model's parameters and buffers and to ``x`` as they were: once one
    of them is changed or replaced (a training step, ``load_state_dict``, a train-mode forward
    pass updating batch-norm statistics), ``is_current()`` is False and ``maps`` raises
    ``NotCovered``; make a new one.

    Raises what ``attribute`` raises for a bad ``x`` or ``output``; ``TypeError``/``ValueError``
    naming a bad ``layers``; ``engine.interrupt``'s ``Interrupted`` inside ``interruptible``.
    """

    def __init__(self, model: nn.Module | object, x: torch.Tensor,
                 layers: Sequence[str] = (), output: OutputChoice = None) -> None:
        self._module = as_module(model)
        check_input(x, self._module)
        if x.shape[0] != 1:
            raise ValueError(f"x must hold one example, shaped (1, C, H, W); got shape "
                             f"{tuple(x.shape)}")
        if isinstance(layers, str):
            raise TypeError(f"layers must be a sequence of module names; got the str {layers!r}")
        self.x = x
        self._state = _state_of(self._module, x)
        self._lock = threading.Lock()  # the rules' hooks sit on the shared graph: one at a time
        twin = eval_twin(self._module)
        chosen = [(name, find_layer(twin, name)) for name in layers]
        with gradients_on():
            # A copy: the user's own x may change in place later.
            self._x_in = x.detach().clone().requires_grad_(True)
            captured, logits, self._recorder = self._run(twin, chosen, output)
            graph = scan(logits, self._x_in)
        self._logits = logits
        self._rectifiers = graph.rectifiers
        self._gaps: dict[str | None, list[tuple[str, str]]] = {
            None: rule_gaps(graph, self._recorder)}
        # A capture whose version moved was changed in place after its layer returned.
        self._layers = {name: tensor for name, (tensor, version) in captured.items()
                        if tensor._version == version}
        self._broken: set[str | None] = set()  # layers whose backward pass met such a change

    def _run(self, twin: nn.Module, layers: list[tuple[str, nn.Module]], output: OutputChoice,
             ) -> tuple[dict[str, tuple[torch.Tensor, int]], torch.Tensor, CallRecorder]:
        captured: dict[str, tuple[torch.Tensor, int]] = {}
        thread = threading.get_ident()

        def capture(name: str) -> Any:
            def hook(module: nn.Module, inputs: Any, out: Any) -> torch.Tensor | None:
                if (threading.get_ident() != thread or name in captured
                        or not isinstance(out, torch.Tensor)):
                    return None
                captured[name] = (out, out._version)
                if _shares_storage(out, inputs):
                    return None  # the model may rely on the alias: it must stay one
                # The model goes on with a copy: an in-place operation after the layer (a
                # ReLU(inplace=True) after a convolution) changes the copy, not the capture.
                return out.clone()
            return hook

        with ExitStack() as stack:
            for name, module in layers:
                stack.callback(module.register_forward_hook(capture(name)).remove)
            recorder = stack.enter_context(CallRecorder(twin))
            with shape_errors_named(recorder, self._x_in.shape):
                logits = logits_from_output(twin(self._x_in), output, self._x_in.shape[0])
        return captured, logits, recorder

    def is_current(self) -> bool:
        """Whether the model's parameters and buffers and ``x`` are those of this pass."""
        return _state_of(self._module, self.x) == self._state

    def covers(self, layer: str | None) -> bool:
        """Whether ``maps`` can answer for ``layer`` (None: the output), as far as is known
        before its backward pass (see the class doc)."""
        if layer is not None and not isinstance(layer, str):
            raise TypeError(f"layer must be a module name (str) or None; got "
                            f"{type(layer).__name__}")
        return (layer is None or layer in self._layers) and layer not in self._broken

    def maps(self, layer: str | None, method: str | Method,
             targets: Sequence[int]) -> torch.Tensor:
        """The maps (K, C, H, W) of ``method`` for ``targets`` (K class indices at the output,
        channels or units of ``layer``), as ``attribute(model, x, method, list(targets),
        layer=layer)`` gives them.

        Raises:
            NotCovered: a layer this pass cannot answer for, or a model or ``x`` changed since
                (see the class doc).
            TypeError: a method that is more than one backward pass (SmoothGrad, Grad-CAM, …);
                ``targets`` not a sequence.
            ValueError: a target out of range.
        """
        if not self.covers(layer):
            raise NotCovered(f"layer {layer!r} is not covered by this forward pass (see covers)")
        if not self.is_current():
            raise NotCovered("the model's parameters or buffers, or x, changed since this "
                             "forward pass ran; make a new RetainedForward")
        chosen = get_method(method)
        if not isinstance(chosen, Method):
            raise TypeError(f"method {chosen.name!r} is not one backward pass under a rectifier "
                            "rule; use attribute() for it")
        if isinstance(targets, str) or not isinstance(targets, Sequence):
            raise TypeError(f"targets must be a sequence of indices; got "
                            f"{type(targets).__name__}")
        check_rules_can_apply(self._module, chosen)
        with self._lock, gradients_on():
            scores = (self._logits if layer is None
                      else channel_scores(self._layers[layer], layer))
            if chosen.relu_rule is not None:
                report_without_rule(self._module, chosen.name, self._gaps_of(layer, scores),
                                    strict=False)
            seeds = make_seeds(scores, list(targets), seed=None, label=None,
                               at_output=layer is None)
            with rules_attached(chosen.relu_rule, self._rectifiers):
                try:
                    return backward(seeds, self._x_in, keep_graph=True)
                except RuntimeError as error:
                    if not _changed_in_place(error):
                        raise
                    self._broken.add(layer)
                    raise NotCovered(f"layer {layer!r}: the model changed in place a tensor "
                                     "its backward pass needs, after the layer ran; use "
                                     "attribute() for it") from error

    def _gaps_of(self, layer: str | None, scores: torch.Tensor) -> list[tuple[str, str]]:
        """The operations without a rule on ``layer``'s backward pass (as ``attribute`` reports
        them: those above the layer are not run by it)."""
        if layer not in self._gaps:
            self._gaps[layer] = rule_gaps(scan(scores, self._x_in), self._recorder)
        return self._gaps[layer]


def _state_of(module: nn.Module, x: torch.Tensor) -> list[tuple[int, int]]:
    """What a kept pass depends on: each parameter, buffer and ``x``, by identity and version
    (an in-place change moves the version, a replacement the identity)."""
    tensors = [*module.parameters(), *module.buffers(), x]
    return [(id(t), t._version) for t in tensors]


def _shares_storage(output: torch.Tensor, inputs: tuple[Any, ...]) -> bool:
    storage = output.untyped_storage().data_ptr()
    return any(isinstance(i, torch.Tensor) and i.untyped_storage().data_ptr() == storage
               for i in inputs)


def _changed_in_place(error: RuntimeError) -> bool:
    """Whether autograd refused a saved tensor that changed in place after it was saved (its
    only sign is the message: autograd raises a plain ``RuntimeError``)."""
    return "modified by an inplace operation" in str(error)
