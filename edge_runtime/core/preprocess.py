"""Image files → the model's int8 input, as the bundle's input spec says.

Pillow is imported here only, so the rest of the runtime works without it.
"""

from __future__ import annotations

from typing import Any, BinaryIO

import numpy as np

from .manifest import InputSpec
from ..errors import ImageTooLargeError, InputError, NotAnImageError
from .quant import Quantization, pixel_table


SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")
# Sized for a Pi with 1 GB: a 50-megapixel photo decodes to 150 MB in RGB (a 10000×10000 PNG used 553 MB).
DEFAULT_MAX_PIXELS = 50_000_000


def pillow_image() -> Any:
    """Pillow's ``Image`` module, with its own decompression-bomb check handed to ours: it warns through Python's
    warnings (a raw ``DecompressionBombWarning`` with a site-packages path reached users) and its limit is not
    the board's. Every image the runtime opens is checked with :func:`check_pixels` before it is decoded."""
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = None
    return Image


def check_pixels(name: str, size: tuple[int, int], max_pixels: int) -> None:
    """Refuse an image of ``size`` (width, height) with more than ``max_pixels`` pixels, naming both sizes.

    Raises:
        ImageTooLargeError: too many pixels.
    """
    if size[0] * size[1] > max_pixels:
        raise ImageTooLargeError(name, f"is {size[0]}×{size[1]} = {size[0] * size[1]:,d} pixels, more than the "
                                 f"{max_pixels:,d} accepted (--max-pixels N to allow more)")


def to_8_bit(image: Any) -> Any:
    """A greyscale image of more than 8 bits as an 8-bit ``L`` image, scaled, not clipped.

    ``I;16`` (16-bit PNG and TIFF, either byte order) and ``I`` (32-bit integers: how Pillow reads 16-bit
    data from some files) map 0–65535 to 0–255; ``F`` (32-bit floats) maps 0–1 to 0–255 when its values
    lie in 0–1, else is read as 0–255. Other modes are returned as they are. Pillow's own conversion clips
    instead (44975 → 255), which turns a photo into a saturated mask.
    """
    from PIL import Image

    if image.mode not in SIXTEEN_BIT_MODES + ("F",):
        return image
    values = np.asarray(image, dtype=np.float64)
    if image.mode == "F":
        finite = values[np.isfinite(values)]
        top = 1.0 if finite.size and finite.min() >= 0.0 and finite.max() <= 1.0 else 255.0
    else:
        top = 65535.0
    scaled = np.clip(np.nan_to_num(values) * (255.0 / top), 0.0, 255.0)
    return Image.fromarray(np.round(scaled).astype(np.uint8), "L")


EXIF_ORIENTATION = 0x0112  # the EXIF tag saying how a photo must be turned to be seen upright


def fit_image(image: Any, mode: str, size: tuple[int, int], resize: str = "bilinear") -> np.ndarray:
    """A Pillow image as uint8 pixels (H, W) or (H, W, 3) in ``mode`` (``L`` or ``RGB``) and ``size`` (width, height).

    A photo whose EXIF says how to turn it (phones store it sideways and say so) is turned first, as every
    viewer shows it. Transparency (RGBA, LA, palette with alpha) is composited over black first, so a
    transparent background reads as dark, as the converter's training images and the device's inputs both do.
    Greyscale images of 16 or 32 bits are scaled to 8 bits first (:func:`to_8_bit`).
    """
    from PIL import Image, ImageOps

    if image.getexif().get(EXIF_ORIENTATION, 1) != 1:
        image = ImageOps.exif_transpose(image)
    image = to_8_bit(image)
    if image.mode != mode:
        if image.mode in ("RGBA", "LA", "P", "PA"):
            image = Image.alpha_composite(Image.new("RGBA", image.size, (0, 0, 0, 255)), image.convert("RGBA"))
        image = image.convert(mode)
    if image.size != tuple(size):
        method = Image.Resampling.BILINEAR if resize == "bilinear" else Image.Resampling.NEAREST
        image = image.resize(tuple(size), method)
    return np.asarray(image, dtype=np.uint8)


class Preprocessor:
    """Turns uint8 pixel arrays or image files into int8 model inputs with one lookup table.

    Args:
        spec: the bundle's input spec.
        quantization: the model input's int8 quantization.
    """

    def __init__(self, spec: InputSpec, quantization: Quantization, max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
        self.spec = spec
        self.table = pixel_table(spec.pixel_scale, spec.pixel_offset, quantization)
        self.max_pixels = max_pixels

    def from_pixels(self, pixels: np.ndarray) -> np.ndarray:
        """uint8 pixels of shape (H, W, C) → int8 input of shape (1, H, W, C)."""
        return self.table[pixels][None, ...]

    def load_pixels(self, path: str | BinaryIO, name: str | None = None, max_pixels: int | None = None) -> np.ndarray:
        """Read an image (a file, or a binary stream such as a request body) as uint8 (H, W, C) in the bundle's
        colour mode and size.

        Args:
            name: how the image is named in errors (default: ``path``).
            max_pixels: refuse images with more pixels than this before decoding them (decompression bombs;
                default: the preprocessor's).

        Raises:
            NotAnImageError: not an image Pillow can read to the end.
            ImageTooLargeError: more than ``max_pixels`` pixels.
            InputError: no such file, or a size the resize policy refuses.
        """
        from PIL import UnidentifiedImageError

        Image = pillow_image()
        spec = self.spec
        name = name if name is not None else str(path)
        try:
            with Image.open(path) as image:
                check_pixels(name, image.size, self.max_pixels if max_pixels is None else max_pixels)
                image.load()
                if image.size != (spec.width, spec.height) and spec.resize == "refuse":
                    raise InputError(name, f"is {image.size[0]}×{image.size[1]} pixels; the bundle needs "
                                     f"{spec.width}×{spec.height} and its resize policy is 'refuse'")
                pixels = fit_image(image, spec.color_mode, (spec.width, spec.height), spec.resize)
        except FileNotFoundError as exc:
            raise InputError(name, "no such file") from exc
        except IsADirectoryError as exc:
            raise InputError(name, "is a folder, expected an image file") from exc
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            if isinstance(exc, InputError):
                raise
            detail = f": {exc}" if isinstance(path, str) else ""  # a stream's repr says nothing to a user
            raise NotAnImageError(name, f"is not an image Pillow can read (expected JPEG or PNG){detail}") from exc
        return pixels.reshape(spec.height, spec.width, spec.channels)

    def load(self, path: str) -> np.ndarray:
        """Read an image file into an int8 input of shape (1, H, W, C)."""
        return self.from_pixels(self.load_pixels(path))
