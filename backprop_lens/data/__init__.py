"""Pictures for the models: loading users' images safely, bundled photos, procedural shapes.

``data.shapes`` is the module of the shapes data set: ``data.shapes.generate(n, seed=0)``.
"""

from . import shapes
from .images import (
    MAX_PIXELS,
    ImageTooLargeError,
    UnreadableImageError,
    fit_to_size,
    image_tensor,
    load_image,
    to_rgb,
)
from .samples import sample_image, sample_images, sample_path

__all__ = [
    "MAX_PIXELS",
    "ImageTooLargeError",
    "UnreadableImageError",
    "fit_to_size",
    "image_tensor",
    "load_image",
    "sample_image",
    "sample_images",
    "sample_path",
    "shapes",
    "to_rgb",
]
