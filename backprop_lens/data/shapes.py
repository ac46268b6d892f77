"""Procedural images of ten shape classes, with the exact pixels of every object.

Why a synthetic data set: a visualisation method can only be judged against ground truth, and
natural photos have none. Here every image comes with a mask per object, so one can measure
whether a map highlights the object, and — with two objects of different classes in one image —
whether a class-sensitive method highlights the object of the *chosen* class and not the other.
It is also small and easy enough that a CNN trained on it in minutes on a laptop CPU is accurate,
which lets us ship trained weights that are ours.

Each object is a shape of random colour, size, position and rotation, painted over a textured
background (colour gradient, smooth blobs, stripes, or grain) with a little pixel noise on top.
Objects never overlap, so each mask is exactly the pixels painted with that object. The shapes
are drawn by an inside test on the pixel grid, vectorised over all objects of one class.
Everything is a pure function of ``(n, seed, size, objects)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

#: The class names, in label order.
CLASSES: tuple[str, ...] = (
    "circle", "square", "triangle", "star", "cross",
    "ring", "hexagon", "diamond", "ellipse", "arrow",
)

#: Images are made in chunks of this many, each from its own generator seeded by
#: ``(seed, chunk index)``, so memory stays small whatever ``n`` is.
CHUNK = 512

#: Shape size: the radius of the circle around the shape, as a fraction of the image size.
RADIUS_RANGE = {1: (0.2, 0.45), 2: (0.18, 0.27)}

_MIN_CONTRAST = 90.0  # least RGB distance between a shape's colour and its background's mean
_NOISE_STD = 5.0  # pixel noise added last, over shapes and background alike

Mask = np.ndarray  # bool, the shape of the coordinate arrays
Inside = Callable[[np.ndarray, np.ndarray, np.ndarray], Mask]


class ShapesBatch(NamedTuple):
    """Images with their labels and object masks; unpacks as ``images, labels, masks``.

    With ``objects=1``: ``labels`` (n,), ``masks`` (n, H, W). With ``objects=k > 1``:
    ``labels`` (n, k) and ``masks`` (n, k, H, W), one per object, all classes distinct.
    """

    images: np.ndarray  # (n, H, W, 3) uint8
    labels: np.ndarray  # int64
    masks: np.ndarray  # bool


def generate(n: int, seed: int = 0, size: int = 64, objects: int = 1) -> ShapesBatch:
    """``n`` RGB images of shapes, their class labels (indices into :data:`CLASSES`) and masks.

    Args:
        n: the number of images (0 or more).
        seed: the same seed gives the same images, bit for bit.
        size: height and width in pixels (at least 32).
        objects: shapes per image, 1 or 2. Two shapes in one image have different classes.
    """
    n = _check_int(n, "n", low=0)
    seed = _check_int(seed, "seed", low=0)
    size = _check_int(size, "size", low=32)
    objects = _check_int(objects, "objects", low=1)
    if objects not in RADIUS_RANGE:
        raise ValueError(f"objects must be 1 or 2; got {objects}")
    images = np.empty((n, size, size, 3), dtype=np.uint8)
    labels = np.empty((n, objects), dtype=np.int64)
    masks = np.empty((n, objects, size, size), dtype=bool)
    for index, start in enumerate(range(0, n, CHUNK)):
        stop = min(n, start + CHUNK)
        rng = np.random.default_rng([seed, index])
        images[start:stop], labels[start:stop], masks[start:stop] = _chunk(
            rng, stop - start, size, objects
        )
    if objects == 1:
        return ShapesBatch(images, labels[:, 0], masks[:, 0])
    return ShapesBatch(images, labels, masks)


def _check_int(value: object, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an int; got {type(value).__name__}")
    if value < low:
        raise ValueError(f"{name} must be at least {low}; got {value}")
    return int(value)


def _chunk(
    rng: np.random.Generator, n: int, size: int, objects: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    labels = _distinct_labels(rng, n, objects)
    radii, centres = _placements(rng, n, size, objects)
    angles = rng.uniform(0.0, 2.0 * math.pi, size=(n, objects))
    params = rng.uniform(0.0, 1.0, size=(n, objects))  # aspect of ellipses, hole of rings
    background, reference = _backgrounds(rng, n, size)
    colours = _contrasting_colours(rng, reference, objects)

    masks = np.zeros((n, objects, size, size), dtype=bool)
    for cls in range(len(CLASSES)):
        image_index, object_index = np.nonzero(labels == cls)
        if image_index.size:
            masks[image_index, object_index] = _draw(
                cls, size, centres[image_index, object_index], radii[image_index, object_index],
                angles[image_index, object_index], params[image_index, object_index],
            )
    for k in range(objects):
        np.copyto(background, colours[:, k, None, None, :], where=masks[:, k, :, :, None])
    noise = rng.standard_normal(size=background.shape, dtype=np.float32)
    background += noise * np.float32(_NOISE_STD)
    images = np.clip(np.rint(background, out=background), 0, 255, out=background).astype(np.uint8)
    return images, labels, masks


def _distinct_labels(rng: np.random.Generator, n: int, objects: int) -> np.ndarray:
    """Uniform classes, all different within an image."""
    n_classes = len(CLASSES)
    keys = rng.random((n, n_classes))
    return np.argsort(keys, axis=1)[:, :objects].astype(np.int64)


def _placements(
    rng: np.random.Generator, n: int, size: int, objects: int
) -> tuple[np.ndarray, np.ndarray]:
    """Radii (n, k) and centres (n, k, 2) (x, y) of shapes that lie inside and never overlap."""
    low, high = RADIUS_RANGE[objects]
    radii = rng.uniform(low, high, size=(n, objects)) * size
    centres = np.empty((n, objects, 2))
    pending = np.arange(n)
    while pending.size:
        for _ in range(50):
            r = radii[pending]
            centres[pending] = r[:, :, None] + rng.random((pending.size, objects, 2)) * (
                size - 2.0 * r[:, :, None]
            )
            pending = pending[~_separated(centres[pending], radii[pending])]
            if not pending.size:
                break
        radii[pending] *= 0.9  # rarely needed: make room and try again
    return radii, centres


def _separated(centres: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Whether the circles around the shapes of each image keep a pixel apart."""
    ok = np.ones(len(centres), dtype=bool)
    objects = centres.shape[1]
    for i in range(objects):
        for j in range(i + 1, objects):
            distance = np.linalg.norm(centres[:, i] - centres[:, j], axis=1)
            ok &= distance >= radii[:, i] + radii[:, j] + 1.0
    return ok


def _backgrounds(rng: np.random.Generator, n: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, H, W, 3) float backgrounds and each one's mean colour (n, 3)."""
    first = rng.uniform(0.0, 255.0, size=(n, 3))
    second = np.clip(first + rng.uniform(-60.0, 60.0, size=(n, 3)), 0.0, 255.0)
    kinds = rng.integers(0, 4, size=n)
    texture = np.empty((n, size, size), dtype=np.float32)
    grid = (np.arange(size, dtype=np.float32) + 0.5) / size  # pixel centres in (0, 1)
    angle = rng.uniform(0.0, 2.0 * math.pi, size=n)
    along = (np.cos(angle)[:, None, None] * grid[None, None, :]
             + np.sin(angle)[:, None, None] * grid[None, :, None]).astype(np.float32)

    gradient = kinds == 0
    low = along[gradient].min(axis=(1, 2), keepdims=True)
    high = along[gradient].max(axis=(1, 2), keepdims=True)
    texture[gradient] = (along[gradient] - low) / np.maximum(high - low, 1e-6)

    blobs = np.nonzero(kinds == 1)[0]
    cells = rng.integers(3, 7, size=blobs.size)
    for k in range(3, 7):
        chosen = blobs[cells == k]
        lattice = rng.random((chosen.size, k, k)).astype(np.float32)
        spread = _linear_interpolation(k, size)
        texture[chosen] = np.einsum("hi,nij,wj->nhw", spread, lattice, spread)

    stripes = kinds == 2
    cycles = rng.uniform(1.5, 6.0, size=n)[stripes, None, None]
    phase = rng.uniform(0.0, 2.0 * math.pi, size=n)[stripes, None, None]
    texture[stripes] = 0.5 + 0.5 * np.sin(2.0 * math.pi * cycles * along[stripes] + phase)

    grain = kinds == 3
    texture[grain] = rng.random((int(grain.sum()), size, size), dtype=np.float32)

    low, span = first.astype(np.float32), (second - first).astype(np.float32)
    background = texture[..., None] * span[:, None, None, :]
    background += low[:, None, None, :]
    return background, (first + second) / 2.0


def _linear_interpolation(cells: int, size: int) -> np.ndarray:
    """The (size, cells) matrix that interpolates a lattice of ``cells`` points linearly."""
    position = np.linspace(0.0, cells - 1.0, size)
    below = np.minimum(np.floor(position).astype(int), cells - 2)
    frac = position - below
    matrix = np.zeros((size, cells), dtype=np.float32)
    matrix[np.arange(size), below] = 1.0 - frac
    matrix[np.arange(size), below + 1] = frac
    return matrix


def _contrasting_colours(
    rng: np.random.Generator, reference: np.ndarray, objects: int
) -> np.ndarray:
    """Random colours (n, k, 3), each at least ``_MIN_CONTRAST`` away from its background."""
    n = len(reference)
    colours = rng.uniform(0.0, 255.0, size=(n, objects, 3))
    for _ in range(20):
        dull = np.linalg.norm(colours - reference[:, None, :], axis=2) < _MIN_CONTRAST
        if not dull.any():
            break
        colours[dull] = rng.uniform(0.0, 255.0, size=(int(dull.sum()), 3))
    dull = np.linalg.norm(colours - reference[:, None, :], axis=2) < _MIN_CONTRAST
    opposite = np.broadcast_to(255.0 - reference[:, None, :], colours.shape)
    colours[dull] = np.where(opposite[dull] > 127.5, 255.0, 0.0)  # the far corner of the cube
    return colours.astype(np.float32)


# --- the shapes, as inside tests in the shape's own frame: its circumscribed circle is the unit
# circle; ``p`` in [0, 1) is a per-object shape parameter (ellipse aspect, ring hole).


def _convex(vertices: list[tuple[float, float]]) -> np.ndarray:
    """The vertices of a convex polygon, counter-clockwise."""
    points = np.asarray(vertices, dtype=np.float32)
    x, y = points[:, 0], points[:, 1]
    area = float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))
    return points if area > 0 else points[::-1].copy()


def _regular(sides: int, radius: float, start: float = math.pi / 2) -> np.ndarray:
    angles = start + 2.0 * math.pi * np.arange(sides) / sides
    return _convex([(radius * math.cos(a), radius * math.sin(a)) for a in angles])


def _in_polygons(polygons: list[np.ndarray]) -> Inside:
    """The inside test of a union of convex polygons."""

    def inside(u: np.ndarray, v: np.ndarray, p: np.ndarray) -> Mask:
        union = np.zeros(u.shape, dtype=bool)
        for polygon in polygons:
            part = np.ones(u.shape, dtype=bool)
            for (ax, ay), (bx, by) in zip(polygon, np.roll(polygon, -1, axis=0), strict=True):
                part &= (bx - ax) * (v - ay) - (by - ay) * (u - ax) >= 0.0
            union |= part
        return union

    return inside


def _star_triangles(points: int = 5, outer: float = 1.0, inner: float = 0.42) -> list[np.ndarray]:
    """A star as a fan of triangles from its centre (it is star-shaped around it)."""
    corners = []
    for i in range(2 * points):
        radius = outer if i % 2 == 0 else inner
        angle = math.pi / 2 + math.pi * i / points
        corners.append((radius * math.cos(angle), radius * math.sin(angle)))
    return [_convex([(0.0, 0.0), corners[i], corners[(i + 1) % len(corners)]])
            for i in range(len(corners))]


def _rectangle(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    return _convex([(x0, y0), (x1, y0), (x1, y1), (x0, y1)])


def _circle(u: np.ndarray, v: np.ndarray, p: np.ndarray) -> Mask:
    return u * u + v * v <= 0.9**2


def _ring(u: np.ndarray, v: np.ndarray, p: np.ndarray) -> Mask:
    squared = u * u + v * v
    hole = 0.9 * (0.45 + 0.15 * p)[:, None, None]
    return (squared <= 0.9**2) & (squared >= hole * hole)


def _ellipse(u: np.ndarray, v: np.ndarray, p: np.ndarray) -> Mask:
    minor = 0.95 * (0.4 + 0.2 * p)[:, None, None]
    return (u / 0.95) ** 2 + (v / minor) ** 2 <= 1.0


_INSIDE: tuple[Inside, ...] = (
    _circle,
    _in_polygons([_rectangle(-0.7, -0.7, 0.7, 0.7)]),  # square
    _in_polygons([_regular(3, 1.0)]),  # triangle
    _in_polygons(_star_triangles()),  # star
    _in_polygons([_rectangle(-0.95, -0.3, 0.95, 0.3), _rectangle(-0.3, -0.95, 0.3, 0.95)]),
    _ring,
    _in_polygons([_regular(6, 0.95, start=0.0)]),  # hexagon
    _in_polygons([_convex([(1.0, 0.0), (0.0, 0.58), (-1.0, 0.0), (0.0, -0.58)])]),  # diamond
    _ellipse,
    _in_polygons([_rectangle(-0.95, -0.17, 0.2, 0.17),  # arrow: shaft and head
                  _convex([(0.95, 0.0), (0.15, 0.55), (0.15, -0.55)])]),
)


def _draw(
    cls: int, size: int, centres: np.ndarray, radii: np.ndarray, angles: np.ndarray,
    params: np.ndarray,
) -> Mask:
    """Masks (m, H, W) of ``m`` shapes of class ``cls``; pixel (i, j) is sampled at its centre."""
    grid = np.arange(size, dtype=np.float32) + 0.5
    dx = grid[None, None, :] - centres[:, 0, None, None].astype(np.float32)
    dy = grid[None, :, None] - centres[:, 1, None, None].astype(np.float32)
    cos = np.cos(angles).astype(np.float32)[:, None, None]
    sin = np.sin(angles).astype(np.float32)[:, None, None]
    scale = (1.0 / radii).astype(np.float32)[:, None, None]
    u = (dx * cos + dy * sin) * scale
    v = (dy * cos - dx * sin) * scale
    return _INSIDE[cls](u, v, params.astype(np.float32))
