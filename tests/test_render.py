"""Map → picture conventions."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from backprop_lens.render import (
    ABS_GREY,
    SIGNED_RGB,
    convention_for,
    encode,
    render_map,
    robust_scale,
    to_pixels,
)


def test_signed_maps_are_centred_on_grey_and_clipped_at_the_percentiles() -> None:
    values = np.linspace(-1.0, 3.0, 3 * 10 * 10).reshape(3, 10, 10)
    low, high = np.percentile(values, [1, 99])
    scale = robust_scale(values, SIGNED_RGB)
    assert scale == pytest.approx(max(abs(low), abs(high)))
    pixels, used = to_pixels(values, SIGNED_RGB)
    assert used == scale
    zero = to_pixels(np.zeros((3, 2, 2)), SIGNED_RGB, scale=1.0)[0]
    assert (zero == 128).all()                 # zero is grey
    assert pixels.max() == 255                 # the top percentile saturates
    expected = np.round((np.clip(values / scale, -1, 1) * 0.5 + 0.5) * 255).astype(np.uint8)
    assert np.array_equal(pixels, expected.transpose(1, 2, 0))


def test_absolute_maps_sum_channels_and_clip_at_the_99th_percentile() -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(size=(3, 20, 20))
    magnitude = np.abs(values).sum(axis=0)
    scale = robust_scale(values, ABS_GREY)
    assert scale == pytest.approx(np.percentile(magnitude, 99))
    pixels, _ = to_pixels(torch.from_numpy(values), ABS_GREY)
    assert pixels.shape == (20, 20, 3)
    assert (pixels[..., 0] == pixels[..., 1]).all()  # grey
    expected = np.round(np.clip(magnitude / scale, 0, 1) * 255).astype(np.uint8)
    assert np.array_equal(pixels[..., 0], expected)


def test_a_zero_map_renders_without_dividing_by_zero() -> None:
    for convention in (SIGNED_RGB, ABS_GREY):
        assert robust_scale(np.zeros((3, 4, 4)), convention) == 1.0


def test_single_channel_maps_become_grey_rgb() -> None:
    pixels, _ = to_pixels(np.ones((1, 4, 4)), SIGNED_RGB, scale=2.0)
    assert pixels.shape == (4, 4, 3) and (pixels == 191).all()


def test_methods_have_the_conventions_users_expect() -> None:
    assert convention_for("saliency") == ABS_GREY
    assert convention_for("guided_backprop") == SIGNED_RGB
    assert convention_for("deconvnet") == SIGNED_RGB


def test_render_map_returns_a_png_with_its_scale() -> None:
    rendered = render_map(torch.randn(1, 3, 8, 6), "guided_backprop")
    image = Image.open(io.BytesIO(rendered.image))
    assert image.size == (6, 8) and image.mode == "RGB"
    assert rendered.convention == SIGNED_RGB and rendered.scale > 0


def test_bad_maps_and_conventions_are_named() -> None:
    with pytest.raises(ValueError, match=r"a map must be shaped \(C, H, W\)"):
        to_pixels(np.zeros((4, 4)), SIGNED_RGB)
    with pytest.raises(ValueError, match="convention must be one of"):
        robust_scale(np.zeros((3, 4, 4)), "rainbow")


def test_lossy_encodings_are_smaller_and_named() -> None:
    noisy = np.random.default_rng(0).normal(size=(3, 64, 64))
    sizes = {enc: len(render_map(noisy, "guided_backprop", encoding=enc, quality=80).image)
             for enc in ("png", "webp", "jpeg")}
    assert sizes["webp"] < sizes["png"] and sizes["jpeg"] < sizes["png"]
    assert render_map(noisy, "saliency", encoding="webp").mime == "image/webp"
    with pytest.raises(ValueError, match="encoding must be one of"):
        encode(np.zeros((2, 2, 3), np.uint8), "bmp")
    with pytest.raises(ValueError, match=r"quality must be in \[1, 100\]"):
        encode(np.zeros((2, 2, 3), np.uint8), "jpeg", quality=0)
