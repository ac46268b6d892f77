"""What the Explorer says about what it shows, where plain pictures would mislead: how the
picture was cut to the model's input (``crop``), and the layers whose maps are flat whatever the
image (``layer_notes``).

A picture of another aspect ratio is scaled to cover the model's input and centre-cropped
(``LensModel.preprocess``); ``crop_trait`` says which part was kept, with a thumbnail of the
whole picture that darkens the parts cut off.

At a layer that nothing nonlinear precedes (a first convolution before any ReLU), a channel's
summed activation is an affine function of the input, so its gradient, under every method's
rules, is the same for every image: a uniform pattern of the layer's weights. ``flat_layers``
finds those layers by what the forward pass computes: the channel sums at the midpoint of two
inputs are the mean of theirs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..data.images import image_tensor
from ..engine.activations import layer_channel_scores
from ..models import LensModel
from ..render import encode

#: The longer side of the crop thumbnail, in pixels.
THUMBNAIL = 160
#: How much of its brightness a part cut off keeps in the thumbnail.
CUT_BRIGHTNESS = 0.3


def crop_trait(image: Any, size: tuple[int, int]) -> dict[str, Any]:
    """The ``crop`` trait for ``image`` (anything ``preprocess`` takes) fitted to ``size`` =
    (height, width): the picture's ``width`` and ``height``, the ``box`` kept ([left, top,
    right, bottom], picture pixels), whether anything was ``cropped``, and, when it was, a PNG
    ``picture`` of the whole image (longer side ``THUMBNAIL``) with the parts cut off darkened
    and the kept box outlined."""
    pixels = image_tensor(image)
    _, h, w = pixels.shape
    height, width = size
    scale = max(height / h, width / w)
    kept_w, kept_h = min(w, width / scale), min(h, height / scale)
    left, top = (w - kept_w) / 2, (h - kept_h) / 2
    box = [round(left), round(top), round(left + kept_w), round(top + kept_h)]
    cropped = box != [0, 0, w, h]
    found: dict[str, Any] = {"width": int(w), "height": int(h), "box": box, "cropped": cropped}
    if cropped:
        found["picture"] = encode(_thumbnail(pixels, box))
    return found


def _thumbnail(pixels: torch.Tensor, box: Sequence[int]) -> np.ndarray:
    """(h, w, 3) uint8: the whole picture, small, darkened outside ``box``, box outlined."""
    _, h, w = pixels.shape
    factor = THUMBNAIL / max(h, w)
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    rgb = (pixels.permute(1, 2, 0).clamp(0, 1).numpy() * 255).round().astype(np.uint8)
    small = np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.BILINEAR)).copy()
    left, top, right, bottom = (min(round(v * factor), limit - 1) for v, limit in
                                zip(box, (size[0], size[1], size[0], size[1]), strict=True))
    inside = np.zeros(small.shape[:2], dtype=bool)
    inside[top:bottom + 1, left:right + 1] = True
    small[~inside] = (small[~inside] * CUT_BRIGHTNESS).astype(np.uint8)
    outline = (255, 213, 79)  # amber: visible on photos in light and dark themes alike
    small[top, left:right + 1] = small[bottom, left:right + 1] = outline
    small[top:bottom + 1, left] = small[top:bottom + 1, right] = outline
    return small


def flat_layers(spec: LensModel, x: torch.Tensor, layers: Sequence[str]) -> list[str]:
    """The names among ``layers`` whose channel sums are affine in the input (checked at ``x``
    (1, C, H, W), at a reproducible random input of the same size, and at their midpoint):
    their maps are flat for every image. Three forward passes."""
    if not layers:
        return []
    other = torch.rand(x.shape, generator=torch.Generator().manual_seed(0)).to(x) * 2 - 1
    other = other * x.std() + x.mean()
    scores = [layer_channel_scores(spec.module, point, layers)[1]
              for point in (x, other, (x + other) / 2)]
    found = []
    for name in layers:
        if not all(name in s for s in scores):
            continue
        at_x, at_other, at_mid = (s[name].double() for s in scores)
        reach = float(torch.maximum(at_x.abs(), at_other.abs()).max())
        if reach > 0 and float((at_mid - (at_x + at_other) / 2).abs().max()) <= 1e-4 * reach:
            found.append(name)
    return found


def flat_notes(names: Sequence[str]) -> dict[str, str]:
    """The ``layer_notes`` trait: why the maps of each of these layers are flat."""
    return {name: (f"Every map at {name} is flat, for any image and class: nothing nonlinear "
                   "runs before this layer, so a channel's summed activation is a linear "
                   "function of the input, and its gradient is the same uniform pattern of the "
                   "layer's weights under every method. Pick a layer after a ReLU.")
            for name in names}


def flat_layer_notes(spec: LensModel, x: torch.Tensor) -> dict[str, str]:
    """The ``layer_notes`` trait of ``spec`` (its flat layers, found at ``x``)."""
    return flat_notes(flat_layers(spec, x, [name for name, _ in spec.layers]))
