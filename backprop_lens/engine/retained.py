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
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any

import torch
from torch import nn

from .activations import channel_scores
from .attribute import (
    as_module,
    backward,
    check_input,
    check_rules_can_apply,
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


class RetainedForward:
    """The forward pass of ``model`` on ``x`` (1 or N examples, preprocessed), with the outputs
    of ``layers`` (names from ``model.named_modules()``) captured on their first call, kept for
    backward passes.

    A layer is left out (``covers`` is False; use ``attribute`` for it) when its output is not a
    single tensor, when it runs only on another thread, or when its output was changed in place
    after the layer returned (its graph would then lead through that operation): the model
    goes on with a copy of each captured output, so only a tensor held elsewhere too (an
    ``nn.Identity``'s input) can be.

    Raises what ``attribute`` raises for a bad ``x`` or ``output``; ``engine.interrupt``'s
    ``Interrupted`` from inside ``interruptible``.
    """

    def __init__(self, model: nn.Module | object, x: torch.Tensor,
                 layers: Sequence[str] = (), output: OutputChoice = None) -> None:
        self._module = as_module(model)
        check_input(x, self._module)
        self.x = x
        self._lock = threading.Lock()  # the rules' hooks sit on the shared graph: one at a time
        twin = eval_twin(self._module)
        named = dict(twin.named_modules())
        unknown = [name for name in layers if name not in named]
        if unknown:
            raise ValueError(f"layers must be names from model.named_modules(); unknown: "
                             f"{unknown}")
        with _grad_on():
            self._x_in = (x.clone() if x.is_inference() else x).detach().requires_grad_(True)
            captured, logits, recorder = self._run(twin, [(name, named[name]) for name in layers],
                                                   output)
            graph = scan(logits, self._x_in)
        self._logits = logits
        self._rectifiers = graph.rectifiers
        self._gaps = rule_gaps(graph, recorder)
        # A capture whose version moved was changed in place after its layer returned.
        self._layers = {name: tensor for name, (tensor, version) in captured.items()
                        if tensor._version == version}

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

    def covers(self, layer: str | None) -> bool:
        """Whether ``maps`` can answer for ``layer`` (None: the output)."""
        return layer is None or layer in self._layers

    def maps(self, layer: str | None, method: str | Method,
             targets: Sequence[int]) -> torch.Tensor:
        """The maps (K, C, H, W) of ``method`` for ``targets`` (class indices at the output,
        channels or units of ``layer``), as ``attribute(model, x, method, list(targets),
        layer=layer)`` gives them (``x`` of one example).

        Raises:
            ValueError: a layer this pass does not cover, or a target out of range.
            TypeError: a method that is more than one backward pass (SmoothGrad, Grad-CAM, …).
        """
        if not self.covers(layer):
            raise ValueError(f"layer {layer!r} is not covered by this forward pass (see covers)")
        chosen = get_method(method)
        if not isinstance(chosen, Method):
            raise TypeError(f"method {chosen.name!r} is not one backward pass under a rectifier "
                            "rule; use attribute() for it")
        check_rules_can_apply(self._module, chosen)
        if chosen.relu_rule is not None:
            report_without_rule(self._module, chosen.name, self._gaps, strict=False)
        with self._lock, _grad_on():
            scores = (self._logits if layer is None
                      else channel_scores(self._layers[layer], layer))
            seeds = make_seeds(scores, list(targets), seed=None, label=None,
                               at_output=layer is None)
            with rules_attached(chosen.relu_rule, self._rectifiers):
                return backward(seeds, self._x_in, keep_graph=True)


@contextmanager
def _grad_on() -> Iterator[None]:
    """Gradients on, whatever the caller's mode (as ``attribute``: ``no_grad`` around is fine)."""
    with torch.inference_mode(False), torch.enable_grad():
        yield
