"""stats.sources: folders (recursive, ImageFolder labels), file lists, shapes, samples, Datasets."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.datasets import ImageFolder

from backprop_lens import data
from backprop_lens.stats.sources import ShapesSource, open_source, read_item

pytestmark = pytest.mark.usefixtures("no_network")


def _png(path: Path, value: int = 128, size: int = 20) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size, size + 4, 3), value, dtype=np.uint8)).save(path)
    return path


def test_folder_is_read_recursively_with_imagefolder_labels(tmp_path: Path) -> None:
    _png(tmp_path / "zebra" / "one.png")
    _png(tmp_path / "apple" / "deep" / "two.png")
    _png(tmp_path / "loose.png")
    _png(tmp_path / ".hidden" / "three.png")
    (tmp_path / "notes.txt").write_text("not an image")
    source = open_source(tmp_path)
    assert source.ids == ["apple/deep/two.png", "loose.png", "zebra/one.png"]
    raws = [source.read(i) for i in range(3)]
    assert [(r.label, r.label_name) for r in raws] == [(0, "apple"), (None, None), (1, "zebra")]


def test_an_empty_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "readme.txt").write_text("no pictures here")
    with pytest.raises(ValueError, match="holds no image files"):
        open_source(tmp_path)


def test_a_corrupt_image_becomes_an_item_with_its_error(tmp_path: Path) -> None:
    _png(tmp_path / "good.png")
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a JPEG")
    source = open_source(tmp_path)
    broken = read_item(source, source.ids.index("broken.jpg"), [(16, 16)])
    good = read_item(source, source.ids.index("good.png"), [(16, 16)])
    assert broken.error is not None and "unreadable" in broken.error and not broken.pixels
    assert good.error is None and good.pixels[(16, 16)].shape == (3, 16, 16)


def test_file_lists(tmp_path: Path) -> None:
    first, second = _png(tmp_path / "a.png"), _png(tmp_path / "b.png", 10)
    assert open_source([str(first), second]).ids == [str(first), str(second)]
    assert open_source(first).ids == [str(first)]
    with pytest.raises(ValueError, match="more than once"):
        open_source([first, first])
    with pytest.raises(ValueError, match="empty"):
        open_source([])
    with pytest.raises(TypeError, match="file paths"):
        open_source([first, 3])
    with pytest.raises(ValueError, match="neither a folder"):
        open_source(tmp_path / "missing")
    with pytest.raises(TypeError, match="images must be"):
        open_source(3.5)


def test_shapes_spec_gives_labels_masks_and_ids_that_name_n_and_seed() -> None:
    small = open_source("shapes:3")
    assert small.ids == ["shapes:3:0/0", "shapes:3:0/1", "shapes:3:0/2"]
    # The images of a seed depend on n: the ids must tell shapes:3 and shapes:6 apart.
    assert not set(small.ids) & set(open_source("shapes:6:0").ids)
    batch = data.shapes.generate(3, seed=0)
    for i in range(3):
        a = small.read(i)
        assert np.array_equal(np.asarray(a.picture), batch.images[i])
        assert a.label == batch.labels[i] and a.label_name == data.shapes.CLASSES[a.label]
        assert a.mask is not None and np.array_equal(a.mask, batch.masks[i])
    item = read_item(small, 0, [(64, 64), (32, 32)])
    assert item.masks[(32, 32)].shape == (32, 32) and item.masks[(64, 64)].dtype == bool
    with pytest.raises(ValueError, match="shapes:N"):
        open_source("shapes:ten")


def test_shapes_source_pickles_without_its_images() -> None:
    source = open_source("shapes:4:2")
    assert isinstance(source, ShapesSource)
    source.read(0)  # generates the images here
    copy = pickle.loads(pickle.dumps(source))
    assert len(pickle.dumps(source)) < 1000
    assert np.array_equal(np.asarray(copy.read(3).picture), np.asarray(source.read(3).picture))


def test_samples_are_labelled_with_their_imagenet_class() -> None:
    source = open_source("samples")
    assert source.ids == data.sample_images()
    cat = source.read(source.ids.index("cat"))
    assert cat.label == 281 and Path(str(cat.picture)).is_file()


class _Pictures(torch.utils.data.Dataset[dict[str, object]]):
    """Items as mappings: a uint8 picture, a label, a mask."""

    classes = ("dark", "bright")

    def __len__(self) -> int:
        return 2

    def __getitem__(self, index: int) -> dict[str, object]:
        picture = np.full((8, 8, 3), 200 * index, dtype=np.uint8)
        return {"image": picture, "label": index, "mask": np.eye(8, dtype=bool)}


def test_torch_datasets(tmp_path: Path) -> None:
    _png(tmp_path / "cats" / "c.png")
    _png(tmp_path / "dogs" / "d.png")
    folder = open_source(ImageFolder(str(tmp_path)))
    assert folder.ids == [str(tmp_path / "cats" / "c.png"), str(tmp_path / "dogs" / "d.png")]
    assert (folder.read(1).label, folder.read(1).label_name) == (1, "dogs")
    mapping = open_source(_Pictures())
    assert mapping.ids == ["#0", "#1"]
    item = read_item(mapping, 1, [(8, 8)])
    assert item.error is None and item.label_name == "bright"
    assert np.array_equal(item.masks[(8, 8)], np.eye(8, dtype=bool))
