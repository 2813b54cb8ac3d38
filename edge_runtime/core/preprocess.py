"""Image files → the model's int8 input, as the bundle's input spec says.

Pillow is imported here only, so the rest of the runtime works without it.
"""

from __future__ import annotations

from typing import Any, BinaryIO

import numpy as np

from .manifest import InputSpec
from ..errors import ImageTooLargeError, InputError, NotAnImageError
from .quant import Quantization, pixel_table


def fit_image(image: Any, mode: str, size: tuple[int, int], resize: str = "bilinear") -> np.ndarray:
    """A Pillow image as uint8 pixels (H, W) or (H, W, 3) in ``mode`` (``L`` or ``RGB``) and ``size`` (width, height).

    Transparency (RGBA, LA, palette with alpha) is composited over black first, so a transparent
    background reads as dark, as the converter's training images and the device's inputs both do.
    """
    from PIL import Image

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

    def __init__(self, spec: InputSpec, quantization: Quantization) -> None:
        self.spec = spec
        self.table = pixel_table(spec.pixel_scale, spec.pixel_offset, quantization)

    def from_pixels(self, pixels: np.ndarray) -> np.ndarray:
        """uint8 pixels of shape (H, W, C) → int8 input of shape (1, H, W, C)."""
        return self.table[pixels][None, ...]

    def load_pixels(self, path: str | BinaryIO, name: str | None = None, max_pixels: int | None = None) -> np.ndarray:
        """Read an image (a file, or a binary stream such as a request body) as uint8 (H, W, C) in the bundle's
        colour mode and size.

        Args:
            name: how the image is named in errors (default: ``path``).
            max_pixels: refuse images with more pixels than this before decoding them (decompression bombs).

        Raises:
            NotAnImageError: not an image Pillow can read to the end.
            ImageTooLargeError: more than ``max_pixels`` pixels.
            InputError: no such file, or a size the resize policy refuses.
        """
        from PIL import Image, UnidentifiedImageError

        spec = self.spec
        name = name if name is not None else str(path)
        try:
            with Image.open(path) as image:
                if max_pixels is not None and image.size[0] * image.size[1] > max_pixels:
                    raise ImageTooLargeError(name, f"is {image.size[0]}×{image.size[1]} pixels, more than the "
                                             f"{max_pixels:,d} accepted")
                image.load()
                if image.size != (spec.width, spec.height) and spec.resize == "refuse":
                    raise InputError(name, f"is {image.size[0]}×{image.size[1]} pixels; the bundle needs "
                                     f"{spec.width}×{spec.height} and its resize policy is 'refuse'")
                pixels = fit_image(image, spec.color_mode, (spec.width, spec.height), spec.resize)
        except FileNotFoundError as exc:
            raise InputError(name, "no such file") from exc
        except IsADirectoryError as exc:
            raise InputError(name, "is a folder, expected an image file") from exc
        except Image.DecompressionBombError as exc:
            raise ImageTooLargeError(name, f"is too large to decode safely ({exc})") from exc
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            if isinstance(exc, InputError):
                raise
            detail = f": {exc}" if isinstance(path, str) else ""  # a stream's repr says nothing to a user
            raise NotAnImageError(name, f"is not an image Pillow can read (expected JPEG or PNG){detail}") from exc
        return pixels.reshape(spec.height, spec.width, spec.channels)

    def load(self, path: str) -> np.ndarray:
        """Read an image file into an int8 input of shape (1, H, W, C)."""
        return self.from_pixels(self.load_pixels(path))
