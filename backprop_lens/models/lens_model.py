"""``LensModel``: a network together with everything needed to feed it pictures and read it.

A bare ``nn.Module`` does not say how pixels become its input, what its outputs mean, or which
of its layers are worth looking at; the widget, the engine's users and the experiments all need
that. A ``LensModel`` holds it in one place:

- ``module``: the network (the engine reads ``.module``).
- ``preprocess(image)``: any picture → a (1, C, H, W) input on the module's device and dtype.
- ``deprocess(x)``: the inverse, for display (uint8 RGB).
- ``classes``, ``input_size`` (H, W), ``layers`` (name and output shape, in forward order).
- ``input_bounds``: the smallest and largest valid input value per channel (for attacks).

Preprocessing is ``x = (rgb × scale − mean) / std`` with ``rgb`` in [0, 1]: ``scale`` 1 with
ImageNet's mean and std for torchvision models, ``scale`` 255 with the pixel mean and std 1 for
the paper's networks (its authors subtract the mean from 0–255 pixels and do not divide).
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import torch
from torch import nn

from ..data.images import ImageLike, as_size, fit_to_size, image_tensor
from ..engine.activations import logits_from_output
from ..engine.model_guard import eval_twin, original_of
from .classes import imagenet_classes

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: Re-initialises one layer in place (used by ``randomize``): ``init(name, layer, generator)``.
Initializer = Callable[[str, nn.Module, torch.Generator], None]

#: Leaf modules that only pass values through; nothing to see in them.
_PASS_THROUGH = (nn.Identity, nn.Flatten, nn.Unflatten, nn.Dropout, nn.Dropout2d, nn.Dropout1d,
                 nn.Dropout3d, nn.AlphaDropout)

# ITU-R BT.601 luma, for models that take one grey channel.
_LUMA = torch.tensor([0.299, 0.587, 0.114])


@dataclass(frozen=True)
class ForwardStep:
    """One submodule as the forward pass first calls it."""

    name: str
    module: nn.Module
    output_shape: tuple[int, ...]  # without the batch dimension


def _reset_default(name: str, layer: nn.Module, generator: torch.Generator) -> None:
    """PyTorch's own initialisation of ``layer`` (``reset_parameters``), drawn from ``generator``.

    The global random state is saved and restored around the call, so it is left untouched.
    Only parameters are replaced; buffers such as batch-norm running statistics are kept.
    """
    if not callable(getattr(layer, "reset_parameters", None)):
        raise ValueError(f"layer {name!r} ({type(layer).__name__}) has no reset_parameters(); "
                         "pass an initializer to the LensModel to randomise it")
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    fresh = copy.deepcopy(layer).to("cpu")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        fresh.reset_parameters()  # type: ignore[operator]
    with torch.no_grad():
        for (_, mine), (_, new) in zip(layer.named_parameters(recurse=False),
                                       fresh.named_parameters(recurse=False), strict=True):
            mine.copy_(new)


@dataclass(eq=False)
class LensModel:
    """A network with its preprocessing, class names, input size and named layers.

    Args:
        module: the network; maps (N, C, H, W) inputs to (N, n_classes) scores.
        classes: one name per output.
        input_size: an int (square) or (height, width); stored as (height, width).
        mean, std: per input channel, in the units of ``rgb × scale`` (see the module doc).
        scale: the value of a white pixel before normalisation: 1.0 or 255.0.
        name, description: for menus and reports.
        initializer: how ``randomize`` re-draws one layer; PyTorch's ``reset_parameters``
            when not given.
        layer_names: the layers worth visualising, as names from ``module.named_modules()``
            (for a deep network, e.g. its stem, each block and its head); every leaf layer
            when not given (see ``layers``).
    """

    module: nn.Module
    classes: list[str]
    input_size: tuple[int, int]
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    scale: float = 1.0
    name: str = "model"
    description: str = ""
    initializer: Initializer = field(default=_reset_default, repr=False)
    layer_names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.module, nn.Module):
            raise TypeError(f"module must be a torch.nn.Module; got {type(self.module).__name__}")
        if self.layer_names is not None:
            self.layer_names = tuple(self.layer_names)
            known = {name for name, _ in self.module.named_modules() if name}
            unknown = [n for n in self.layer_names if n not in known]
            if unknown:
                raise ValueError(f"layer_names must name submodules of the module (from "
                                 f"named_modules()); unknown: {unknown}")
        self.input_size = as_size(self.input_size)
        self.classes = [str(c) for c in self.classes]
        self.mean = tuple(float(m) for m in self.mean)
        self.std = tuple(float(s) for s in self.std)
        if len(self.mean) not in (1, 3) or len(self.std) != len(self.mean):
            raise ValueError("mean and std must hold one value per input channel (1 or 3); got "
                             f"{len(self.mean)} and {len(self.std)}")
        if any(s <= 0 for s in self.std):
            raise ValueError(f"std must be positive; got {self.std}")
        if self.scale not in (1.0, 255.0):
            raise ValueError(f"scale must be 1.0 or 255.0; got {self.scale}")

    # --- pictures in and out -------------------------------------------------------------

    @property
    def channels(self) -> int:
        """Input channels: 3 (RGB) or 1 (grey, made from RGB by BT.601 luma)."""
        return len(self.mean)

    def _stats(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean = torch.tensor(self.mean, dtype=like.dtype, device=like.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, dtype=like.dtype, device=like.device).view(1, -1, 1, 1)
        return mean, std

    def _param_like(self) -> torch.Tensor:
        param = next(self.module.parameters(), None)
        return param if param is not None else torch.zeros(())

    def preprocess(self, image: ImageLike) -> torch.Tensor:
        """``image`` as the model's input: (1, C, H, W), on the module's device and dtype.

        ``image`` is a ``PIL.Image`` (any mode), a file path, a numpy array (H, W[, 1|3|4])
        of uint8 0–255 or float 0–1, or a torch tensor (C, H, W) / (1, C, H, W) of uint8 or
        float 0–1 (see ``data.image_tensor`` for the rules). It is scaled to cover
        ``input_size`` and centre-cropped, then normalised.
        """
        rgb = fit_to_size(image_tensor(image), self.input_size)
        if self.channels == 1:
            rgb = (rgb * _LUMA.view(3, 1, 1)).sum(dim=0, keepdim=True)
        like = self._param_like()
        x = rgb[None].to(device=like.device, dtype=like.dtype if like.is_floating_point()
                         else torch.float32)
        mean, std = self._stats(x)
        return (x * self.scale - mean) / std

    def deprocess(self, x: torch.Tensor) -> np.ndarray:
        """The picture an input shows: (H, W, 3) uint8 for (C, H, W) or (1, C, H, W) inputs,
        (N, H, W, 3) for N > 1. Values outside the valid range are clipped."""
        if not isinstance(x, torch.Tensor) or not x.dtype.is_floating_point:
            raise TypeError("x must be a float tensor (C, H, W) or (N, C, H, W)")
        batch = x.detach()[None] if x.ndim == 3 else x.detach()
        if batch.ndim != 4 or batch.shape[1] != self.channels:
            raise ValueError(f"x must be shaped (N, {self.channels}, H, W) or "
                             f"({self.channels}, H, W); got {tuple(x.shape)}")
        mean, std = self._stats(batch)
        rgb = ((batch * std + mean) / self.scale).clamp(0.0, 1.0)
        if self.channels == 1:
            rgb = rgb.expand(-1, 3, -1, -1)
        pixels = (rgb * 255.0).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        return pixels[0] if pixels.shape[0] == 1 else pixels

    @property
    def input_bounds(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(low, high), each (1, C, 1, 1): the inputs of a black and of a white image.

        Attacks that must stay valid images clip their inputs to these bounds.
        """
        like = self._param_like()
        dtype = like.dtype if like.is_floating_point() else torch.float32
        mean, std = self._stats(torch.zeros((), dtype=dtype, device=like.device))
        return (0.0 - mean) / std, (self.scale - mean) / std

    # --- the network's structure ---------------------------------------------------------

    @cached_property
    def forward_steps(self) -> list[ForwardStep]:
        """Every submodule the forward pass calls, in the order of its first call.

        Found by one forward pass of a zero input under temporary hooks (removed afterwards;
        eval mode, restored; no gradients). Modules whose output is not a tensor are skipped.
        """
        return _trace(self.module, (1, self.channels, *self.input_size))

    @property
    def layers(self) -> list[tuple[str, tuple[int, ...]]]:
        """The layers worth visualising: ``(name, output shape without batch)``, forward order.

        These are the modules named by ``layer_names`` when it was given; otherwise the leaf
        modules the forward pass calls (convolutions, linear layers, ReLUs, pools,
        normalisations…), less those that only pass values on (flatten, dropout, identity).
        A module called twice appears once, at its first call (the output the engine's
        ``layer=`` reads).
        """
        if self.layer_names is not None:
            chosen = set(self.layer_names)
            return [(s.name, s.output_shape) for s in self.forward_steps if s.name in chosen]
        return [(s.name, s.output_shape) for s in self.forward_steps
                if not any(True for _ in s.module.children())
                and not isinstance(s.module, _PASS_THROUGH)]

    @property
    def parameter_layers(self) -> list[str]:
        """The modules that own parameters, in forward order: what ``randomize`` acts on."""
        return [s.name for s in self.forward_steps
                if any(True for _ in s.module.parameters(recurse=False))]

    def __repr__(self) -> str:
        return (f"LensModel(name={self.name!r}, module={type(self.module).__name__}, "
                f"input_size={self.input_size}, classes={len(self.classes)}, "
                f"mean={self.mean}, std={self.std}, scale={self.scale})")


def _trace(module: nn.Module, shape: Sequence[int]) -> list[ForwardStep]:
    module = eval_twin(module)  # the user's model is never changed; its hooks stay its own
    names = {id(m): n for n, m in module.named_modules() if n}
    steps: dict[int, ForwardStep] = {}
    thread = threading.get_ident()  # other threads may run the same model meanwhile

    def record(m: nn.Module, inputs: Any, output: Any) -> None:
        if threading.get_ident() != thread:
            return
        key = id(m)
        if key in names and key not in steps and isinstance(output, torch.Tensor):
            steps[key] = ForwardStep(names[key], original_of(m), tuple(output.shape[1:]))

    param = next(module.parameters(), None)
    like = param if param is not None else torch.zeros(())
    x = torch.zeros(tuple(shape), dtype=like.dtype, device=like.device)
    handles = [m.register_forward_hook(record) for m in module.modules() if id(m) in names]
    try:
        with torch.no_grad():
            module(x)
    finally:
        for handle in handles:
            handle.remove()
    return list(steps.values())


# --- plain modules ---------------------------------------------------------------------------

_CANDIDATE_SIZES = (224, 64, 32, 28, 96, 128, 256, 299, 48)


def as_lens_model(
    model: LensModel | nn.Module,
    input_size: int | tuple[int, int] | None = None,
    classes: Sequence[str] | None = None,
    channels: int | None = None,
) -> LensModel:
    """``model`` itself if it is a ``LensModel``; a plain ``nn.Module`` wrapped with defaults.

    The defaults: ImageNet normalisation (inputs in 0–1, ImageNet mean and std); the input
    channels (``channels``: 3 for RGB, 1 for grey) read from the first convolution the forward
    pass *runs* (not the first one registered), or, for a network that starts with a linear
    layer, from its width; ``input_size`` as given, else inferred from a first linear layer's
    width or the first of 224, 64, 32, 28, … that the network accepts; the classes named
    ``"0"``, ``"1"``, … (ImageNet's names when there are 1000 outputs).

    Raises:
        ValueError: naming the argument to give (``channels=``, ``input_size=``) when the
            input format cannot be inferred, or saying why a model taking neither 3 nor 1
            channels cannot be fed pictures.
    """
    if isinstance(model, LensModel):
        return model
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module or a LensModel; got "
                        f"{type(model).__name__}")
    if channels is not None and channels not in (1, 3):
        raise ValueError(f"channels must be 3 (RGB) or 1 (grey); got {channels!r}")
    given = None if input_size is None else as_size(input_size)
    guess: tuple[int, int] | None = None
    if channels is None:
        channels, guess = _guess_input(model, given)
    size = given if given is not None else _first_accepted_size(model, channels, guess)
    n_outputs = _output_width(model, channels, size)
    if classes is None:
        classes = (imagenet_classes() if n_outputs == 1000
                   else [str(i) for i in range(n_outputs)])
    elif len(classes) != n_outputs:
        raise ValueError(f"classes must name each of the model's {n_outputs} outputs; got "
                         f"{len(classes)} names")
    mean, std = (IMAGENET_MEAN, IMAGENET_STD) if channels == 3 else ((0.5,), (0.5,))
    return LensModel(model, list(classes), size, mean, std, 1.0, type(model).__name__,
                     "a user's network with ImageNet preprocessing")


class _FirstLayer(Exception):
    """Raised from a probe hook: the first convolution or linear layer the forward pass runs."""

    def __init__(self, name: str, layer: nn.Module) -> None:
        super().__init__(name)
        self.name = name
        self.layer = layer


def _first_layer_run(
    model: nn.Module, input_size: tuple[int, int] | None
) -> tuple[str, nn.Module] | None:
    """The first ``Conv2d`` or ``Linear`` that the forward pass runs on a zero probe.

    What runs decides, not the order of registration (a stem registered after the body still
    runs first). The forward pass is stopped at that layer, so the probe's channels need not
    match it; probes that fail earlier are tried with other channels and sizes.
    """
    model = eval_twin(model)  # the probe hooks go on the twin: the user's model never has them
    # By the user's modules: the hooks fire on twins of the twin (``_output_width`` makes one).
    names = {id(original_of(m)): n for n, m in model.named_modules()
             if isinstance(m, nn.Conv2d | nn.Linear)}
    thread = threading.get_ident()  # other threads may run the same model meanwhile

    def stop(module: nn.Module, inputs: Any) -> None:
        if threading.get_ident() == thread:
            raise _FirstLayer(names[id(original_of(module))], original_of(module))

    sides = [input_size] if input_size is not None else [(s, s) for s in (224, 32)]
    handles = [m.register_forward_pre_hook(stop) for m in model.modules()
               if id(original_of(m)) in names]
    try:
        for size in sides:
            for channels in (3, 1):
                try:
                    _output_width(model, channels, size)
                except _FirstLayer as found:
                    return found.name, found.layer
                except (RuntimeError, ValueError, TypeError, IndexError):
                    continue
    finally:
        for handle in handles:
            handle.remove()
    return None


def _guess_input(
    model: nn.Module, input_size: tuple[int, int] | None
) -> tuple[int, tuple[int, int] | None]:
    found = _first_layer_run(model, input_size)
    if found is None:
        return 3, None
    name, first = found
    if isinstance(first, nn.Conv2d):
        if first.in_channels not in (1, 3):
            raise ValueError(
                f"the first convolution the model runs ({name!r}) takes {first.in_channels} "
                "input channels; as_lens_model makes RGB (3) or grey (1) inputs from pictures. "
                "Wrap the module so that it takes 3 or 1 channels")
        return first.in_channels, None
    assert isinstance(first, nn.Linear)
    for channels in (3, 1):
        side = round((first.in_features / channels) ** 0.5)
        if channels * side * side == first.in_features:
            return channels, (side, side)
    return 3, None


def _first_accepted_size(
    model: nn.Module, channels: int, guess: tuple[int, int] | None
) -> tuple[int, int]:
    """``guess`` (from a first linear layer's width) if the model runs on it, else the first
    of the usual sizes that it runs on."""
    for size in ([guess] if guess else []) + [(side, side) for side in _CANDIDATE_SIZES]:
        try:
            _output_width(model, channels, size)
        except (RuntimeError, ValueError):
            continue
        return size
    raise ValueError("could not infer the model's input size; pass input_size= (and "
                     "channels=, 3 or 1, if the input is not RGB)")


def _output_width(model: nn.Module, channels: int, size: tuple[int, int]) -> int:
    param = next(model.parameters(), None)
    like = param if param is not None else torch.zeros(())
    x = torch.zeros((1, channels, *size), dtype=like.dtype, device=like.device)
    with torch.no_grad():
        out = eval_twin(model)(x)
    return int(logits_from_output(out).shape[1])
