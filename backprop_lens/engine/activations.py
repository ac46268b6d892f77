"""How strongly each channel of a layer responds: what targets at an inner layer are chosen by."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from .model_guard import eval_twin
from .outputs import OutputChoice, logits_from_output

__all__ = ["channel_scores", "layer_channel_scores", "logits_from_output"]


def channel_scores(activation: torch.Tensor, layer: str) -> torch.Tensor:
    """(N, U) scores of a layer: each channel's summed activation, or a linear layer's units."""
    if activation.ndim < 2:
        raise ValueError(f"layer {layer!r} output has shape {tuple(activation.shape)}; "
                         "expected (N, channels, ...)")
    return activation if activation.ndim == 2 else activation.flatten(2).sum(dim=2)


def layer_channel_scores(
    model: nn.Module, x: torch.Tensor, layers: Sequence[str], output: OutputChoice = None
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The logits and, for each named layer, the channel scores of the first example.

    One forward pass, in eval mode, without gradients; the hooks are removed before returning.
    ``output`` chooses the logits in the model's output, as ``attribute``'s ``output=``.
    Scores are read inside each hook, before an in-place op downstream can change the output.
    """
    model = eval_twin(model)  # the user's model is never changed; its hooks stay its own
    named = dict(model.named_modules())
    missing = [name for name in layers if name not in named]
    if missing:
        raise ValueError(f"layers must be names from model.named_modules(); unknown: {missing}")
    scores: dict[str, torch.Tensor] = {}
    thread = threading.get_ident()  # the hooks ignore other threads running the same model

    def hook_for(name: str) -> Any:
        def hook(module: nn.Module, inputs: Any, output: Any) -> None:
            if threading.get_ident() != thread:
                return
            if name not in scores and isinstance(output, torch.Tensor):
                scores[name] = channel_scores(output, name)[0].detach().clone()
        return hook

    handles = [named[name].register_forward_hook(hook_for(name)) for name in layers]
    try:
        with torch.no_grad():
            result = model(x)
    finally:
        for handle in handles:
            handle.remove()
    return logits_from_output(result, output, x.shape[0]), scores
