"""Image files → the model's int8 input, as the bundle's input spec says.

Pillow is imported here only, so the rest of the runtime works without it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .manifest import InputSpec
from ..errors import InputError
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

    def load_pixels(self, path: str) -> np.ndarray:
        """Read an image file as uint8 (H, W, C) in the bundle's colour mode and size.

        Raises:
            InputError: not an image Pillow can read, or a size the resize policy refuses.
        """
        from PIL import Image, UnidentifiedImageError

        spec = self.spec
        try:
            with Image.open(path) as image:
                image.load()
                if image.size != (spec.width, spec.height) and spec.resize == "refuse":
                    raise InputError(path, f"is {image.size[0]}×{image.size[1]} pixels; the bundle needs "
                                     f"{spec.width}×{spec.height} and its resize policy is 'refuse'")
                pixels = fit_image(image, spec.color_mode, (spec.width, spec.height), spec.resize)
        except FileNotFoundError as exc:
            raise InputError(path, "no such file") from exc
        except IsADirectoryError as exc:
            raise InputError(path, "is a folder, expected an image file") from exc
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            if isinstance(exc, InputError):
                raise
            raise InputError(path, f"is not an image Pillow can read (expected JPEG or PNG): {exc}") from exc
        return pixels.reshape(spec.height, spec.width, spec.channels)

    def load(self, path: str) -> np.ndarray:
        """Read an image file into an int8 input of shape (1, H, W, C)."""
        return self.from_pixels(self.load_pixels(path))
