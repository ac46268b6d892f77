"""The Explorer's perturbations, as pure functions: checking the front end's stroke and attack
messages, applying a brush stroke, keeping a perturbation a valid image, and picturing it.

Units: a perturbation ``delta`` is in model input units, shaped like the input (1, C, H, W), so
that ``clean + delta`` is the perturbed input. The front end speaks 0–255 pixel steps (brush
strength, attack budget); ``pixels_to_input_units`` converts. A painted ``mask`` is (H, W) in
[0, 1]: how much each pixel has been painted (an attack may be confined to it).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..models import LensModel

#: What a brush stroke does under its coverage: add, subtract, add Gaussian noise (per pixel
#: and channel), or take the perturbation (and the painted mask) back towards zero.
STROKE_MODES = ("brighten", "darken", "noise", "erase")
ATTACK_METHODS = ("fgsm", "pgd")
#: The largest brush strength and attack budget, in 0–255 pixel steps.
MAX_STRENGTH = 255.0
MAX_EPS = 64.0
MAX_STEPS = 100


@dataclass(frozen=True)
class Stroke:
    mode: str
    strength: float             # pixel steps
    coverage: np.ndarray        # (H, W) float in [0, 1]


@dataclass(frozen=True)
class AttackRequest:
    method: str
    eps: float                  # pixel steps
    steps: int
    target: int | None
    masked: bool


def _number(content: Mapping[str, Any], key: str, low: float, high: float) -> float:
    value = content.get(key)
    expected = f"{key} must be a number in ({low:g}, {high:g}]; got {shown(value)}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(expected)
    try:
        number = float(value)
    except (OverflowError, ValueError):  # ints beyond float's range (10**400), odd Reals
        raise ValueError(expected) from None
    if not (math.isfinite(number) and low < number <= high):
        raise ValueError(expected)
    return number


def shown(value: Any) -> str:
    """``value`` as an error message shows it: a huge number by its size, not its digits."""
    if isinstance(value, int) and abs(value) >= 10**30:  # repr of 10**5000 itself raises
        return f"an int of about {int(value.bit_length() * math.log10(2)) + 1} digits"
    try:
        text = repr(value)
    except ValueError:  # it holds an int of more digits than Python prints
        return f"a {type(value).__name__} too large to show"
    return text if len(text) <= 80 else text[:77] + "..."


def _integer(content: Mapping[str, Any], key: str) -> int:
    value = content.get(key)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{key} must be an int; got {shown(value)}")
    return int(value)


def check_stroke(content: Mapping[str, Any], buffers: Sequence[Any],
                 shape: tuple[int, int]) -> Stroke:
    """A ``{"type": "stroke", "mode", "strength", "width", "height"}`` message with one buffer
    of width × height uint8 brush coverage, at the model's input size ``shape`` (H, W)."""
    mode = content.get("mode")
    if mode not in STROKE_MODES:
        raise ValueError(f"mode must be one of {list(STROKE_MODES)}; got {shown(mode)}")
    strength = _number(content, "strength", 0.0, MAX_STRENGTH)
    width, height = _integer(content, "width"), _integer(content, "height")
    if (height, width) != tuple(shape):
        raise ValueError(f"a stroke's width×height must be {shape[1]}×{shape[0]} (the model's "
                         f"input size); got {shown(width)}×{shown(height)}")
    if len(buffers) != 1:
        raise ValueError(f"a stroke carries one buffer of brush coverage; got {len(buffers)}")
    data = bytes(memoryview(buffers[0]).cast("B"))
    if len(data) != width * height:
        raise ValueError(f"the stroke's buffer must hold {width}×{height} = {width * height} "
                         f"bytes; got {len(data)}")
    coverage = np.frombuffer(data, dtype=np.uint8).reshape(height, width) / 255.0
    if not coverage.any():
        raise ValueError("the stroke covers no pixel of the image")
    return Stroke(str(mode), strength, coverage)


def check_attack(content: Mapping[str, Any], n_classes: int, painted: bool) -> AttackRequest:
    """An ``{"type": "attack", "method", "eps", "steps", "target", "masked"}`` message."""
    method = content.get("method")
    if method not in ATTACK_METHODS:
        raise ValueError(f"method must be one of {list(ATTACK_METHODS)}; got {shown(method)}")
    eps = _number(content, "eps", 0.0, MAX_EPS)
    steps = 1
    if method == "pgd":
        steps = _integer(content, "steps")
        if not 1 <= steps <= MAX_STEPS:
            raise ValueError(f"steps must be in [1, {MAX_STEPS}]; got {shown(steps)}")
    target = content.get("target")
    if target is not None:
        target = _integer(content, "target")
        if not 0 <= target < n_classes:
            raise ValueError(f"target must be null or a class in [0, {n_classes}); "
                             f"got {shown(target)}")
    masked = content.get("masked", False)
    if not isinstance(masked, bool):
        raise ValueError(f"masked must be a bool; got {shown(masked)}")
    if masked and not painted:
        raise ValueError("masked: paint a region first (the painted region is the attack mask)")
    return AttackRequest(str(method), eps, steps, target, masked)


def attack_arguments(content: Mapping[str, Any]) -> dict[str, Any]:
    """The keyword arguments of ``Explorer.attack`` that an attack message gives (checked
    there); a message without ``steps`` means one step (FGSM messages carry none), one
    without ``start`` an attack from the clean image."""
    defaults = {"method": None, "eps": None, "steps": 1, "target": None, "masked": False,
                "start": "clean"}
    return {key: content.get(key, default) for key, default in defaults.items()}


def pixel_units(spec: LensModel, like: torch.Tensor) -> torch.Tensor:
    """One 0–255 pixel step in ``spec``'s input units, per channel (1, C, 1, 1)."""
    std = torch.tensor(spec.std, dtype=like.dtype, device=like.device).view(1, -1, 1, 1)
    return spec.scale / 255.0 / std


def apply_stroke(
    spec: LensModel, clean: torch.Tensor, delta: torch.Tensor, mask: np.ndarray, stroke: Stroke,
    generator: torch.Generator,
) -> tuple[torch.Tensor, np.ndarray]:
    """The perturbation and painted mask after ``stroke``; the result stays a valid image."""
    cover = torch.from_numpy(stroke.coverage).to(delta.dtype).to(delta.device)[None, None]
    amount = stroke.strength * pixel_units(spec, delta)
    if stroke.mode == "erase":
        return delta * (1.0 - cover), mask * (1.0 - stroke.coverage)
    if stroke.mode == "noise":
        noise = torch.randn(delta.shape, generator=generator, dtype=delta.dtype).to(delta.device)
        change = cover * amount * noise
    else:
        change = cover * amount * (1.0 if stroke.mode == "brighten" else -1.0)
    return clip(spec, clean, delta + change), np.maximum(mask, stroke.coverage)


def clip(spec: LensModel, clean: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    """``delta`` such that ``clean + delta`` stays within ``spec.input_bounds``; pixels where
    ``delta`` is 0 stay exactly 0."""
    low, high = (bound.to(clean.dtype).to(clean.device) for bound in spec.input_bounds)
    clipped = torch.maximum(torch.minimum(clean + delta, high), low) - clean
    return torch.where(delta != 0, clipped, torch.zeros_like(delta))


def perturbation_picture(spec: LensModel, delta: torch.Tensor) -> tuple[np.ndarray, float]:
    """(H, W, 3) uint8: the perturbation on grey, amplified so that its largest change (in
    pixel steps, also returned) spans the full range; grey where there is none."""
    steps = (delta / pixel_units(spec, delta))[0].detach().double().cpu().numpy()
    largest = float(np.abs(steps).max()) if steps.size else 0.0
    gain = 127.0 / largest if largest > 0 else 0.0
    picture = np.clip(np.rint(128.0 + steps * gain), 0, 255).astype(np.uint8)
    if picture.shape[0] == 1:
        picture = np.repeat(picture, 3, axis=0)
    return np.ascontiguousarray(picture.transpose(1, 2, 0)), largest


def prediction_shift(clean: torch.Tensor, perturbed: torch.Tensor) -> float:
    """Total variation distance between two class probability vectors (0: same, 1: disjoint)."""
    return float(0.5 * (clean - perturbed).abs().sum())
