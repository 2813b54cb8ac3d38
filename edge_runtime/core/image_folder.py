"""A folder of photos as a dataset: one sub-folder of images per class, in any size, mode and format.

Images are read twice: once for their header (size, mode; unreadable files are found here), then
each is decoded, converted to the dataset's mode and resized, either into one preallocated uint8 array
(the dataset held in memory once) or only to check it (a dataset read batch by batch later, see
:mod:`.image_rows`). The mode is RGB when any image has colour, else L; the size is
``size`` or the most common one. A file Pillow cannot read is skipped and named (``strict`` refuses
the folder instead).
"""

from __future__ import annotations

import os
import time
from collections import Counter
from typing import Callable, NamedTuple

import numpy as np

from ..errors import ImageTooLargeError, InputError
from .preprocess import DEFAULT_MAX_PIXELS, check_pixels, fit_image, pillow_image

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
GREY_MODES = ("L", "1", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F")
PROGRESS_S = 2.0


def image_files(path: str) -> list[str]:
    """The image files under folder ``path`` and its sub-folders, by name (hidden ones skipped): what ``run``
    classifies when given a folder."""
    found = []
    for root, folders, files in os.walk(path):
        folders[:] = sorted(d for d in folders if not d.startswith("."))
        found += [os.path.join(root, f) for f in sorted(files)
                  if f.lower().endswith(IMAGE_SUFFIXES) and not f.startswith(".")]
    return found


def _classes(path: str) -> tuple[list[str], list[tuple[str, int]]]:
    classes = sorted(d for d in os.listdir(path) if os.path.isdir(os.path.join(path, d)) and not d.startswith("."))
    files: list[tuple[str, int]] = []
    for index, name in enumerate(classes):  # a class's sub-folders are its too, as Keras' loader reads them
        files += [(f, index) for f in image_files(os.path.join(path, name))]
    if len(classes) < 2 or not files:
        raise InputError(path, "expected a .npz, 'digits', or a folder with one sub-folder of images per class "
                         f"(found {len(classes)} sub-folders and {len(files)} images)")
    return classes, files


class FolderScan(NamedTuple):
    """What the header pass found: the readable files with their labels, and the dataset's form."""

    root: str
    files: list[str]
    labels: np.ndarray  # int64, one per file
    classes: tuple[str, ...]
    mode: str  # "L" or "RGB"
    size: tuple[int, int]  # (width, height)
    skipped: list[str]  # unreadable files with the reason

    @property
    def keys(self) -> list[str]:
        """Each file's path relative to the folder, with "/" separators: what splits are hashed on."""
        return [os.path.relpath(f, self.root).replace(os.sep, "/") for f in self.files]

    @property
    def nbytes(self) -> int:
        """Bytes of the decoded uint8 pixels of every file."""
        return len(self.files) * self.size[0] * self.size[1] * (3 if self.mode == "RGB" else 1)


def scan_folder(path: str, size: tuple[int, int] | None = None, strict: bool = False,
                progress: Callable[[str], None] | None = None, max_pixels: int = DEFAULT_MAX_PIXELS) -> FolderScan:
    """Read every file's header: its size and mode (unreadable files are skipped and named here).

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
    next_report = time.monotonic() + PROGRESS_S
    for done, (file, label) in enumerate(files):
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
        if time.monotonic() >= next_report:
            say(f"reading image headers: {done + 1:,d} of {len(files):,d}")
            next_report = time.monotonic() + PROGRESS_S
    if not headers:
        raise InputError(path, "none of its image files could be read")
    mode = "RGB" if any(m not in GREY_MODES for _, _, _, m in headers) else "L"
    width, height = (size[1], size[0]) if size else Counter(s for _, _, s, _ in headers).most_common(1)[0][0]
    return FolderScan(path, [h[0] for h in headers], np.array([h[1] for h in headers], dtype=np.int64),
                      tuple(classes), mode, (width, height), skipped)


def decode_scanned(scan: FolderScan, strict: bool = False, progress: Callable[[str], None] | None = None,
                   keep: bool = True) -> tuple[np.ndarray | None, np.ndarray]:
    """Decode every scanned file: (pixels (N, H, W, C) uint8 or None when not ``keep``, a mask of the files
    that decoded). A file whose header read but whose body does not is skipped and named in ``scan.skipped``
    (``strict``: refused). Without ``keep`` each image is decoded and dropped: a check that costs one pass
    over the files and no memory, for datasets read later batch by batch."""
    from PIL import UnidentifiedImageError

    Image = pillow_image()
    say = progress or (lambda message: None)
    width, height = scan.size
    channels = 3 if scan.mode == "RGB" else 1
    pixels = np.empty((len(scan.files), height, width, channels), dtype=np.uint8) if keep else None
    good = np.zeros(len(scan.files), dtype=bool)
    next_report = time.monotonic() + PROGRESS_S
    for i, file in enumerate(scan.files):
        try:
            with Image.open(file) as image:
                image.load()
                decoded = fit_image(image, scan.mode, (width, height))
        except (UnidentifiedImageError, OSError, ValueError) as exc:  # a header that read, a body that does not
            if strict:
                raise InputError(file, f"cannot be decoded ({exc}); drop --strict to skip such files")
            scan.skipped.append(f"{file} ({type(exc).__name__})")
            continue
        if pixels is not None:
            pixels[i] = decoded.reshape(height, width, channels)
        good[i] = True
        if time.monotonic() >= next_report:
            say(f"{'loading' if keep else 'checking'} images: {i + 1:,d} of {len(scan.files):,d}")
            next_report = time.monotonic() + PROGRESS_S
    return (pixels[good] if pixels is not None and not good.all() else pixels), good


def read_folder(path: str, size: tuple[int, int] | None = None, strict: bool = False,
                progress: Callable[[str], None] | None = None, max_pixels: int = DEFAULT_MAX_PIXELS
                ) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], str, tuple[str, ...]]:
    """(pixels (N, H, W, C) uint8, labels, class names, mode, skipped files with the reason), all in memory.

    Args:
        size: (height, width) of the dataset's images; default the most common.
        strict: an unreadable file, or one of more than ``max_pixels`` pixels, is an error instead of a skip.
    """
    scan = scan_folder(path, size, strict, progress, max_pixels)
    pixels, good = decode_scanned(scan, strict, progress)
    assert pixels is not None
    return pixels, scan.labels[good], scan.classes, scan.mode, tuple(scan.skipped)
