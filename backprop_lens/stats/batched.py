"""Maps for a batch of images, each with its own K targets, from one forward pass per method.

``attribute`` computes K maps of one image from one forward pass (a sequence target), and maps
of N images for one shared target. A statistics run needs both at once: N images × each image's
own K targets. Because examples of a batch do not interact in eval mode, the gradient of
Σ_n score[n, t_nk] with respect to the batch is, for each image n, the map of its target t_nk.
So the batch is handed to ``attribute`` as ONE example — the N images stacked along the height,
(1, C, N·H, W) — and a thin wrapper module unstacks it, runs the model and returns, for each k,
Σ_n score[n, t_nk]. ``attribute``'s sequence target then gives all N × K maps from one forward
pass, with every rule, guard and check of the engine in force. The wrapper holds the model as a
child and adds nothing to it.
"""

from __future__ import annotations

import torch
from torch import nn

from ..engine import Method, attribute, get_method
from ..engine.activations import logits_from_output
from ..engine.attribute import as_module
from ..models import LensModel


class _StackedTargets(nn.Module):
    """(1, C, N·H, W) → (1, K) with entry k = Σ_n logits(image n)[targets[n, k]]."""

    def __init__(self, module: nn.Module, targets: torch.Tensor) -> None:
        super().__init__()
        self.module = module
        self.targets = targets

    def forward(self, stacked: torch.Tensor) -> torch.Tensor:
        n = self.targets.shape[0]
        channels, height, width = stacked.shape[1], stacked.shape[2] // n, stacked.shape[3]
        images = stacked.view(channels, n, height, width).transpose(0, 1)
        logits = logits_from_output(self.module(images))
        return logits.gather(1, self.targets).sum(dim=0, keepdim=True)


def target_maps(model: LensModel | nn.Module, x: torch.Tensor, method: str,
                targets: torch.Tensor) -> torch.Tensor:
    """The maps of ``method`` for images ``x`` (N, C, H, W) and ``targets`` (N, K) class
    indices: (N, K, C, H, W), each map as ``attribute(model, x[n:n+1], method, targets[n])``
    gives it (the same numbers: only the batching differs). A ``LensModel`` gives the method
    objects its preprocessing (integrated gradients' black baseline)."""
    if targets.ndim != 2 or targets.shape[0] != x.shape[0]:
        raise ValueError(f"targets must be shaped (N, K) with N = {x.shape[0]}; got "
                         f"{tuple(targets.shape)}")
    if not isinstance(get_method(method), Method):
        # Noisy copies, path points and layer maps are made per example (SmoothGrad's σ from its
        # range, IG's baseline, Grad-CAM's layer): one image per call, each from its own pass.
        return torch.stack([attribute(model, x[i:i + 1], method, targets[i].tolist())
                            for i in range(x.shape[0])])
    n, channels, height, width = x.shape
    stacked = x.transpose(0, 1).reshape(1, channels, n * height, width)
    wrapper = _StackedTargets(as_module(model), targets.to(x.device))
    maps = attribute(wrapper, stacked, method, list(range(targets.shape[1])))
    return maps.view(-1, channels, n, height, width).permute(2, 0, 1, 3, 4).contiguous()
