"""The single-channel conventions of the methods beyond the paper's three: input × gradient and
Integrated Gradients through a diverging colour map, Grad-CAM as a sequential heat map."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib import colormaps

from backprop_lens.render import (
    CONVENTIONS,
    HEATMAP,
    METHOD_CONVENTIONS,
    SIGNED_CHANNEL,
    convention_for,
    render_map,
    robust_scale,
    to_pixels,
)


def test_each_method_has_the_convention_of_its_display() -> None:
    assert convention_for("integrated_gradients") == SIGNED_CHANNEL
    assert convention_for("input_x_gradient") == SIGNED_CHANNEL
    assert convention_for("gradcam") == HEATMAP
    assert convention_for("guided_gradcam") == "signed_rgb"
    assert set(METHOD_CONVENTIONS.values()) <= set(CONVENTIONS)


def test_signed_channel_sums_channels_and_centres_zero_on_the_middle_colour() -> None:
    values = np.zeros((3, 2, 2))
    values[:, 0, 0] = [1.0, 1.0, 1.0]  # sum +3: the reddest
    values[:, 1, 1] = [-1.0, -1.0, -1.0]  # sum −3: the bluest
    scale = robust_scale(values, SIGNED_CHANNEL)
    assert scale == pytest.approx(np.percentile(values.sum(0), 99))
    pixels, _ = to_pixels(values, SIGNED_CHANNEL, scale=3.0)
    table = colormaps["RdBu_r"]
    assert pixels[0, 0].tolist() == list(table(1.0, bytes=True)[:3])
    assert pixels[1, 1].tolist() == list(table(0.0, bytes=True)[:3])
    assert pixels[0, 1].tolist() == list(table(0.5, bytes=True)[:3])
    assert pixels[0, 0, 0] > pixels[0, 0, 2] and pixels[1, 1, 2] > pixels[1, 1, 0]


def test_heatmap_divides_the_first_channel_by_its_maximum() -> None:
    values = np.zeros((3, 2, 2))
    values[:, 0, 0] = 4.0
    values[:, 1, 0] = 2.0
    assert robust_scale(values, HEATMAP) == 4.0
    pixels, scale = to_pixels(values, HEATMAP)
    table = colormaps["inferno"]
    assert scale == 4.0
    assert pixels[0, 0].tolist() == list(table(1.0, bytes=True)[:3])
    assert pixels[1, 0].tolist() == list(table(0.5, bytes=True)[:3])
    assert pixels[1, 1].tolist() == list(table(0.0, bytes=True)[:3])
    rendered = render_map(values, "gradcam")
    assert rendered.convention == HEATMAP and rendered.scale == 4.0
    assert robust_scale(np.zeros((3, 2, 2)), HEATMAP) == 1.0
