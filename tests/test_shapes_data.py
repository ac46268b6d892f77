"""The procedural shapes data set: shapes, determinism, masks that match labels, two objects."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import measure

from backprop_lens import data
from backprop_lens.data import shapes

pytestmark = pytest.mark.usefixtures("no_network")


def test_generate_returns_images_labels_and_masks() -> None:
    images, labels, masks = data.shapes.generate(8, seed=123)
    assert images.shape == (8, 64, 64, 3) and images.dtype == np.uint8
    assert labels.shape == (8,) and labels.dtype == np.int64
    assert masks.shape == (8, 64, 64) and masks.dtype == bool
    assert set(labels.tolist()) <= set(range(len(shapes.CLASSES)))
    assert len(shapes.CLASSES) == 10


def test_same_seed_same_images_other_seed_other_images() -> None:
    a = shapes.generate(20, seed=5)
    b = shapes.generate(20, seed=5)
    c = shapes.generate(20, seed=6)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a.images, c.images)


def test_other_sizes_and_more_images_than_a_chunk() -> None:
    batch = shapes.generate(shapes.CHUNK + 3, seed=1, size=40)
    assert batch.images.shape == (shapes.CHUNK + 3, 40, 40, 3)
    assert batch.masks.shape == (shapes.CHUNK + 3, 40, 40)
    assert shapes.generate(0).images.shape == (0, 64, 64, 3)


def test_classes_are_balanced_enough() -> None:
    labels = shapes.generate(2000, seed=2).labels
    counts = np.bincount(labels, minlength=10)
    assert counts.min() > 150  # 200 expected each


def test_masks_are_exactly_the_painted_pixels() -> None:
    images, _, masks = shapes.generate(30, seed=9)
    for image, mask in zip(images.astype(float), masks, strict=True):
        inside = image[mask]
        # One solid colour plus pixel noise (σ 5) inside the mask ...
        assert np.abs(inside - np.median(inside, axis=0)).mean() < 8
        # ... and clearly different from the background around it.
        outside = image[~mask].mean(axis=0)
        assert np.linalg.norm(np.median(inside, axis=0) - outside) > 40


def _region(mask: np.ndarray) -> measure._regionprops.RegionProperties:
    (region,) = measure.regionprops(mask.astype(np.uint8))
    return region


def test_masks_match_their_labels() -> None:
    """Each class shows its geometry: holes, concavity, elongation."""
    _, labels, masks = shapes.generate(300, seed=11)
    name = [shapes.CLASSES[i] for i in labels]
    for cls, mask in zip(name, masks, strict=True):
        region = _region(mask)
        assert region.area > 60, cls
        holes = 1 - region.euler_number
        assert holes == (1 if cls == "ring" else 0), cls
        if cls in ("star", "cross", "arrow"):
            assert region.solidity < 0.8, cls
        elif cls != "ring":
            assert region.solidity > 0.85, cls
        if cls in ("circle", "ring", "square", "hexagon", "triangle", "star", "cross"):
            assert region.eccentricity < 0.45, cls
        if cls in ("ellipse", "diamond", "arrow"):
            assert region.eccentricity > 0.6, cls


def test_two_objects_have_two_distinct_classes_and_disjoint_masks() -> None:
    images, labels, masks = shapes.generate(50, seed=3, objects=2)
    assert images.shape == (50, 64, 64, 3)
    assert labels.shape == (50, 2) and masks.shape == (50, 2, 64, 64)
    assert (labels[:, 0] != labels[:, 1]).all()
    assert not (masks[:, 0] & masks[:, 1]).any()
    assert masks.sum(axis=(2, 3)).min() > 30
    for pair, pair_masks in zip(labels, masks, strict=True):
        for cls, mask in zip(pair, pair_masks, strict=True):
            assert (1 - _region(mask).euler_number) == (1 if shapes.CLASSES[cls] == "ring" else 0)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"n": -1}, ValueError, "n must be"),
        ({"n": 2.5}, TypeError, "n must be an int"),
        ({"n": 2, "seed": -3}, ValueError, "seed"),
        ({"n": 2, "seed": "a"}, TypeError, "seed"),
        ({"n": 2, "size": 16}, ValueError, "size must be at least 32"),
        ({"n": 2, "objects": 3}, ValueError, "objects must be 1 or 2"),
        ({"n": 2, "objects": 0}, ValueError, "objects"),
        ({"n": True}, TypeError, "n must be an int"),
    ],
)
def test_generate_rejects_bad_arguments(
    kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        shapes.generate(**kwargs)  # type: ignore[arg-type]
