"""Map → picture conventions, named so that the UI can say which one it shows.

- ``signed_rgb`` (DeconvNet, guided backprop): each channel's signed value, clipped at the 1st and
  99th percentiles and divided by the larger of their magnitudes, shown centred on grey:
  pixel = 0.5 + 0.5 · v, so grey is zero, brighter is positive, darker negative.
- ``abs_grey`` (saliency): |g| summed over channels, clipped at its 99th percentile and divided by
  it, shown as grey levels.

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

SIGNED_RGB = "signed_rgb"
ABS_GREY = "abs_grey"

CONVENTIONS: dict[str, str] = {
    SIGNED_RGB: "signed RGB centred on grey, clipped at the 1st/99th percentile",
    ABS_GREY: "|g| summed over channels, grey, clipped at the 99th percentile",
}

#: The convention users expect for each method; unknown methods are shown as signed RGB.
METHOD_CONVENTIONS: dict[str, str] = {
    "saliency": ABS_GREY,
    "deconvnet": SIGNED_RGB,
    "guided_backprop": SIGNED_RGB,
}


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
    else:
        raise ValueError(f"convention must be one of {sorted(CONVENTIONS)}; got {convention!r}")
    return float(scale) if scale > 0 else 1.0


def to_pixels(
    values: torch.Tensor | np.ndarray, convention: str, scale: float | None = None
) -> tuple[np.ndarray, float]:
    """The map as (H, W, 3) uint8 pixels, and the scale used (its own unless given)."""
    array = as_chw(values)
    scale = robust_scale(array, convention) if scale is None else float(scale)
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
