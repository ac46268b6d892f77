"""Natural photos to try the methods on, read from files that installed packages already ship.

Nothing is downloaded: each photo is a file inside a wheel that is installed with this package.
scikit-image bundles a few photos in its wheel (``skimage/data``) — among them ``chelsea``, the
tabby cat of the paper's figures — but no dog; Foolbox's wheel bundles twenty ImageNet
validation photos with their labels (``foolbox/data``), among them a bull mastiff. The files
are located through the packages' installed metadata, so neither package is imported.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from .images import load_image


@dataclass(frozen=True)
class SampleImage:
    """Where a sample photo lives, and what it shows."""

    name: str
    package: str  # the distribution whose wheel ships the file
    path: str  # the file, relative to the distribution's install root
    description: str
    imagenet_class: int | None  # the ImageNet-1k class index of the main object, if one fits


SAMPLES: dict[str, SampleImage] = {
    s.name: s
    for s in (
        SampleImage("cat", "scikit-image", "skimage/data/chelsea.png",
                    "Chelsea, a tabby cat (the paper's cat)", 281),
        SampleImage("dog", "foolbox", "foolbox/data/imagenet_00_243.jpg",
                    "a bull mastiff on grass (ImageNet validation photo)", 243),
        SampleImage("dalmatian", "foolbox", "foolbox/data/imagenet_16_251.jpg",
                    "a dalmatian, close up (ImageNet validation photo)", 251),
        SampleImage("eagle", "foolbox", "foolbox/data/imagenet_17_22.jpg",
                    "a bald eagle in flight (ImageNet validation photo)", 22),
        SampleImage("coffee", "scikit-image", "skimage/data/coffee.png",
                    "a cup of coffee on a saucer", 967),
        SampleImage("astronaut", "scikit-image", "skimage/data/astronaut.png",
                    "astronaut Eileen Collins, portrait", None),
        SampleImage("rocket", "scikit-image", "skimage/data/rocket.jpg",
                    "a rocket on its launch pad", None),
    )
}


def sample_images() -> list[str]:
    """The names :func:`sample_image` accepts."""
    return list(SAMPLES)


def sample_path(name: str) -> Path:
    """The installed file of the sample photo ``name``."""
    sample = _sample(name)
    try:
        distribution = importlib.metadata.distribution(sample.package)
    except importlib.metadata.PackageNotFoundError:
        raise ModuleNotFoundError(
            f"sample image {name!r} is read from the {sample.package!r} package, which is not "
            f"installed; install it with `pip install {sample.package}`"
        ) from None
    path = Path(str(distribution.locate_file(sample.path)))
    if not path.is_file():
        raise FileNotFoundError(f"sample image {name!r}: {sample.package} is installed but its "
                                f"file {sample.path!r} is missing (expected at {path})")
    return path


def sample_image(name: str) -> Image.Image:
    """The sample photo ``name`` (one of :func:`sample_images`) as an RGB ``PIL.Image``."""
    return load_image(sample_path(name))


def _sample(name: object) -> SampleImage:
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, one of {sample_images()}; got {type(name).__name__}")
    if name not in SAMPLES:
        raise ValueError(f"name must be one of {sample_images()}; got {name!r}")
    return SAMPLES[name]
