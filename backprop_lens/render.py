"""Map → picture conventions, named so that the UI can say which one it shows.

- ``signed_rgb`` (DeconvNet, guided backprop): each channel's signed value, clipped at the 1st and
  99th percentiles and divided by the larger of their magnitudes, shown centred on grey:
  pixel = 0.5 + 0.5 · v, so grey is zero, brighter is positive, darker negative.
- ``abs_grey`` (saliency): |g| summed over channels, clipped at its 99th percentile and divided by
  it, shown as grey levels.
- ``signed_channel`` (input × gradient, Integrated Gradients): the map summed over channels, one
  signed value per pixel, clipped at the 1st/99th percentiles and divided by the larger magnitude,
  through a diverging colour map (matplotlib's ``RdBu_r``: blue negative, white zero, red positive).
- ``heatmap`` (Grad-CAM): one non-negative channel divided by its maximum, through a sequential
  colour map (``inferno``), meant to be laid over the image (the view sets its opacity).

Which convention a method gets is the engine's ``display`` of that method.

Each rendered map keeps the ``scale`` it was divided by. A view can then put several maps on one
shared scale S without re-rendering: a signed map becomes 0.5 + (p − 0.5)·s/S (CSS
``contrast(s/S)``), an absolute map p·s/S (CSS ``brightness(s/S)``).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from .engine import METHODS, get_method

SIGNED_RGB = "signed_rgb"
ABS_GREY = "abs_grey"
SIGNED_CHANNEL = "signed_channel"
HEATMAP = "heatmap"

CONVENTIONS: dict[str, str] = {
    SIGNED_RGB: "signed RGB centred on grey, clipped at the 1st/99th percentile",
    ABS_GREY: "|g| summed over channels, grey, clipped at the 99th percentile",
    SIGNED_CHANNEL: "summed over channels, diverging colours (blue −, white 0, red +), "
                    "clipped at the 1st/99th percentile",
    HEATMAP: "heat map over the image (inferno, divided by its maximum)",
}

#: The colour maps (matplotlib's names) of the single-channel conventions.
COLOUR_MAPS: dict[str, str] = {SIGNED_CHANNEL: "RdBu_r", HEATMAP: "inferno"}

#: The convention users expect for each method: the engine's ``display`` of the registered
#: method (computed once, here); unknown methods are shown as signed RGB.
METHOD_CONVENTIONS: dict[str, str] = {name: get_method(name).display for name in METHODS}


#: Encodings a rendered map can travel in: lossless PNG (default), or smaller lossy WebP/JPEG.
ENCODINGS: dict[str, str] = {"png": "image/png", "webp": "image/webp", "jpeg": "image/jpeg"}


@dataclass(frozen=True)
class RenderedMap:
    image: bytes        # the encoded picture
    mime: str           # its media type (see ENCODINGS)
    scale: float        # what the map was divided by (see the module doc)
    convention: str


def convention_for(method: str) -> str:
    return METHOD_CONVENTIONS.get(method, SIGNED_RGB)


def as_chw(values: torch.Tensor | np.ndarray) -> np.ndarray:
    array = values.detach().cpu().double().numpy() if isinstance(values, torch.Tensor) else (
        np.asarray(values, dtype=np.float64))
    if array.ndim == 4 and array.shape[0] == 1:
        array = array[0]
    if array.ndim != 3:
        raise ValueError(f"a map must be shaped (C, H, W); got {array.shape}")
    return array


def robust_scale(values: torch.Tensor | np.ndarray, convention: str) -> float:
    """The value a map is divided by under ``convention`` (1.0 for an all-zero map)."""
    array = as_chw(values)
    if convention == SIGNED_RGB:
        low, high = np.percentile(array, [1, 99])
        scale = max(abs(low), abs(high))
    elif convention == ABS_GREY:
        scale = np.percentile(np.abs(array).sum(axis=0), 99)
    elif convention == SIGNED_CHANNEL:
        low, high = np.percentile(array.sum(axis=0), [1, 99])
        scale = max(abs(low), abs(high))
    elif convention == HEATMAP:
        scale = array[0].max()
    else:
        raise ValueError(f"convention must be one of {sorted(CONVENTIONS)}; got {convention!r}")
    return float(scale) if scale > 0 else 1.0


def to_pixels(
    values: torch.Tensor | np.ndarray, convention: str, scale: float | None = None
) -> tuple[np.ndarray, float]:
    """The map as (H, W, 3) uint8 pixels, and the scale used (its own unless given)."""
    array = as_chw(values)
    scale = robust_scale(array, convention) if scale is None else float(scale)
    if convention in COLOUR_MAPS:
        return _coloured(array, convention, scale), scale
    if convention == SIGNED_RGB:
        unit = np.clip(array / scale, -1.0, 1.0) * 0.5 + 0.5
        if unit.shape[0] == 1:
            unit = np.repeat(unit, 3, axis=0)
        elif unit.shape[0] != 3:
            unit = np.repeat(unit.mean(axis=0, keepdims=True), 3, axis=0)
    else:
        unit = np.repeat(np.clip(np.abs(array).sum(axis=0, keepdims=True) / scale, 0, 1), 3, 0)
    pixels = np.round(unit.transpose(1, 2, 0) * 255.0).astype(np.uint8)
    return pixels, scale


def _coloured(array: np.ndarray, convention: str, scale: float) -> np.ndarray:
    """(H, W, 3) uint8: one value per pixel through the convention's colour map (matplotlib,
    imported here: the maps of the paper's three methods never need it)."""
    from matplotlib import colormaps

    if convention == SIGNED_CHANNEL:
        unit = np.clip(array.sum(axis=0) / scale, -1.0, 1.0) * 0.5 + 0.5
    else:
        unit = np.clip(array[0] / scale, 0.0, 1.0)
    rgba = colormaps[COLOUR_MAPS[convention]](unit, bytes=True)
    return np.ascontiguousarray(rgba[..., :3])


def encode(pixels: np.ndarray, encoding: str = "png", quality: int = 85) -> bytes:
    """(H, W, 3) uint8 pixels as ``encoding`` bytes. PNG uses fast compression (maps are many
    and small); ``quality`` (1–100) applies to WebP and JPEG."""
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding must be one of {sorted(ENCODINGS)}; got {encoding!r}")
    if not 1 <= quality <= 100:
        raise ValueError(f"quality must be in [1, 100]; got {quality}")
    buffer = io.BytesIO()
    options = {"compress_level": 1} if encoding == "png" else {"quality": quality}
    Image.fromarray(pixels).save(buffer, format=encoding.upper(), **options)
    return buffer.getvalue()



def render_map(
    values: torch.Tensor | np.ndarray,
    method: str,
    scale: float | None = None,
    encoding: str = "png",
    quality: int = 85,
) -> RenderedMap:
    """The map of ``method`` rendered with that method's convention (see the module doc)."""
    convention = convention_for(method)
    pixels, used = to_pixels(values, convention, scale)
    return RenderedMap(encode(pixels, encoding, quality), ENCODINGS[encoding], used, convention)
