"""Numbers that make the paper's claims measurable.

Maps and inputs are (C, H, W) or (1, C, H, W), as torch tensors or numpy arrays.

- Image recovery (does a map show the input picture?): ``recovery_correlation`` (Pearson r
  against the input minus its per-channel mean) and ``recovery_ssim``.
- Map similarity (Adebayo et al., NeurIPS 2018): ``ssim`` and ``rank_correlation``, each with
  or without absolute values.
- ``class_sensitivity``: the paper's average L2 distance between the maps of different targets.
- ``mass_inside``: how much of a map lies on an object, for data with object masks.

Grey-scale versions (for SSIM and rank correlation) collapse the channels: their mean for
signed values, the sum of magnitudes for ``absolute=True`` (the saliency display). Before SSIM
each grey picture is clipped at its 1st and 99th percentiles and scaled to [0, 1], as
``render`` does for display: a few extreme gradient values would otherwise squash the whole
picture into one grey level, and the number would judge a picture nobody sees.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import stats
from skimage.metrics import structural_similarity

from .render import as_chw

Array = torch.Tensor | np.ndarray

#: The percentiles a grey picture is clipped at before SSIM (as in ``render``).
CLIP_PERCENTILES = (1.0, 99.0)


def grey(values: Array, absolute: bool = False) -> np.ndarray:
    """(H, W): the channel mean, or with ``absolute`` the sum of |values| over channels."""
    array = as_chw(values)
    return np.abs(array).sum(axis=0) if absolute else array.mean(axis=0)


def unit_grey(values: Array, absolute: bool = False) -> np.ndarray:
    """The grey picture clipped at ``CLIP_PERCENTILES`` and scaled to [0, 1] (all 0 if flat)."""
    picture = grey(values, absolute)
    low, high = np.percentile(picture, CLIP_PERCENTILES)
    if high <= low:
        return np.zeros_like(picture)
    return (np.clip(picture, low, high) - low) / (high - low)


def ssim(a: Array, b: Array, absolute: bool = False) -> float:
    """SSIM of the unit grey pictures of ``a`` and ``b`` (1: the same picture)."""
    first, second = unit_grey(a, absolute), unit_grey(b, absolute)
    _check_same_shape(first, second)
    return float(structural_similarity(first, second, data_range=1.0))


def rank_correlation(a: Array, b: Array, absolute: bool = False) -> float:
    """Spearman rank correlation of the grey pictures of ``a`` and ``b`` (0 when one is flat)."""
    first, second = grey(a, absolute), grey(b, absolute)
    _check_same_shape(first, second)
    if np.ptp(first) == 0 or np.ptp(second) == 0:
        return 0.0
    return float(stats.spearmanr(first.ravel(), second.ravel()).statistic)


def recovery_correlation(map_: Array, x: Array) -> float:
    """Pearson r between a map and the input minus its per-channel mean, over pixels and
    channels: near 1 when the map is the picture (up to brightness and contrast).

    A flat map shows no picture: its correlation is 0.
    """
    values, image = as_chw(map_), as_chw(x)
    _check_same_shape(values, image)
    centred = image - image.mean(axis=(1, 2), keepdims=True)
    if np.ptp(values) == 0 or np.ptp(centred) == 0:
        return 0.0
    return float(np.corrcoef(values.ravel(), centred.ravel())[0, 1])


def recovery_ssim(map_: Array, x: Array) -> float:
    """SSIM between the unit grey pictures of a map and of the input it was computed for."""
    return ssim(map_, x)


def class_sensitivity(maps: torch.Tensor) -> float:
    """The paper's "average l2 distance statistic": mean L2 distance between the maps of
    different targets, each map first scaled to unit L2 norm.

    ``maps`` is (K, C, H, W), one map per target, K ≥ 2. Zero: every target gives the same
    picture (up to scale); the largest value, 2, needs opposite maps.
    """
    if maps.ndim != 4 or maps.shape[0] < 2:
        raise ValueError(f"maps must be shaped (K, C, H, W) with K >= 2; got {tuple(maps.shape)}")
    flat = maps.detach().flatten(1).double()
    unit = flat / flat.norm(dim=1, keepdim=True).clamp_min(1e-30)
    return float(torch.pdist(unit).mean())


def mass_inside(map_: Array, mask: Array) -> float:
    """The fraction of the map's absolute mass (summed over channels) inside ``mask`` (H, W).

    1: everything the map shows lies on the object; the object's area fraction is what a map
    spread evenly would score. A map without any mass scores 0.
    """
    magnitude = grey(map_, absolute=True)
    region = np.asarray(mask.detach().cpu() if isinstance(mask, torch.Tensor) else mask)
    if region.shape != magnitude.shape:
        raise ValueError(f"mask must be shaped like the map's (H, W) = {magnitude.shape}; "
                         f"got {region.shape}")
    total = magnitude.sum()
    return float(magnitude[region.astype(bool)].sum() / total) if total > 0 else 0.0


def _check_same_shape(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise ValueError(f"the two arrays must have the same shape; got {a.shape} and {b.shape}")
