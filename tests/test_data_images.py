"""Loading users' images: modes, EXIF orientation, size limits, non-images; sample photos."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from backprop_lens import data
from backprop_lens.data import images

pytestmark = pytest.mark.usefixtures("no_network")


# --- modes -----------------------------------------------------------------------------------


def test_rgb_is_returned_as_is() -> None:
    image = Image.new("RGB", (3, 2), (10, 20, 30))
    assert data.to_rgb(image) is image


@pytest.mark.parametrize(
    ("mode", "value", "expected"),
    [
        ("L", 77, (77, 77, 77)),
        ("1", 1, (255, 255, 255)),
        ("I;16", 65535, (255, 255, 255)),
        ("I;16", 257 * 100, (100, 100, 100)),
        ("I", 257 * 40, (40, 40, 40)),
        ("F", 12.4, (12, 12, 12)),
        ("LA", (50, 0), (255, 255, 255)),  # fully transparent: white
        ("LA", (50, 255), (50, 50, 50)),  # opaque: the grey itself
        ("RGBA", (200, 0, 0, 0), (255, 255, 255)),
        ("RGBA", (200, 10, 0, 255), (200, 10, 0)),
        ("RGBA", (0, 0, 0, 128), (127, 127, 127)),  # half transparent black over white
        ("CMYK", (0, 0, 0, 0), (255, 255, 255)),
        ("CMYK", (0, 0, 0, 255), (0, 0, 0)),
        ("YCbCr", (255, 128, 128), (255, 255, 255)),
        ("La", (100, 255), (100, 100, 100)),
        ("RGBa", (10, 20, 30, 255), (10, 20, 30)),
        ("PA", (0, 0), (255, 255, 255)),
        ("HSV", (0, 0, 255), (255, 255, 255)),
        ("RGBX", (1, 2, 3, 0), (1, 2, 3)),
        ("I;16B", 257 * 4, (4, 4, 4)),
    ],
)
def test_every_mode_becomes_rgb_by_the_documented_rule(
    mode: str, value: object, expected: tuple[int, int, int]
) -> None:
    image = Image.new(mode, (4, 3), value)  # type: ignore[arg-type]
    rgb = data.to_rgb(image)
    assert rgb.mode == "RGB"
    assert rgb.size == (4, 3)
    assert rgb.getpixel((1, 1)) == pytest.approx(expected, abs=1)


def test_palette_images_expand_and_transparent_index_is_white() -> None:
    image = Image.new("P", (2, 1))
    image.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    image.putpixel((0, 0), 0)
    image.putpixel((1, 0), 1)
    assert data.to_rgb(image).getpixel((0, 0)) == (255, 0, 0)
    image.info["transparency"] = 1
    rgb = data.to_rgb(image)
    assert rgb.getpixel((0, 0)) == (255, 0, 0)
    assert rgb.getpixel((1, 0)) == (255, 255, 255)


def test_sixteen_bit_png_file_is_scaled_not_clipped(tmp_path: Path) -> None:
    values = np.array([[0, 32768, 65535]], dtype=np.uint16)
    path = tmp_path / "grey16.png"
    Image.fromarray(values).save(path)
    assert Image.open(path).mode.startswith("I")
    rgb = np.asarray(data.load_image(path))
    assert rgb.shape == (1, 3, 3)
    assert rgb[0, :, 0].tolist() == [0, 128, 255]


def test_lab_converts_through_a_colour_profile() -> None:
    white = data.to_rgb(Image.new("LAB", (2, 2), (255, 128, 128)))
    black = data.to_rgb(Image.new("LAB", (2, 2), (0, 128, 128)))
    assert min(white.getpixel((0, 0))) >= 250  # type: ignore[arg-type]
    assert max(black.getpixel((0, 0))) <= 5  # type: ignore[arg-type]


def test_to_rgb_refuses_non_images() -> None:
    with pytest.raises(TypeError, match=r"PIL\.Image"):
        data.to_rgb(np.zeros((2, 2, 3)))  # type: ignore[arg-type]


# --- files -----------------------------------------------------------------------------------


def _exif_oriented_png(path: Path, orientation: int) -> None:
    """A 4×2 image, left half red and right half blue, saved with an EXIF orientation tag."""
    pixels = np.zeros((2, 4, 3), dtype=np.uint8)
    pixels[:, :2] = (255, 0, 0)
    pixels[:, 2:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(pixels).save(path, format="PNG", exif=exif.tobytes())


def test_exif_orientation_is_honoured(tmp_path: Path) -> None:
    path = tmp_path / "rotated.png"
    _exif_oriented_png(path, orientation=6)  # stored sideways: viewers turn it 90° clockwise
    raw = Image.open(path)
    assert raw.size == (4, 2)
    upright = data.load_image(path)
    assert upright.size == (2, 4)
    top, bottom = upright.getpixel((0, 0)), upright.getpixel((0, 3))
    assert top == (255, 0, 0)
    assert bottom == (0, 0, 255)


def test_exif_orientation_one_leaves_the_image(tmp_path: Path) -> None:
    path = tmp_path / "plain.png"
    _exif_oriented_png(path, orientation=1)
    assert data.load_image(path).size == (4, 2)


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares ``width`` × ``height`` pixels (a decompression bomb)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b""))


@pytest.mark.parametrize(("width", "height"), [(10_000, 5_001), (20_000, 20_000)])
def test_images_over_fifty_megapixels_are_refused_before_decoding(
    tmp_path: Path, width: int, height: int
) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_claiming(width, height))
    assert path.stat().st_size < 200
    with pytest.raises(data.ImageTooLargeError, match=r"megapixels|too large"):
        data.load_image(path)
    with pytest.raises(ValueError):  # ImageTooLargeError is a ValueError
        data.load_image(path.read_bytes())


def test_fifty_megapixels_exactly_is_not_refused_by_the_size_check() -> None:
    images._check_pixels(10_000, 5_000, "x")  # exactly the limit: allowed


def test_non_image_files_raise_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.png"
    path.write_text("this is not a picture")
    with pytest.raises(data.UnreadableImageError, match="not an image file"):
        data.load_image(path)


def test_truncated_image_raises_a_clear_error(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (1, 2, 3)).save(buffer, format="PNG")
    path = tmp_path / "cut.png"
    path.write_bytes(buffer.getvalue()[:60])
    with pytest.raises(data.UnreadableImageError):
        data.load_image(path)


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nowhere\.png"):
        data.load_image(tmp_path / "nowhere.png")


def test_load_image_accepts_bytes_and_streams() -> None:
    buffer = io.BytesIO()
    Image.new("RGBA", (5, 4), (0, 255, 0, 255)).save(buffer, format="PNG")
    from_bytes = data.load_image(buffer.getvalue())
    buffer.seek(0)
    from_stream = data.load_image(buffer)
    assert from_bytes.mode == from_stream.mode == "RGB"
    assert from_bytes.getpixel((0, 0)) == (0, 255, 0)


def test_load_image_refuses_other_types() -> None:
    with pytest.raises(TypeError, match="source must be"):
        data.load_image(3)  # type: ignore[arg-type]


# --- arrays and tensors ----------------------------------------------------------------------


def test_image_tensor_rules_for_arrays_and_tensors() -> None:
    grey = np.full((2, 3), 51, dtype=np.uint8)
    assert torch.allclose(data.image_tensor(grey), torch.full((3, 2, 3), 0.2))
    rgb_float = np.zeros((2, 3, 3), dtype=np.float32)
    rgb_float[..., 1] = 1.0
    out = data.image_tensor(rgb_float)
    assert out.shape == (3, 2, 3) and out[1].min() == 1.0 and out[0].max() == 0.0
    rgba = np.zeros((1, 1, 4), dtype=np.uint8)  # transparent black → white
    assert torch.allclose(data.image_tensor(rgba), torch.ones(3, 1, 1))
    chw = torch.rand(3, 5, 6)
    assert torch.equal(data.image_tensor(chw), chw)
    assert torch.equal(data.image_tensor(chw[None]), chw)
    assert data.image_tensor(torch.full((1, 4, 4), 255, dtype=torch.uint8)).shape == (3, 4, 4)


@pytest.mark.parametrize(
    ("bad", "error", "message"),
    [
        (np.zeros((2, 2, 5), dtype=np.uint8), ValueError, "shaped"),
        (np.zeros((2, 2, 3), dtype=np.uint16), TypeError, "uint8"),
        (np.full((2, 2, 3), 2.0), ValueError, r"\[0, 1\]"),
        (np.full((2, 2, 3), np.nan), ValueError, "NaN"),
        (torch.zeros(2, 3, 4, 4), ValueError, "shaped"),
        (torch.full((3, 2, 2), -0.5), ValueError, "already preprocessed"),
        ([[0, 1]], TypeError, "image must be"),
    ],
)
def test_image_tensor_rejects_bad_input_with_a_clear_message(
    bad: object, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        data.image_tensor(bad)  # type: ignore[arg-type]


def test_fit_to_size_keeps_aspect_and_cuts_the_centre() -> None:
    pixels = torch.zeros(3, 10, 30)
    pixels[:, :, 10:20] = 1.0  # a white band in the middle third
    out = data.fit_to_size(pixels, 10)
    assert out.shape == (3, 10, 10)
    assert out.min() > 0.99  # the centre crop is all band
    tall = data.fit_to_size(torch.rand(3, 40, 20), (8, 4))
    assert tall.shape == (3, 8, 4)
    same = torch.rand(3, 7, 9)
    assert data.fit_to_size(same, (7, 9)) is same


@pytest.mark.parametrize("size", [0, (3,), "64", (2, -1), True])
def test_fit_to_size_rejects_bad_sizes(size: object) -> None:
    with pytest.raises((TypeError, ValueError), match="size"):
        data.fit_to_size(torch.rand(3, 4, 4), size)  # type: ignore[arg-type]


# --- sample photos ---------------------------------------------------------------------------


def test_sample_images_lists_at_least_a_cat_a_dog_and_two_more() -> None:
    names = data.sample_images()
    assert {"cat", "dog"} <= set(names)
    assert len(names) >= 4


@pytest.mark.parametrize("name", data.sample_images())
def test_every_sample_image_loads_offline_as_rgb(name: str) -> None:
    image = data.sample_image(name)
    assert image.mode == "RGB"
    assert min(image.size) >= 200
    assert np.asarray(image).std() > 10  # a real photo, not a blank


def test_the_cat_is_scikit_images_chelsea_the_papers_tabby() -> None:
    cat = data.sample_image("cat")
    assert cat.size == (451, 300)
    assert "skimage" in str(data.sample_path("cat"))


def test_sample_image_rejects_unknown_names() -> None:
    with pytest.raises(ValueError, match="one of"):
        data.sample_image("unicorn")
    with pytest.raises(TypeError):
        data.sample_image(1)  # type: ignore[arg-type]
