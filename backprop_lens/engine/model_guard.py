"""Running a user's model without leaving a trace on it.

Everything here is undone on exit, also when the forward or backward pass raises: the
training flag of every submodule, the temporary forward hook that captures a layer, and the
global hooks that name the module running a non-ReLU activation.

Hooks live on the (shared) module, but act only for the thread that set them: a notebook may
run the same model in a cell while a widget computes maps on a worker thread.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[None]:
    """Put ``model`` in eval mode; restore each submodule's own flag afterwards."""
    flags = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, training in flags:
            module.training = training


class _StopForward(Exception):
    """Raised from the layer hook: nothing after the chosen layer is needed."""


class LayerCapture:
    """Captures the output of one named submodule on its first call, then stops the forward."""

    def __init__(self, module: nn.Module, name: str) -> None:
        self.module = module
        self.name = name
        self.output: torch.Tensor | None = None
        self._thread = threading.get_ident()

    def _hook(self, module: nn.Module, inputs: Any, output: Any) -> None:
        if threading.get_ident() != self._thread:
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
        if self.output is None:
            raise ValueError(f"layer {self.name!r} was not called by the model's forward pass")
        return self.output


class ModuleTracker:
    """Knows which named submodule is running, through global hooks held only inside ``with``."""

    def __init__(self, model: nn.Module) -> None:
        self._names = {id(module): name for name, module in model.named_modules()}
        self._stack: list[str] = []
        self._handles: list[RemovableHandle] = []
        self._thread = threading.get_ident()

    @property
    def current(self) -> str:
        return self._stack[-1] if self._stack else "<model>"

    def _enter(self, module: nn.Module, inputs: Any) -> None:
        if threading.get_ident() != self._thread:
            return
        name = self._names.get(id(module))
        if name is not None:
            self._stack.append(name or "<model>")

    def _leave(self, module: nn.Module, inputs: Any, output: Any) -> None:
        if threading.get_ident() != self._thread:
            return
        if id(module) in self._names and self._stack:
            self._stack.pop()

    def __enter__(self) -> ModuleTracker:
        self._handles = [
            nn.modules.module.register_module_forward_pre_hook(self._enter),
            nn.modules.module.register_module_forward_hook(self._leave),
        ]
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []
