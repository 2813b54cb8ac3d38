"""A folder of photos as a dataset: one sub-folder of images per class, in any size, mode and format.

Images are read twice: once for their header (size, mode; unreadable files are found here), then
each is decoded, converted to the dataset's mode and resized into one preallocated uint8 array, so
the dataset is held in memory once. The mode is RGB when any image has colour, else L; the size is
``size`` or the most common one. A file Pillow cannot read is skipped and named (``strict`` refuses
the folder instead).
"""

from __future__ import annotations

import os
import time
from collections import Counter
from typing import Callable

import numpy as np

from ..errors import ImageTooLargeError, InputError
from .preprocess import DEFAULT_MAX_PIXELS, check_pixels, fit_image, pillow_image

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
GREY_MODES = ("L", "1", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F")
PROGRESS_S = 2.0


def _classes(path: str) -> tuple[list[str], list[tuple[str, int]]]:
    classes = sorted(d for d in os.listdir(path) if os.path.isdir(os.path.join(path, d)) and not d.startswith("."))
    files: list[tuple[str, int]] = []
    for index, name in enumerate(classes):
        folder = os.path.join(path, name)
        files += [(os.path.join(folder, f), index) for f in sorted(os.listdir(folder))
                  if f.lower().endswith(IMAGE_SUFFIXES) and not f.startswith(".")]
    if len(classes) < 2 or not files:
        raise InputError(path, "expected a .npz, 'digits', or a folder with one sub-folder of images per class "
                         f"(found {len(classes)} sub-folders and {len(files)} images)")
    return classes, files


def read_folder(path: str, size: tuple[int, int] | None = None, strict: bool = False,
                progress: Callable[[str], None] | None = None, max_pixels: int = DEFAULT_MAX_PIXELS
                ) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], str, tuple[str, ...]]:
    """(pixels (N, H, W, C) uint8, labels, class names, mode, skipped files with the reason).

    Args:
        size: (height, width) of the dataset's images; default the most common.
        strict: an unreadable file, or one of more than ``max_pixels`` pixels, is an error instead of a skip.
    """
    from PIL import UnidentifiedImageError

    Image = pillow_image()

    classes, files = _classes(path)
    say = progress or (lambda message: None)
    headers: list[tuple[str, int, tuple[int, int], str]] = []
    skipped: list[str] = []
    for file, label in files:
        try:
            with Image.open(file) as image:
                check_pixels(file, image.size, max_pixels)
                headers.append((file, label, image.size, image.mode))
        except ImageTooLargeError as exc:
            if strict:
                raise InputError(file, f"{exc.message}; drop --strict to skip such files") from exc
            skipped.append(f"{file} ({image.size[0]}×{image.size[1]} pixels, over --max-pixels {max_pixels:,d})")
        except (UnidentifiedImageError, OSError) as exc:
            if strict:
                raise InputError(file, f"is not an image Pillow can read ({exc}); drop --strict to skip such files")
            skipped.append(f"{file} ({type(exc).__name__})")
    if not headers:
        raise InputError(path, "none of its image files could be read")
    mode = "RGB" if any(m not in GREY_MODES for _, _, _, m in headers) else "L"
    width, height = (size[1], size[0]) if size else Counter(s for _, _, s, _ in headers).most_common(1)[0][0]
    channels = 3 if mode == "RGB" else 1
    pixels = np.empty((len(headers), height, width, channels), dtype=np.uint8)
    labels = np.empty(len(headers), dtype=np.int64)
    kept = 0
    next_report = time.monotonic() + PROGRESS_S
    for file, label, _, _ in headers:
        try:
            with Image.open(file) as image:
                image.load()
                pixels[kept] = fit_image(image, mode, (width, height)).reshape(height, width, channels)
        except (UnidentifiedImageError, OSError, ValueError) as exc:  # a header that read, a body that does not
            if strict:
                raise InputError(file, f"cannot be decoded ({exc}); drop --strict to skip such files")
            skipped.append(f"{file} ({type(exc).__name__})")
            continue
        labels[kept] = label
        kept += 1
        if time.monotonic() >= next_report:
            say(f"loading images: {kept:,d} of {len(headers):,d}")
            next_report = time.monotonic() + PROGRESS_S
    return pixels[:kept], labels[:kept], tuple(classes), mode, tuple(skipped)
