"""Grad-CAM and guided Grad-CAM (Selvaraju et al. 2017).

Grad-CAM at a layer with activation A (N, K, h, w): the channel weights are the spatial means
of the target's plain gradient at A, the map is ReLU(Σ_k weight_k · A_k), upsampled bilinearly
(``align_corners=False``) to the input's height and width. It is one channel, returned
repeated over x's C channels so that the maps are shaped like x, as the engine contract says
(every consumer of maps relies on it): (N, C, H, W), or (K, C, H, W) for K targets of one
image, with ``maps[:, 0]`` the Grad-CAM map (``display`` is ``"heatmap"``: show one channel).
Guided Grad-CAM is the guided-backprop map times the upsampled Grad-CAM, like x.

Both come from one forward pass: the plain backward pass to A runs first (keeping the graph),
then, for guided Grad-CAM, the guided backward pass to x over the same graph.

The layer: a name from ``model.named_modules()``; by default the last module to return a
spatial output (N, K, h, w) with h·w > 1, adaptive pooling (which only resamples to a fixed size)
excepted: the last block of a ResNet, the last max-pool of a VGG (``features`` at its end), the
head of an EfficientNet. A module called several times is read at its last call; an output
changed in place afterwards (a convolution followed by ``ReLU(inplace=True)``) is read as changed.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.hooks import RemovableHandle

from .attribute import as_module, forward_pass
from .method_base import HEATMAP, SIGNED_RGB, MethodObject, Request
from .methods import Method, get_method
from .model_guard import eval_twin, original_of
from .targets import make_seeds

#: Modules whose output is not a feature map of their own (they resample the one they get).
_RESAMPLING = (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)


class _Activations:
    """Records, while active, the spatial outputs of the model's modules on this thread (or
    the last output of the one named ``layer``). Global hooks, removed on exit."""

    def __init__(self, model: nn.Module, layer: str | None) -> None:
        self._names = {id(m): name for name, m in model.named_modules() if name}
        if layer is not None and layer not in self._names.values():
            raise ValueError(f"GradCAM layer must be a name from model.named_modules(); got "
                             f"{layer!r}")
        self.layer = layer
        self.found: list[tuple[str, torch.Tensor]] = []
        self._thread = threading.get_ident()
        self._handle: RemovableHandle | None = None

    def _hook(self, module: nn.Module, inputs: Any, output: Any) -> None:
        name = self._names.get(id(original_of(module)))  # the engine runs twins
        if name is None or threading.get_ident() != self._thread:
            return
        if self.layer is not None:
            if name == self.layer:
                self.found.append((name, output))
        elif isinstance(output, torch.Tensor) and output.ndim == 4 and \
                output.shape[2] * output.shape[3] > 1 and not isinstance(module, _RESAMPLING):
            self.found.append((name, output))

    def chosen(self) -> tuple[str, torch.Tensor]:
        if not self.found:
            if self.layer is not None:
                raise ValueError(f"GradCAM layer {self.layer!r} was not run by the model's "
                                 "forward pass on the calling thread (before attribute's "
                                 "layer=, where the forward pass stops)")
            raise ValueError("GradCAM: no module returned a spatial output (N, K, h, w) with "
                             "h·w > 1; pass layer= naming one")
        name, output = self.found[-1]
        if not isinstance(output, torch.Tensor) or output.ndim != 4:
            shape = tuple(output.shape) if isinstance(output, torch.Tensor) else \
                type(output).__name__
            raise ValueError(f"GradCAM layer {name!r} returns {shape}; expected a tensor "
                             "(N, K, h, w)")
        return name, output

    def __enter__(self) -> _Activations:
        self._handle = nn.modules.module.register_module_forward_hook(self._hook)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._handle is not None:
            self._handle.remove()
        self._handle = None
        self.found = []


def _check_layer(layer: object) -> None:
    if layer is not None and (not isinstance(layer, str) or not layer):
        raise TypeError(f"layer must be a module name (str) or None; got {layer!r}")


@dataclass(frozen=True)
class GradCAM(MethodObject):
    """Grad-CAM at ``layer`` (None: the last spatial layer, see the module doc).

    Returns one non-negative channel repeated over x's channels: (N, C, H, W) or (K, C, H, W).
    """

    layer: str | None = None

    name: ClassVar[str] = "gradcam"
    description: ClassVar[str] = "Grad-CAM: ReLU of the gradient-weighted channels of a layer, " \
                                 "upsampled"
    _guided: ClassVar[bool] = False

    def __post_init__(self) -> None:
        _check_layer(self.layer)

    @property
    def display(self) -> str:
        return HEATMAP

    @property
    def rules(self) -> tuple[str, ...]:
        return ("guided_backprop",) if self._guided else ("saliency",)

    def default_layer(self, model: object, x: torch.Tensor) -> str:
        """The layer these maps are taken at for ``model`` and ``x``: ``layer`` or the
        default (one forward pass without gradients, in eval mode)."""
        module = as_module(model)
        with _Activations(module, self.layer) as seen, torch.no_grad():
            eval_twin(module)(x)
            return seen.chosen()[0]

    def compute(self, request: Request) -> torch.Tensor:
        rule = get_method(self.rules[0])
        assert isinstance(rule, Method)
        with _Activations(request.module, self.layer) as seen, \
                forward_pass(request.module, request.x, rule, layer=request.layer,
                             output=request.output, strict=request.strict) as run:
            _, activation = seen.chosen()
            seeds = make_seeds(run.scores, request.target, seed=request.seed,
                               label=request.label, at_output=request.layer is None)
            grads = run.gradients(seeds, None, activation, keep_graph=self._guided)
            grads = grads.reshape(-1, *activation.shape)  # (targets, N, K, h, w)
            weights = grads.mean(dim=(3, 4), keepdim=True)
            cam = (weights * activation.detach()).sum(dim=2).clamp(min=0)
            cam = F.interpolate(cam.reshape(-1, 1, *cam.shape[-2:]), size=request.x.shape[-2:],
                                mode="bilinear", align_corners=False)
            if not self._guided:
                return cam.expand(-1, request.x.shape[1], -1, -1).contiguous()
            return run.gradients(seeds, rule.relu_rule) * cam


@dataclass(frozen=True)
class GuidedGradCAM(GradCAM):
    """Guided backprop × the upsampled Grad-CAM at ``layer``: (N, C, H, W), like x."""

    name: ClassVar[str] = "guided_gradcam"
    description: ClassVar[str] = "guided Grad-CAM: guided backprop × upsampled Grad-CAM"
    _guided: ClassVar[bool] = True

    @property
    def display(self) -> str:
        return SIGNED_RGB
