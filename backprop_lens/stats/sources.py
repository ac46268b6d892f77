"""Where the images of a statistics run come from, and how each one is read.

``open_source(images)`` accepts:

- a folder: every image file in it and its sub-folders (the extensions torchvision's
  ``ImageFolder`` reads); the first-level sub-folder names are the labels, in sorted order, as
  ``ImageFolder`` numbers them. Hidden files and folders are left out. Ids: paths relative to
  the folder.
- one image file, or a list of them. Ids: the paths as given.
- ``"shapes:N"`` or ``"shapes:N:SEED"``: ``data.shapes.generate(N, seed=SEED)``, with labels
  and object masks. Ids: ``shapes:N:SEED/INDEX`` (N is part of the id: the images a seed gives
  depend on N, so ``shapes:64`` and ``shapes:1000`` are different images).
- ``"samples"``: the package's sample photos (``data.sample_images()``), labelled with their
  ImageNet class where they have one. Ids: the sample names.
- a ``torch.utils.data.Dataset`` whose items are a picture, ``(picture, label)``,
  ``(picture, label, mask)`` or a mapping with ``"image"`` (and ``"label"``, ``"mask"``).
  Ids: the item's file for datasets that list them (``ImageFolder``'s ``samples``), else
  ``#INDEX``.

Reading one image may fail (a corrupt file, a dataset item that raises): ``read_item`` then
returns the item with its ``error`` set, so that a run counts and names it and goes on.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision.datasets.folder import IMG_EXTENSIONS

from .. import data
from ..data.images import ImageLike, fit_to_size, image_tensor

Size = tuple[int, int]

_SHAPES = re.compile(r"shapes:(\d+)(?::(\d+))?")


@dataclass(frozen=True)
class Raw:
    """One image as its source holds it: a picture, and a label and object mask if known."""

    picture: ImageLike
    label: int | None = None
    label_name: str | None = None
    mask: np.ndarray | torch.Tensor | None = None


@dataclass
class Item:
    """One image ready for the models: RGB pixels in [0, 1], (3, H, W), per input size.

    ``masks`` holds the object mask (H, W) bool per input size when the source has one.
    ``error`` says why the image could not be read (then ``pixels`` is empty).
    """

    index: int
    image_id: str
    label: int | None = None
    label_name: str | None = None
    pixels: dict[Size, torch.Tensor] = field(default_factory=dict)
    masks: dict[Size, np.ndarray] = field(default_factory=dict)
    error: str | None = None


class Source:
    """A sequence of images with unique ``ids``; ``read(i)`` returns image ``i`` as a
    :class:`Raw`. Sources are picklable (they travel to data-loader and Ray workers) and read
    lazily."""

    description = ""
    ids: list[str]

    def read(self, index: int) -> Raw:
        raise NotImplementedError


class FileSource(Source):
    """Image files, with optional labels (from folder names or known classes)."""

    def __init__(self, paths: Sequence[Path], ids: Sequence[str], description: str,
                 labels: Sequence[int | None] | None = None,
                 label_names: Sequence[str | None] | None = None) -> None:
        self.paths = list(paths)
        self.ids = list(ids)
        self.description = description
        self.labels = list(labels) if labels is not None else [None] * len(self.paths)
        self.label_names = (list(label_names) if label_names is not None
                            else [None] * len(self.paths))

    def read(self, index: int) -> Raw:
        return Raw(self.paths[index], self.labels[index], self.label_names[index])


class ShapesSource(Source):
    """``data.shapes.generate(n, seed)``, generated on first use (also in each worker)."""

    def __init__(self, n: int, seed: int) -> None:
        self.n, self.seed = n, seed
        self.description = f"shapes:{n}:{seed}"
        self.ids = [f"shapes:{n}:{seed}/{i}" for i in range(n)]

    @cached_property
    def _batch(self) -> data.shapes.ShapesBatch:
        return data.shapes.generate(self.n, seed=self.seed)

    def __getstate__(self) -> dict[str, Any]:
        # Workers regenerate the images (a pure function of n and seed) instead of receiving them.
        return {key: value for key, value in self.__dict__.items() if key != "_batch"}

    def read(self, index: int) -> Raw:
        batch = self._batch
        label = int(batch.labels[index])
        return Raw(batch.images[index], label, data.shapes.CLASSES[label], batch.masks[index])


class DatasetSource(Source):
    """A map-style ``torch.utils.data.Dataset`` (see the module doc for its items)."""

    def __init__(self, dataset: Dataset[Any]) -> None:
        self.dataset = dataset
        samples = getattr(dataset, "samples", None)
        n = len(dataset)  # type: ignore[arg-type]
        self.ids = ([str(sample[0]) for sample in samples]
                    if isinstance(samples, Sequence) and len(samples) == n
                    else [f"#{i}" for i in range(n)])
        self.description = f"{type(dataset).__name__} of {n} items"

    def read(self, index: int) -> Raw:
        item = self.dataset[index]
        if isinstance(item, Mapping):
            if "image" not in item:
                raise ValueError(f"dataset item {index} is a mapping without an 'image' key; "
                                 f"got keys {sorted(item)}")
            picture, label, mask = item["image"], item.get("label"), item.get("mask")
        elif isinstance(item, tuple | list):
            if not 1 <= len(item) <= 3:
                raise ValueError(f"dataset item {index} must be (image[, label[, mask]]); got "
                                 f"{len(item)} elements")
            picture, label, mask = (*item, None, None)[:3]
        else:
            picture, label, mask = item, None, None
        label = None if label is None else int(label)
        classes = getattr(self.dataset, "classes", None)
        name = (str(classes[label]) if label is not None and isinstance(classes, Sequence)
                and 0 <= label < len(classes) else None)
        return Raw(picture, label, name, mask)


def open_source(images: object) -> Source:
    """``images`` (see the module doc) as a :class:`Source`.

    Raises:
        ValueError: a folder without image files, an empty list, a list naming a file twice,
            a malformed ``shapes:`` spec, or a path that does not exist.
        TypeError: anything else.
    """
    if isinstance(images, Dataset):
        if not hasattr(images, "__len__"):
            raise TypeError("images: a torch Dataset must be map-style (have __len__)")
        source: Source = DatasetSource(images)
    elif isinstance(images, str | os.PathLike):
        source = _from_string(images)
    elif isinstance(images, Sequence) and not isinstance(images, bytes):
        source = _from_files(list(images))
    else:
        raise TypeError("images must be a folder, an image file, a list of files, "
                        "'shapes:N[:SEED]', 'samples', or a torch Dataset; got "
                        f"{type(images).__name__}")
    if not source.ids:
        raise ValueError(f"images: {source.description} holds no image")
    return source


def _from_string(images: str | os.PathLike[str]) -> Source:
    text = os.fspath(images)
    match = _SHAPES.fullmatch(text)
    if match:
        return ShapesSource(int(match.group(1)), int(match.group(2) or 0))
    if text.startswith("shapes:"):
        raise ValueError(f"images: expected 'shapes:N' or 'shapes:N:SEED' with integers; "
                         f"got {text!r}")
    if text == "samples":
        return _samples()
    path = Path(text)
    if path.is_dir():
        return _from_folder(path)
    if path.is_file():
        return _from_files([path])
    raise ValueError(f"images: {text!r} is neither a folder, an image file, 'shapes:N[:SEED]' "
                     "nor 'samples'")


def _is_image_file(path: Path, root: Path) -> bool:
    hidden = any(part.startswith(".") for part in path.relative_to(root).parts)
    return not hidden and path.is_file() and path.suffix.lower() in IMG_EXTENSIONS


def _from_folder(root: Path) -> Source:
    files = sorted(p for p in root.rglob("*") if _is_image_file(p, root))
    if not files:
        raise ValueError(f"images: the folder {str(root)!r} holds no image files "
                         f"({', '.join(IMG_EXTENSIONS)}), also in its sub-folders")
    relative = [p.relative_to(root) for p in files]
    classes = sorted({r.parts[0] for r in relative if len(r.parts) > 1})
    number = {name: i for i, name in enumerate(classes)}
    names = [r.parts[0] if len(r.parts) > 1 else None for r in relative]
    return FileSource(files, [r.as_posix() for r in relative], f"folder {str(root)!r}",
                      [None if n is None else number[n] for n in names], names)


def _from_files(paths: list[object]) -> Source:
    if not paths:
        raise ValueError("images: the list of files is empty")
    for path in paths:
        if not isinstance(path, str | os.PathLike):
            raise TypeError(f"images: a list must hold file paths; got {type(path).__name__}")
    ids = [os.fspath(p) for p in paths]  # type: ignore[call-overload]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise ValueError(f"images: the list names these files more than once: {repeated}")
    return FileSource([Path(i) for i in ids], ids, f"{len(ids)} files")


def _samples() -> Source:
    names = data.sample_images()
    classes = [data.samples.SAMPLES[name].imagenet_class for name in names]
    return FileSource([data.sample_path(name) for name in names], names,
                      "the sample photos", classes, names)


def read_item(source: Source, index: int, sizes: Sequence[Size]) -> Item:
    """Image ``index`` of ``source``, fitted to each of ``sizes`` (H, W), as an :class:`Item`.

    Any failure to read or convert the image is caught and kept in ``Item.error`` with the
    exception's type and message: one bad image must not end a run over thousands.
    """
    item = Item(index, source.ids[index])
    try:
        raw = source.read(index)
        rgb = image_tensor(raw.picture)
        item.label, item.label_name = raw.label, raw.label_name
        for size in sizes:
            item.pixels[size] = fit_to_size(rgb, size)
            if raw.mask is not None:
                item.masks[size] = _fit_mask(raw.mask, size)
    except Exception as error:  # reported per image; the run goes on
        item.pixels, item.masks = {}, {}
        item.error = f"unreadable: {type(error).__name__}: {error}"
    return item


def _fit_mask(mask: np.ndarray | torch.Tensor, size: Size) -> np.ndarray:
    """A mask (H, W) scaled and cropped like its image, back to bool at the 0.5 level."""
    values = torch.as_tensor(np.asarray(mask), dtype=torch.float32)
    if values.ndim != 2:
        raise ValueError(f"mask must be shaped (H, W); got {tuple(values.shape)}")
    return (fit_to_size(values[None], size)[0] >= 0.5).numpy()
