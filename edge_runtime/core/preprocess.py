"""Image files → the model's int8 input, as the bundle's input spec says.

Pillow is imported here only, so the rest of the runtime works without it.
"""

from __future__ import annotations

import numpy as np

from .manifest import InputSpec
from ..errors import InputError
from .quant import Quantization, pixel_table


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
                if image.mode != spec.color_mode:
                    if image.mode in ("RGBA", "LA", "P") and spec.color_mode in ("L", "RGB"):
                        image = image.convert("RGBA")
                        background = Image.new("RGBA", image.size, (0, 0, 0, 255))
                        image = Image.alpha_composite(background, image)
                    image = image.convert(spec.color_mode)
                if image.size != (spec.width, spec.height):
                    if spec.resize == "refuse":
                        raise InputError(path, f"is {image.size[0]}×{image.size[1]} pixels; the bundle needs "
                                         f"{spec.width}×{spec.height} and its resize policy is 'refuse'")
                    method = Image.Resampling.BILINEAR if spec.resize == "bilinear" else Image.Resampling.NEAREST
                    image = image.resize((spec.width, spec.height), method)
                pixels = np.asarray(image, dtype=np.uint8)
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
