"""Labelled image datasets, shared by the converter and the device's ``eval``.

Every dataset is held as uint8 pixels (N, H, W, C) plus integer labels, with the affine
map real = pixel·pixel_scale + pixel_offset that the model was trained on. Splits are
deterministic (seeded), so the converter and the device agree on what the test split is.

Layouts (``--dataset``):
* ``digits``: scikit-learn's bundled 8×8 digits (needs scikit-learn; offline);
* a ``.npz`` with ``x_train, y_train, x_test, y_test`` (the Keras datasets layout), and optionally
  ``x_val, y_val``: images the model never saw in training, which then are the held-out split;
* a folder with one sub-folder of images per class (read with Pillow).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import InputError
from .image_folder import read_folder
from .preprocess import DEFAULT_MAX_PIXELS

TEST_FRACTION = 0.2
HELD_OUT_FRACTION = 0.15
SPLIT_SEED = 20261123


@dataclass(frozen=True)
class Dataset:
    """Train and test splits as uint8 pixels; ``labels`` names the classes by index."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    labels: tuple[str, ...]
    color_mode: str
    pixel_scale: float = 1.0 / 255.0
    pixel_offset: float = 0.0
    skipped: tuple[str, ...] = ()  # files that could not be read, with the reason
    x_val: np.ndarray | None = None  # images kept out of training (the .npz's x_val, or --calibration's)
    y_val: np.ndarray | None = None
    val_source: str = "x_val"  # where x_val came from, for messages

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.x_train.shape[1:])  # type: ignore[return-value]

    def to_float(self, pixels: np.ndarray) -> np.ndarray:
        """The model's float input for uint8 pixels."""
        return pixels.astype(np.float32) * np.float32(self.pixel_scale) + np.float32(self.pixel_offset)

    @property
    def held_out_source(self) -> str:
        """Where the held-out images come from, said to users."""
        if self.x_val is not None:
            return self.val_source
        return f"a seeded {HELD_OUT_FRACTION:.0%} of x_train"

    def held_out_split(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(x_fit, y_fit, x_held, y_held): all of x_train and x_val when the dataset has images kept out of
        training, else a seeded split of the training data.

        The held-out part calibrates quantization and measures exit accuracies; the test
        split is never used for either.
        """
        if self.x_val is not None and self.y_val is not None:
            return self.x_train, self.y_train, self.x_val, self.y_val
        order = np.random.default_rng(SPLIT_SEED + 1).permutation(len(self.y_train))
        n_held = max(1, int(round(len(order) * HELD_OUT_FRACTION)))
        held, fit = order[:n_held], order[n_held:]
        return self.x_train[fit], self.y_train[fit], self.x_train[held], self.y_train[held]


def _split_test(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    order = np.random.default_rng(SPLIT_SEED).permutation(len(y))
    n_test = max(1, int(round(len(order) * TEST_FRACTION)))
    test, train = order[:n_test], order[n_test:]
    return x[train], y[train], x[test], y[test]


def load_digits_dataset() -> Dataset:
    """scikit-learn's 8×8 digits (values 0–16) scaled to uint8 0–255, 20% held as the test split."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise InputError("digits", "this dataset ships with scikit-learn: pip install scikit-learn, "
                         "or pass a .npz or an image folder") from exc
    digits = load_digits()
    pixels = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    x_train, y_train, x_test, y_test = _split_test(pixels, digits.target.astype(np.int64))
    return Dataset("digits", x_train, y_train, x_test, y_test, tuple(str(i) for i in range(10)), "L")


def _as_pixels(path: str, name: str, array: np.ndarray) -> np.ndarray:
    if array.ndim == 3:
        array = array[..., None]
    if array.ndim != 4 or array.shape[-1] not in (1, 3):
        raise InputError(path, f"{name} has shape {array.shape}; expected (N, H, W) or (N, H, W, 1 or 3)")
    if array.dtype == np.uint8:
        return array
    values = array.astype(np.float64)
    if not np.isfinite(values).all():
        raise InputError(path, f"{name} contains NaN or infinite values")
    low, high = float(values.min()), float(values.max())
    if low < 0 or high > 255:
        raise InputError(path, f"{name} values span [{low}, {high}]; expected pixels in [0, 255] or [0, 1]")
    if high <= 1.0:
        values = values * 255.0
    return np.round(values).astype(np.uint8)


def load_npz_dataset(path: str) -> Dataset:
    """A .npz in the Keras datasets layout (``x_train, y_train, x_test, y_test``, optionally ``x_val, y_val``)."""
    required = ("x_train", "y_train", "x_test", "y_test")
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in required if k not in data.files]
            if missing:
                raise InputError(path, f"missing arrays {', '.join(missing)}; expected x_train, y_train, x_test, y_test "
                                 f"(found {', '.join(data.files) or 'none'})")
            if ("x_val" in data.files) != ("y_val" in data.files):
                raise InputError(path, "has only one of x_val and y_val; images kept out of training need both")
            arrays = {k: data[k] for k in required + ("x_val", "y_val") if k in data.files}
    except (OSError, ValueError) as exc:
        raise InputError(path, f"is not a readable .npz file: {exc}") from exc
    splits = ("train", "test", "val") if "x_val" in arrays else ("train", "test")
    x = {name: _as_pixels(path, f"x_{name}", arrays[f"x_{name}"]) for name in splits}
    y = {name: arrays[f"y_{name}"].reshape(-1).astype(np.int64) for name in splits}
    for name in splits:
        if x[name].shape[1:] != x["train"].shape[1:]:
            raise InputError(path, f"x_train images are {x['train'].shape[1:]}, x_{name} images {x[name].shape[1:]}")
        if len(x[name]) != len(y[name]):
            raise InputError(path, f"x_{name} has {len(x[name])} images but y_{name} has {len(y[name])} labels")
        if len(y[name]) and y[name].min() < 0:
            raise InputError(path, "labels must be non-negative class indices")
    n_classes = int(max(y[name].max() for name in splits if len(y[name]))) + 1
    mode = "RGB" if x["train"].shape[-1] == 3 else "L"
    return Dataset(os.path.basename(path), x["train"], y["train"], x["test"], y["test"],
                   tuple(str(i) for i in range(n_classes)), mode, x_val=x.get("val"), y_val=y.get("val"))


def load_folder_dataset(path: str, size: tuple[int, int] | None = None, strict: bool = False,
                        progress: Callable[[str], None] | None = None,
                        max_pixels: int = DEFAULT_MAX_PIXELS) -> Dataset:
    """One sub-folder of images per class, in one mode and one size (see :mod:`.image_folder`)."""
    pixels, labels, classes, mode, skipped = read_folder(path, size, strict, progress, max_pixels)
    x_train, y_train, x_test, y_test = _split_test(pixels, labels)
    return Dataset(os.path.basename(os.path.normpath(path)), x_train, y_train, x_test, y_test, classes, mode,
                   skipped=skipped)


def load_dataset(spec: str, size: tuple[int, int] | None = None, strict: bool = False,
                 progress: Callable[[str], None] | None = None, max_pixels: int = DEFAULT_MAX_PIXELS) -> Dataset:
    """Load ``digits``, a ``.npz`` file or an image folder (``size``, ``strict``, ``progress``, ``max_pixels``:
    folders only).

    Raises:
        InputError: a path in no known layout, naming what was expected.
    """
    if spec == "digits":
        return load_digits_dataset()
    if os.path.isfile(spec):
        if spec.endswith(".npz"):
            return load_npz_dataset(spec)
        raise InputError(spec, "is a file but not a .npz; expected 'digits', a .npz with x_train, y_train, "
                         "x_test, y_test, or a folder with one sub-folder of images per class")
    if os.path.isdir(spec):
        return load_folder_dataset(spec, size, strict, progress, max_pixels)
    raise InputError(spec, "no such file or folder; expected 'digits', a .npz with x_train, y_train, x_test, y_test, "
                     "or a folder with one sub-folder of images per class")


def with_calibration(dataset: Dataset, spec: str, size: tuple[int, int] | None = None,
                     progress: Callable[[str], None] | None = None) -> Dataset:
    """``dataset`` with its held-out split replaced by the images of ``spec``: its ``x_val`` when it has one,
    else all of its images (train and test), checked to match ``dataset``'s images and classes.

    Raises:
        InputError: images of another shape or labels beyond ``dataset``'s classes.
    """
    other = load_dataset(spec, size or dataset.image_shape[:2], progress=progress)
    if other.x_val is not None and other.y_val is not None:
        pixels, labels = other.x_val, other.y_val
    else:
        pixels = np.concatenate([other.x_train, other.x_test])
        labels = np.concatenate([other.y_train, other.y_test])
    if pixels.shape[1:] != dataset.image_shape:
        raise InputError(spec, f"calibration images are {pixels.shape[1:]}, the dataset's are {dataset.image_shape}")
    if len(labels) and labels.max() >= len(dataset.labels):
        raise InputError(spec, f"has label {int(labels.max())}; the dataset has {len(dataset.labels)} classes")
    return dataclasses.replace(dataset, x_val=pixels, y_val=labels, val_source=f"--calibration {spec}")
