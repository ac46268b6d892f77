"""Metrics against hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from backprop_lens.metrics import (
    class_sensitivity,
    grey,
    mass_inside,
    rank_correlation,
    recovery_correlation,
    recovery_ssim,
    ssim,
    unit_grey,
)


def test_class_sensitivity_is_the_mean_distance_of_unit_maps() -> None:
    a = torch.tensor([3.0, 0.0]).view(1, 1, 1, 2)   # unit: (1, 0)
    b = torch.tensor([0.0, 0.5]).view(1, 1, 1, 2)   # unit: (0, 1)
    c = torch.tensor([-2.0, 0.0]).view(1, 1, 1, 2)  # unit: (-1, 0)
    maps = torch.cat([a, b, c])
    # distances: a–b √2, a–c 2, b–c √2
    assert class_sensitivity(maps) == pytest.approx((2 * math.sqrt(2) + 2) / 3)


def test_maps_equal_up_to_scale_have_zero_sensitivity() -> None:
    base = torch.randn(1, 3, 4, 4)
    assert class_sensitivity(torch.cat([base, 5 * base, 0.1 * base])) == pytest.approx(0, abs=1e-7)


def test_class_sensitivity_needs_two_maps() -> None:
    with pytest.raises(ValueError, match=r"K >= 2"):
        class_sensitivity(torch.randn(1, 3, 4, 4))


# --- grey pictures ---------------------------------------------------------------------------

def test_grey_is_the_channel_mean_or_the_sum_of_magnitudes() -> None:
    values = torch.tensor([[[1.0, -2.0]], [[3.0, 4.0]]])  # (C=2, H=1, W=2)
    assert np.allclose(grey(values), [[2.0, 1.0]])
    assert np.allclose(grey(values, absolute=True), [[4.0, 6.0]])
    assert np.allclose(grey(values[None].numpy()), [[2.0, 1.0]])  # (1, C, H, W), numpy


def test_unit_grey_clips_at_the_1st_and_99th_percentiles() -> None:
    ramp = np.arange(101.0).reshape(1, 1, 101)  # percentiles 1 and 99 are 1.0 and 99.0
    unit = unit_grey(ramp)
    assert unit[0, 0] == 0.0 and unit[0, 100] == 1.0
    assert unit[0, 50] == pytest.approx(49 / 98)
    assert (unit_grey(np.full((3, 4, 4), 7.0)) == 0).all()  # flat: no picture


# --- image recovery ----------------------------------------------------------------------------

def test_recovery_correlation_against_the_mean_subtracted_input() -> None:
    x = torch.tensor([[[0.0, 2.0]], [[10.0, 14.0]]])  # centred per channel: -1, 1, -2, 2
    the_map = torch.tensor([[[-1.0, 1.0]], [[2.0, -2.0]]])
    # Pearson of (-1, 1, 2, -2) and (-1, 1, -2, 2), both of mean 0: (1 + 1 - 4 - 4) / 10
    assert recovery_correlation(the_map, x) == pytest.approx(-0.6)
    centred = x - x.mean(dim=(1, 2), keepdim=True)
    assert recovery_correlation(3 * centred + 1, x) == pytest.approx(1.0)
    assert recovery_correlation(torch.zeros_like(x), x) == 0.0


def test_recovery_ssim_is_one_for_the_input_itself_and_low_for_noise() -> None:
    image = torch.linspace(0, 1, 32 * 32).view(1, 1, 32, 32).expand(1, 3, 32, 32)[0]
    picture = torch.sin(image * 20)
    assert recovery_ssim(5 * picture - 2, picture) == pytest.approx(1.0)
    noise = torch.randn(3, 32, 32, generator=torch.Generator().manual_seed(0))
    assert abs(recovery_ssim(noise, picture)) < 0.15


# --- map similarity ----------------------------------------------------------------------------

def test_ssim_with_and_without_absolute_values() -> None:
    a = torch.randn(3, 16, 16, generator=torch.Generator().manual_seed(1))
    assert ssim(a, a) == pytest.approx(1.0)
    assert ssim(a, -a) < 0          # signed: the opposite picture
    assert ssim(a, -a, absolute=True) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="same shape"):
        ssim(a, a[:, :8])


def test_rank_correlation_by_hand() -> None:
    a = torch.tensor([1.0, 2.0, 3.0, 4.0]).view(1, 2, 2)
    b = torch.tensor([1.0, 3.0, 2.0, 4.0]).view(1, 2, 2)
    # Spearman without ties: 1 − 6 Σd² / (n (n² − 1)) = 1 − 6 · 2 / 60
    assert rank_correlation(a, b) == pytest.approx(0.8)
    assert rank_correlation(a, a ** 3) == pytest.approx(1.0)
    assert rank_correlation(a, -a) == pytest.approx(-1.0)
    assert rank_correlation(a, -a, absolute=True) == pytest.approx(1.0)
    assert rank_correlation(a, torch.zeros_like(a)) == 0.0


# --- localisation ------------------------------------------------------------------------------

def test_mass_inside_is_the_share_of_absolute_mass_on_the_mask() -> None:
    the_map = torch.zeros(3, 2, 2)
    the_map[0] = torch.tensor([[1.0, -1.0], [0.0, 2.0]])
    the_map[2] = torch.tensor([[0.0, 0.0], [0.0, -2.0]])  # |·| summed: [[1, 1], [0, 4]]
    mask = np.array([[True, False], [False, True]])
    assert mass_inside(the_map, mask) == pytest.approx(5 / 6)
    assert mass_inside(the_map, torch.from_numpy(~mask)) == pytest.approx(1 / 6)
    assert mass_inside(torch.zeros(3, 2, 2), mask) == 0.0
    with pytest.raises(ValueError, match="mask"):
        mass_inside(the_map, np.ones((3, 3), dtype=bool))
