"""Reading users' pictures safely and turning any picture into RGB pixels in [0, 1].

Every way into the models goes through here, so that one set of rules holds everywhere:

- Files are opened lazily and their declared size is checked *before* any pixel is decoded:
  an image over :data:`MAX_PIXELS` (50 megapixels) raises :class:`ImageTooLargeError`, so a
  small file that claims a huge size (a decompression bomb) costs nothing. A file Pillow cannot
  read raises :class:`UnreadableImageError`.
- The EXIF orientation tag is honoured (a phone photo shows upright, as in a viewer).
- Every Pillow mode becomes RGB by :func:`to_rgb`'s rule: grey is copied to the three channels,
  16-bit grey is scaled from 0–65535 to 0–255, transparency is composited over white (as a
  page shows it), palettes are expanded, CMYK / YCbCr / HSV / LAB are converted by Pillow.
- :func:`fit_to_size` scales an image so that it covers the target size and cuts out the
  centre (no distortion of the aspect ratio, nothing padded).
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

#: The largest image we decode, in pixels (width × height).
MAX_PIXELS = 50_000_000

#: Inputs :func:`image_tensor` accepts, besides file paths.
ImageLike = Image.Image | np.ndarray | torch.Tensor | str | os.PathLike[str]

_WHITE = (255, 255, 255)
_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})
_ALPHA_MODES = frozenset({"LA", "La", "PA", "RGBA", "RGBa"})
_PILLOW_CONVERTS = frozenset({"RGB", "RGBX", "CMYK", "YCbCr", "HSV"})


class ImageTooLargeError(ValueError):
    """The image declares more than :data:`MAX_PIXELS` pixels."""


class UnreadableImageError(ValueError):
    """The file is not an image that Pillow can decode."""


def load_image(source: str | os.PathLike[str] | bytes | BinaryIO) -> Image.Image:
    """Open an image file (a path, the file's bytes, or a binary file object) as RGB.

    The size is checked from the header before decoding; the EXIF orientation is applied;
    the mode is made RGB by :func:`to_rgb`. Animated images give their first frame.

    Raises:
        FileNotFoundError: the path does not exist.
        ImageTooLargeError: more than :data:`MAX_PIXELS` pixels.
        UnreadableImageError: not an image file Pillow can read (or a truncated one).
    """
    what, stream = _open_source(source)
    try:
        with warnings.catch_warnings():
            # We enforce our own, lower limit below; Pillow's warning would only be noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(stream) as image:
                width, height = image.size
                _check_pixels(width, height, what)
                image.load()
                upright = ImageOps.exif_transpose(image)
    except ImageTooLargeError:
        raise
    except Image.DecompressionBombError as error:
        raise ImageTooLargeError(f"{what} is too large to open safely ({error})") from None
    except UnidentifiedImageError:
        raise UnreadableImageError(f"{what} is not an image file that Pillow can read "
                                   "(expected PNG, JPEG, GIF, BMP, TIFF, WebP, …)") from None
    except (OSError, SyntaxError, ValueError) as error:  # truncated or corrupt data
        raise UnreadableImageError(f"{what} could not be decoded: {error}") from None
    finally:
        if stream is not source:
            stream.close()
    return to_rgb(upright)


def _open_source(source: object) -> tuple[str, BinaryIO]:
    """A description of ``source`` for messages, and a binary stream over it."""
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"image file not found: {str(path)!r}")
        return f"image file {str(path)!r}", path.open("rb")
    if isinstance(source, bytes | bytearray):
        return "the image bytes", io.BytesIO(bytes(source))
    if hasattr(source, "read"):
        return "the image stream", source  # type: ignore[return-value]
    raise TypeError("source must be a file path, the file's bytes, or a binary file object; "
                    f"got {type(source).__name__}")


def _check_pixels(width: int, height: int, what: str) -> None:
    if width * height > MAX_PIXELS:
        raise ImageTooLargeError(
            f"{what} declares {width}×{height} = {width * height / 1e6:.1f} megapixels; images "
            f"over {MAX_PIXELS / 1e6:.0f} megapixels are refused (decompression-bomb guard). "
            "Downscale it first."
        )


def to_rgb(image: Image.Image) -> Image.Image:
    """The same picture in mode RGB, by one rule for every Pillow mode.

    - ``RGB``: returned as is (a copy is not made).
    - ``1``, ``L``: the grey value is copied to R, G and B.
    - ``I;16*``, ``I``: 16-bit grey, scaled from 0–65535 to 0–255 (values outside clipped).
    - ``F``: float grey taken as 0–255, clipped.
    - ``LA``, ``La``, ``PA``, ``RGBA``, ``RGBa``, and ``P`` with a transparent colour:
      composited over white, so transparent pixels are white.
    - ``P``: the palette is expanded.
    - ``RGBX``, ``CMYK``, ``YCbCr``, ``HSV``: Pillow's conversion; ``LAB``: through an
      sRGB colour profile.
    """
    if not isinstance(image, Image.Image):
        raise TypeError(f"image must be a PIL.Image.Image; got {type(image).__name__}")
    mode = image.mode
    if mode == "RGB":
        return image
    _check_pixels(*image.size, what="the image")
    if mode == "P":
        palette = image.palette
        has_alpha = "transparency" in image.info or (palette is not None
                                                     and palette.mode == "RGBA")
        return to_rgb(image.convert("RGBA" if has_alpha else "RGB"))
    if mode in _ALPHA_MODES:
        rgba = image.convert("RGBA") if mode != "La" else image.convert("LA").convert("RGBA")
        background = Image.new("RGBA", image.size, (*_WHITE, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if mode in ("1", "L"):
        return image.convert("L").convert("RGB")
    if mode in _SIXTEEN_BIT_MODES or mode == "F":
        values = np.asarray(image, dtype=np.float64)
        if mode != "F":
            values = values * (255.0 / 65535.0)
        grey = np.clip(np.rint(values), 0, 255).astype(np.uint8)
        return Image.fromarray(np.repeat(grey[:, :, None], 3, axis=2))
    if mode == "LAB":
        transform = ImageCms.buildTransformFromOpenProfiles(
            ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB"), "LAB", "RGB"
        )
        converted = ImageCms.applyTransform(image, transform)
        assert converted is not None
        return converted
    if mode in _PILLOW_CONVERTS:
        return image.convert("RGB")
    raise ValueError(f"image mode {mode!r} has no RGB conversion rule; convert it first")


def image_tensor(image: ImageLike) -> torch.Tensor:
    """Any accepted picture as a float32 tensor (3, H, W) of RGB values in [0, 1].

    Accepted, and the rule for each:

    - ``PIL.Image``: any mode, made RGB by :func:`to_rgb`.
    - a file path (``str`` or ``Path``): read by :func:`load_image`.
    - ``numpy`` array (H, W) or (H, W, 1) grey, (H, W, 3) RGB, (H, W, 4) RGBA (composited over
      white): ``uint8`` 0–255, or float in [0, 1].
    - ``torch`` tensor (C, H, W) or (1, C, H, W) with C = 1 (grey) or 3: ``uint8`` 0–255, or
      float in [0, 1].

    Float values outside [0, 1] raise ``ValueError``: they are usually an already normalised
    tensor, which should go to the model directly, not through preprocessing again.
    """
    if isinstance(image, Image.Image):
        return _from_hwc(np.asarray(to_rgb(image)), "image")
    if isinstance(image, str | os.PathLike):
        return _from_hwc(np.asarray(load_image(image)), "image")
    if isinstance(image, np.ndarray):
        return _from_hwc(image, "image")
    if isinstance(image, torch.Tensor):
        return _from_chw(image)
    raise TypeError("image must be a PIL.Image, a numpy array (H, W[, C]), a torch tensor "
                    f"(C, H, W), or a file path; got {type(image).__name__}")


def _from_hwc(array: np.ndarray, what: str) -> torch.Tensor:
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 3, 4):
        raise ValueError(f"{what} array must be shaped (H, W), (H, W, 1), (H, W, 3) or "
                         f"(H, W, 4); got {array.shape}")
    _check_pixels(array.shape[1], array.shape[0], what=f"the {what} array")
    values = _unit_range(torch.from_numpy(np.array(array)), what)  # a writable copy
    values = values.permute(2, 0, 1)
    if values.shape[0] == 4:
        rgb, alpha = values[:3], values[3:]
        values = rgb * alpha + (1.0 - alpha)  # over white, as to_rgb does
    return _three_channels(values)


def _from_chw(tensor: torch.Tensor) -> torch.Tensor:
    if tensor.ndim == 4 and tensor.shape[0] == 1:
        tensor = tensor[0]
    if tensor.ndim != 3 or tensor.shape[0] not in (1, 3):
        raise ValueError("image tensor must be shaped (C, H, W) or (1, C, H, W) with C = 1 or 3; "
                         f"got {tuple(tensor.shape)}")
    _check_pixels(tensor.shape[2], tensor.shape[1], what="the image tensor")
    return _three_channels(_unit_range(tensor.detach().cpu(), "image tensor"))


def _unit_range(values: torch.Tensor, what: str) -> torch.Tensor:
    """uint8 → /255; float → checked to lie in [0, 1]; anything else refused."""
    if values.dtype == torch.uint8:
        return values.to(torch.float32) / 255.0
    if not values.dtype.is_floating_point:
        raise TypeError(f"{what} must be uint8 (0–255) or float (0–1); got {values.dtype}")
    values = values.to(torch.float32)
    if not torch.isfinite(values).all():
        raise ValueError(f"{what} contains NaN or infinite values")
    low, high = float(values.min()), float(values.max())
    if low < 0.0 or high > 1.0:
        raise ValueError(f"{what} float values must lie in [0, 1]; got [{low:.3g}, {high:.3g}]. "
                         "An already preprocessed tensor goes to the model directly")
    return values


def _three_channels(values: torch.Tensor) -> torch.Tensor:
    return values.expand(3, -1, -1).contiguous() if values.shape[0] == 1 else values.contiguous()


def fit_to_size(pixels: torch.Tensor, size: int | Sequence[int]) -> torch.Tensor:
    """Scale (C, H, W) ``pixels`` to cover ``size`` = (height, width), then cut out the centre.

    The scale keeps the aspect ratio; the shorter side (relative to the target) fits exactly.
    Bilinear interpolation with antialiasing, so a downscaled photo does not alias. An image
    already of the target size is returned unchanged.
    """
    height, width = as_size(size)
    _, h, w = pixels.shape
    if (h, w) == (height, width):
        return pixels
    scale = max(height / h, width / w)
    new_h, new_w = max(height, round(h * scale)), max(width, round(w * scale))
    resized = F.interpolate(pixels[None], size=(new_h, new_w), mode="bilinear",
                            align_corners=False, antialias=True)[0]
    top, left = (new_h - height) // 2, (new_w - width) // 2
    return resized[:, top:top + height, left:left + width].clamp(0.0, 1.0)


def as_size(size: object) -> tuple[int, int]:
    """``size`` (an int, or (height, width)) as a pair of positive ints."""
    if isinstance(size, bool):
        raise TypeError("size must be an int or a (height, width) pair; got bool")
    if isinstance(size, int):
        pair: tuple[object, ...] = (size, size)
    elif isinstance(size, Sequence) and len(size) == 2:
        pair = tuple(size)
    else:
        raise TypeError(f"size must be an int or a (height, width) pair; got {size!r}")
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in pair):
        raise ValueError(f"size must hold positive ints; got {size!r}")
    return int(pair[0]), int(pair[1])  # type: ignore[call-overload]
