"""Running a user's model without leaving a trace on it.

The model itself is never changed, not even for a moment: passes run on its eval-mode twin
(``eval_twin``), whose modules share the model's parameters and buffers but have training off
and hooks of their own. So a notebook cell that trains or runs the model while a widget's worker
computes maps, on any thread, sees it exactly as it left it. What is set on the twin (the hook
that captures a layer) or globally (the hooks that record which module ran which part of the
graph) is removed on exit, also when the forward or backward pass raises.

The hook that captures a layer lives on the (shared) module, but acts only for the thread that
set it: a notebook may run the same model in a cell while a widget computes maps on a worker
thread.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn.modules.conv import _ConvNd
from torch.utils.hooks import RemovableHandle

from .interrupt import current_check, stop_if_asked

#: Where a twin module keeps the user's module it stands for (in its ``__dict__``: not a
#: submodule, so ``named_modules`` does not list it).
_ORIGINAL = "_backprop_lens_original"


def eval_twin(model: nn.Module) -> nn.Module:
    """An eval-mode twin of ``model`` to run instead of it: each submodule copied shallowly (a
    new module object sharing the same parameter and buffer tensors; its own dicts of
    parameters, buffers, submodules and hooks, holding what the model's hold now), with
    ``training`` off. The structure, names and hooks registered so far are the model's;
    anything registered on the twin stays on the twin. ``original_of`` maps a twin module (or
    a replica made from it, as ``nn.DataParallel`` makes) back to the model's.

    Memory: one Python object and a few small dicts per module, no tensor (VGG-16: README,
    "The engine"). Modules kept outside the module tree (in a plain list, or bound into a
    closure) are not twinned: they run as the user left them; so are TorchScript modules (their
    state lives in C++), which the engine refuses anyway.
    """
    twins: dict[int, nn.Module] = {}

    def twin_of(module: nn.Module) -> nn.Module:
        found = twins.get(id(module))
        if found is not None:  # a module registered twice stays one module
            return found
        if isinstance(module, torch.jit.ScriptModule):
            return module
        twin = copy.copy(module)  # a new __dict__ holding the same values
        twins[id(module)] = twin
        state = twin.__dict__
        for key, value in list(state.items()):
            if isinstance(value, dict | set):  # parameters, buffers, submodules, hooks
                state[key] = copy.copy(value)
        state["_modules"] = type(state["_modules"])(
            (name, None if child is None else twin_of(child))
            for name, child in module._modules.items())
        state["training"] = False
        state[_ORIGINAL] = original_of(module)
        return twin

    return twin_of(model)


def original_of(module: nn.Module) -> nn.Module:
    """The user's module that ``module`` (a twin, or a replica of one) stands for; ``module``
    itself when it is no twin."""
    original: nn.Module = module.__dict__.get(_ORIGINAL, module)
    return original


class _StopForward(Exception):
    """Raised from the layer hook: nothing after the chosen layer is needed."""


class LayerCapture:
    """Captures the output of one named submodule on its first call, then stops the forward."""

    def __init__(self, module: nn.Module, name: str) -> None:
        self.module = module
        self.name = name
        self.output: torch.Tensor | None = None
        self._thread = threading.get_ident()
        self._elsewhere = False  # called on another thread only

    def _hook(self, module: nn.Module, inputs: Any, output: Any) -> None:
        if threading.get_ident() != self._thread:
            self._elsewhere = True  # maybe an unrelated caller of the same model: not ours
            return
        if not isinstance(output, torch.Tensor):
            raise TypeError(f"layer {self.name!r} returns {type(output).__name__}, not a tensor; "
                            "choose a module whose output is a single tensor")
        self.output = output
        raise _StopForward

    def run(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        handle = self.module.register_forward_hook(self._hook)
        try:
            model(x)
        except _StopForward:
            pass
        finally:
            handle.remove()
        if self.output is None and self._elsewhere:
            raise ValueError(f"layer {self.name!r} ran only on another thread, where its output "
                             "cannot be told from another caller's; choose a layer that the "
                             "model's forward pass runs on the calling thread")
        if self.output is None:
            raise ValueError(f"layer {self.name!r} was not called by the model's forward pass")
        return self.output


@dataclass(frozen=True)
class ModuleCall:
    """One call of a submodule: the graph nodes its inputs came from and its outputs carry."""

    name: str
    module: nn.Module
    inputs: frozenset[Any]
    outputs: tuple[Any, ...]


def _grad_nodes(value: object, depth: int = 0) -> list[Any]:
    """The ``grad_fn`` of each tensor in ``value`` (a tensor, or a tuple/list/dict of them)."""
    if isinstance(value, torch.Tensor):
        return [] if value.grad_fn is None else [value.grad_fn]
    if depth < 2 and isinstance(value, tuple | list):
        return [n for item in value for n in _grad_nodes(item, depth + 1)]
    if depth < 2 and isinstance(value, dict):
        return [n for item in value.values() for n in _grad_nodes(item, depth + 1)]
    return []


class CallRecorder:
    """Records each module call, on any thread, through global hooks held only inside
    ``with``: which module ran which graph nodes, and the first convolution or linear layer
    that got an input of the wrong width (what runs, not the registration order).

    Calls on every thread count (layers that ``forward`` runs on worker threads build the same
    graph), and so do modules that are not registered in the model (made inside ``forward``).
    Calls by unrelated threads are recorded too, harmlessly: their nodes are not in this graph.
    """

    def __init__(self, model: nn.Module) -> None:
        self._names = {id(module): name or "<model>" for name, module in model.named_modules()}
        self._local = threading.local()
        self._handles: list[RemovableHandle] = []
        self.calls: list[ModuleCall] = []  # in the order the calls returned: inner ones first
        self.first_layer: str | None = None
        self.mismatch: str | None = None

    def _stack(self) -> list[frozenset[Any]]:
        stack: list[frozenset[Any]] | None = getattr(self._local, "stack", None)
        if stack is None:
            stack = self._local.stack = []
        return stack

    def _name(self, module: nn.Module) -> str:
        return self._names.get(id(module)) or f"<unregistered {type(module).__name__}>"

    def _enter(self, module: nn.Module, inputs: Any) -> None:
        stop_if_asked(current_check())  # the calling thread's: another thread's pass runs on
        name = self._name(module)
        self._stack().append(frozenset(_grad_nodes(inputs)))
        if isinstance(module, _ConvNd | nn.Linear):
            self._check_width(name, module, inputs)

    def _check_width(self, name: str, module: _ConvNd | nn.Linear, inputs: Any) -> None:
        first = self.first_layer is None
        self.first_layer = self.first_layer or name
        x = inputs[0] if inputs and isinstance(inputs[0], torch.Tensor) else None
        if x is None or self.mismatch is not None:
            return
        if isinstance(module, _ConvNd):
            axis = -1 - len(module.kernel_size)  # (N, C, *spatial) or unbatched (C, *spatial)
            what, want = "channels", module.in_channels
        else:
            axis, what, want = -1, "features", module.in_features
        if want == 0 or x.ndim < -axis or x.shape[axis] == want:  # 0: a lazy module
            return
        got = x.shape[axis]
        kind = "convolution" if isinstance(module, _ConvNd) else "linear layer"
        if first:
            self.mismatch = (f"x has {got} {what} where the first {kind} the model runs "
                             f"({name!r}) expects {want}")
        else:
            self.mismatch = f"layer {name!r} expects {want} input {what} but got {got}"

    def _leave(self, module: nn.Module, inputs: Any, output: Any) -> None:
        stack = self._stack()
        if stack:
            outputs = tuple(_grad_nodes(output))
            self.calls.append(ModuleCall(self._name(module), module, stack.pop(), outputs))

    def owners(self, nodes: Iterable[Any]) -> dict[Any, str]:
        """The innermost module whose call ran each node; ``"<model>"`` when none is found.

        A call's nodes lie between its outputs and its inputs in the graph; inner calls
        returned first, so the first call whose part of the graph holds a node ran it.
        """
        remaining = set(nodes)
        found: dict[Any, str] = {}
        for call in self.calls:
            if not remaining:
                break
            stack = list(call.outputs)
            seen: set[Any] = set()
            while stack:
                node = stack.pop()
                if node in seen or node in call.inputs:
                    continue
                seen.add(node)
                if node in remaining:
                    found[node] = call.name
                    remaining.discard(node)
                stack.extend(child for child, _ in node.next_functions if child is not None)
        return found | dict.fromkeys(remaining, "<model>")

    def __enter__(self) -> CallRecorder:
        self._handles = [
            nn.modules.module.register_module_forward_pre_hook(self._enter),
            nn.modules.module.register_module_forward_hook(self._leave),
        ]
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []
