"""Labelled image datasets, shared by the converter and the device's ``eval``.

Every dataset is held as uint8 pixels (N, H, W, C) plus integer labels, with the affine
map real = pixel·pixel_scale + pixel_offset that the model was trained on. Splits are
deterministic (seeded), so the converter and the device agree on what the test split is.

Layouts (``--dataset``):
* ``digits``: scikit-learn's bundled 8×8 digits (needs scikit-learn; offline);
* a ``.npz`` with ``x_train, y_train, x_test, y_test`` (the Keras datasets layout), and optionally
  ``x_val, y_val``: images the model never saw in training, which then are the held-out split;
  a folder of ``.npy`` files with those names (or shards ``x_train-00000.npy`` …) is the same;
* a folder with one sub-folder of images per class (read with Pillow);
* a TFRecord file, or a folder of TFRecord shards, of ``tf.train.Example`` records with
  ``image/encoded`` and ``image/class/label`` (see :mod:`.tfrecord`); shards whose names start
  with ``test`` are the test split, ``validation``/``val`` the held-out images.

Datasets larger than :data:`STREAM_ABOVE_BYTES` of pixels (or any, with ``stream=True``) are not held:
their images are :class:`.image_rows.LazyRows`, read batch by batch (an uncompressed ``.npz`` or ``.npy``
memory-mapped, image files and records decoded when used). Folders and TFRecords are split by a hash of
each image's key (relative path; file name and record index), in or out of memory alike.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from dataclasses import dataclass
from typing import Any, Callable, Union

import numpy as np

from ..errors import InputError
from .array_files import npy_files, npy_folder_arrays, npz_arrays
from .image_folder import decode_scanned, scan_folder
from .image_rows import ArrayRows, ConcatRows, FloatRows, LazyRows, hash_order, split_by_hash
from .preprocess import DEFAULT_MAX_PIXELS

TEST_FRACTION = 0.2
HELD_OUT_FRACTION = 0.15
SPLIT_SEED = 20261123
STREAM_ABOVE_BYTES = 1 << 30  # pixels beyond this are read batch by batch, not held

Pixels = Union[np.ndarray, LazyRows]  # uint8 (N, H, W, C)


def take_rows(pixels: Pixels, indices: Any) -> Pixels:
    """``pixels[indices]``: a copy for an in-memory array, a lazy subset for :class:`LazyRows`."""
    return pixels.take(indices) if isinstance(pixels, LazyRows) else pixels[indices]


@dataclass(frozen=True)
class Dataset:
    """Train and test splits as uint8 pixels; ``labels`` names the classes by index."""

    name: str
    x_train: Pixels
    y_train: np.ndarray
    x_test: Pixels
    y_test: np.ndarray
    labels: tuple[str, ...]
    color_mode: str
    pixel_scale: float = 1.0 / 255.0
    pixel_offset: float = 0.0
    skipped: tuple[str, ...] = ()  # files that could not be read, with the reason
    x_val: Pixels | None = None  # images kept out of training (the .npz's x_val, or --calibration's)
    y_val: np.ndarray | None = None
    val_source: str = "x_val"  # where x_val came from, for messages
    train_keys: tuple[str, ...] | None = None  # each x_train image's key: the held-out split hashes them

    @property
    def streamed(self) -> bool:
        """Whether the images are read batch by batch rather than held in memory."""
        return isinstance(self.x_train, LazyRows)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.x_train.shape[1:])  # type: ignore[return-value]

    def to_float(self, pixels: Pixels) -> np.ndarray:
        """The model's float input for uint8 pixels (all of them, in memory)."""
        return np.asarray(pixels).astype(np.float32) * np.float32(self.pixel_scale) + np.float32(self.pixel_offset)

    def float_rows(self, pixels: Pixels) -> np.ndarray | FloatRows:
        """:meth:`to_float` for a dataset held in memory; for a streamed one, rows scaled when read."""
        if self.streamed:
            return FloatRows(pixels, self.pixel_scale, self.pixel_offset)
        return self.to_float(pixels)

    @property
    def held_out_source(self) -> str:
        """Where the held-out images come from, said to users."""
        if self.x_val is not None:
            return self.val_source
        if self.train_keys is not None:
            return f"{HELD_OUT_FRACTION:.0%} of the training images, chosen by a hash of each one's name"
        return f"a seeded {HELD_OUT_FRACTION:.0%} of x_train"

    def held_out_split(self) -> tuple[Pixels, np.ndarray, Pixels, np.ndarray]:
        """(x_fit, y_fit, x_held, y_held): all of x_train and x_val when the dataset has images kept out of
        training, else a seeded split of the training data (by a hash of each image's key when it has keys).

        The held-out part calibrates quantization and measures exit accuracies; the test
        split is never used for either.
        """
        if self.x_val is not None and self.y_val is not None:
            return self.x_train, self.y_train, self.x_val, self.y_val
        fit, held = self._held_out_indices
        # subsets that read their rows when used, not copies: in memory too, the dataset exists once
        rows = self.x_train if isinstance(self.x_train, LazyRows) else ArrayRows(self.x_train)
        return rows.take(fit), self.y_train[fit], rows.take(held), self.y_train[held]

    def every_image(self) -> tuple[Pixels, np.ndarray]:
        """Every image (training, test, then x_val) with its label: for images the model never saw, all of which
        may calibrate (``edge-runtime calibrate --unseen``)."""
        parts = [(self.x_train, self.y_train), (self.x_test, self.y_test)]
        if self.x_val is not None and self.y_val is not None:
            parts.append((self.x_val, self.y_val))
        parts = [(x, y) for x, y in parts if len(y)]
        rows = ConcatRows([x if isinstance(x, LazyRows) else ArrayRows(x) for x, _ in parts])
        return rows, np.concatenate([y for _, y in parts])

    @functools.cached_property
    def _held_out_indices(self) -> tuple[np.ndarray, np.ndarray]:
        """(fit, held) rows of x_train, computed once: a hash per key is not free on 200,000 images, and the
        converter asks for the split at each step."""
        if self.train_keys is not None:
            held_mask = split_by_hash(self.train_keys, HELD_OUT_FRACTION, "held-out", self.y_train)
            if not held_mask.any():
                held_mask[0] = True
            return np.flatnonzero(~held_mask), np.flatnonzero(held_mask)  # x_train is in hash order already
        order = np.random.default_rng(SPLIT_SEED + 1).permutation(len(self.y_train))
        n_held = max(1, int(round(len(order) * HELD_OUT_FRACTION)))
        return order[n_held:], order[:n_held]


def _split_test(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    order = np.random.default_rng(SPLIT_SEED).permutation(len(y))
    n_test = max(1, int(round(len(order) * TEST_FRACTION)))
    test, train = order[:n_test], order[n_test:]
    return x[train], y[train], x[test], y[test]


def _split_test_by_keys(x: Pixels, y: np.ndarray, keys: list[str]
                        ) -> tuple[Pixels, np.ndarray, Pixels, np.ndarray, tuple[str, ...]]:
    """(x_train, y_train, x_test, y_test, train keys): a key's hash puts it in the test split."""
    test_mask = split_by_hash(keys, TEST_FRACTION, "test", y)
    if not test_mask.any():
        test_mask[0] = True
    # each split in an order fixed by the keys' hashes, not the folder's (class by class): a split's first
    # images, its last tenth kept for validation, and a streamed replay are then a fair sample of every class
    shuffled = np.argsort(hash_order(keys), kind="stable")
    train, test = shuffled[~test_mask[shuffled]], shuffled[test_mask[shuffled]]
    return (take_rows(x, train), y[train], take_rows(x, test), y[test], tuple(keys[i] for i in train))


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


def _as_pixels(path: str, name: str, array: Any) -> Pixels:
    if array.ndim == 3:
        array = array.reshape(*array.shape, 1)
    if array.ndim != 4 or array.shape[-1] not in (1, 3):
        first = array.ndim == 4 and array.shape[1] in (1, 3)
        raise InputError(path, f"{name} has shape {array.shape}; expected (N, H, W) or (N, H, W, 1 or 3)"
                         + (": channels first? np.transpose(x, (0, 2, 3, 1))" if first else ""))
    if array.dtype == np.uint8:
        return ArrayRows(array) if isinstance(array, np.memmap) else array
    values = np.asarray(array, dtype=np.float64)  # float pixels are scaled in memory: they are 8× uint8's size
    if not np.isfinite(values).all():
        raise InputError(path, f"{name} contains NaN or infinite values")
    low, high = float(values.min()), float(values.max())
    if low < 0 or high > 255:
        raise InputError(path, f"{name} values span [{low}, {high}]; expected pixels in [0, 255] or [0, 1]")
    if high <= 1.0:
        values = values * 255.0
    return np.round(values).astype(np.uint8)


def _as_labels(path: str, name: str, array: Any, names: tuple[str, ...] = ()) -> np.ndarray:
    """Class indices from ``(N,)`` or ``(N, 1)`` integers, from one-hot rows ``(N, C)`` (the layout of
    ``keras.utils.to_categorical`` and categorical cross-entropy), or from class names (indices into ``names``)."""
    labels = np.asarray(array)
    if labels.dtype.kind in "US":
        index = {value: i for i, value in enumerate(names)}
        return np.array([index[_name(v)] for v in labels.reshape(-1)], dtype=np.int64)
    if labels.ndim == 2 and labels.shape[1] > 1:
        if labels.size and not (np.isin(labels, (0, 1)).all() and (labels.sum(axis=1) == 1).all()):
            raise InputError(path, f"{name} has shape {labels.shape} but its rows are not one-hot (a single 1 each); "
                             "expected class indices (N,) or one-hot rows (N, classes)")
        return labels.argmax(axis=1).astype(np.int64)
    if labels.ndim > 2 or (labels.ndim == 2 and labels.shape[1] != 1):
        raise InputError(path, f"{name} has shape {labels.shape}; expected class indices (N,) or one-hot rows "
                         "(N, classes)")
    labels = labels.reshape(-1)
    if labels.dtype.kind == "f" and not (np.isfinite(labels).all() and (labels == np.round(labels)).all()):
        raise InputError(path, f"{name} holds values that are not whole numbers; expected class indices")
    if labels.dtype.kind not in "iuf" and labels.dtype != np.bool_:
        raise InputError(path, f"{name} holds {labels.dtype} values; expected class indices")
    return labels.astype(np.int64)


def _class_names(path: str, labels: dict[str, np.ndarray]) -> tuple[str, ...]:
    """The classes, sorted, when the labels are their names (as an image folder's sub-folders name them); ()
    when they are numbers."""
    named = {split for split, y in labels.items() if y.dtype.kind in "US"}
    if not named:
        return ()
    if len(named) != len(labels):
        raise InputError(path, f"y_{sorted(named)[0]} holds class names, y_{sorted(set(labels) - named)[0]} numbers; "
                         "expected the same kind in every split")
    return tuple(sorted({_name(v) for y in labels.values() for v in y.reshape(-1)}))


def _name(label: Any) -> str:
    """A class name from a text or bytes label (np.savez keeps both)."""
    return label.decode() if isinstance(label, bytes) else str(label)


def _arrays_dataset(path: str, name: str, arrays: dict[str, Any]) -> Dataset:
    splits = ("train", "test", "val") if "x_val" in arrays else ("train", "test")
    x = {split: _as_pixels(path, f"x_{split}", arrays[f"x_{split}"]) for split in splits}
    names = _class_names(path, {split: np.asarray(arrays[f"y_{split}"]) for split in splits})
    y = {split: _as_labels(path, f"y_{split}", arrays[f"y_{split}"], names) for split in splits}
    for split in splits:
        if x[split].shape[1:] != x["train"].shape[1:]:
            raise InputError(path, f"x_train images are {x['train'].shape[1:]}, x_{split} images {x[split].shape[1:]}")
        if len(x[split]) != len(y[split]):
            raise InputError(path, f"x_{split} has {len(x[split])} images but y_{split} has {len(y[split])} labels")
        if len(y[split]) and y[split].min() < 0:
            raise InputError(path, "labels must be non-negative class indices")
    n_classes = int(max(y[split].max() for split in splits if len(y[split]))) + 1
    # one-hot columns count the classes even when the last ones have no image here
    one_hot = [np.shape(arrays[f"y_{split}"]) for split in splits if np.ndim(arrays[f"y_{split}"]) == 2]
    n_classes = max([n_classes] + [shape[1] for shape in one_hot if shape[1] > 1])
    mode = "RGB" if x["train"].shape[-1] == 3 else "L"
    classes = names or tuple(str(i) for i in range(n_classes))
    return Dataset(name, x["train"], y["train"], x["test"], y["test"], classes, mode,
                   x_val=x.get("val"), y_val=y.get("val"))


def load_npz_dataset(path: str, stream: bool | None = None) -> Dataset:
    """A .npz in the Keras datasets layout (``x_train, y_train, x_test, y_test``, optionally ``x_val, y_val``);
    memory-mapped when ``stream`` (None: when over :data:`STREAM_ABOVE_BYTES` and uncompressed)."""
    return _arrays_dataset(path, os.path.basename(path), npz_arrays(path, stream, STREAM_ABOVE_BYTES))


def load_folder_dataset(path: str, size: tuple[int, int] | None = None, strict: bool = False,
                        progress: Callable[[str], None] | None = None,
                        max_pixels: int = DEFAULT_MAX_PIXELS, stream: bool | None = None) -> Dataset:
    """One sub-folder of images per class, in one mode and one size (see :mod:`.image_folder`), split by a
    hash of each file's relative path; decoded into memory, or checked and then read batch by batch when
    ``stream`` (None: when the decoded pixels would exceed :data:`STREAM_ABOVE_BYTES`)."""
    from .image_rows import FileRows

    scan = scan_folder(path, size, strict, progress, max_pixels)
    keep = not (stream if stream is not None else scan.nbytes > STREAM_ABOVE_BYTES)
    pixels, good = decode_scanned(scan, strict, progress, keep=keep)
    files = [f for f, ok in zip(scan.files, good) if ok]
    keys = [k for k, ok in zip(scan.keys, good) if ok]
    x: Pixels = pixels if pixels is not None else FileRows(files, scan.mode, scan.size)
    x_train, y_train, x_test, y_test, train_keys = _split_test_by_keys(x, scan.labels[good], keys)
    return Dataset(os.path.basename(os.path.normpath(path)), x_train, y_train, x_test, y_test, scan.classes, scan.mode,
                   skipped=tuple(scan.skipped), train_keys=train_keys)


def load_tfrecord_dataset(path: str, size: tuple[int, int] | None = None, strict: bool = False,
                          progress: Callable[[str], None] | None = None,
                          max_pixels: int = DEFAULT_MAX_PIXELS) -> Dataset:
    """TFRecord shards of ``tf.train.Example`` images (see :mod:`.tfrecord`), always read batch by batch.

    Shards named ``test*`` are the test split and ``validation*``/``val*`` the held-out images; without
    test shards, a hash of each record's file name and index picks 20% as the test split.
    """
    from .tfrecord import TFRecordRows, scan_tfrecords, tfrecord_files

    files = tfrecord_files(path)
    if not files:
        raise InputError(path, "has no TFRecord files (*.tfrecord, *.tfrec or *-of-* shards)")
    role = {f: ("test" if os.path.basename(f).startswith("test") else
                "val" if os.path.basename(f).startswith(("validation", "val")) else "train") for f in files}
    if not any(role[f] == "train" for f in files):
        raise InputError(path, "has only test or validation shards; expected training records too")
    train = scan_tfrecords([f for f in files if role[f] == "train"], size, strict, progress, max_pixels)
    scans = {"train": train}
    for r in ("test", "val"):  # decoded at the training images' size and mode
        if any(role[f] == r for f in files):
            scan = scan_tfrecords([f for f in files if role[f] == r], (train.rows.size[1], train.rows.size[0]),
                                  strict, progress, max_pixels)
            scans[r] = scan._replace(rows=TFRecordRows(scan.rows.places, train.rows.mode, train.rows.size))
    skipped = tuple(s for scan in scans.values() for s in scan.skipped)
    classes = max((scan.classes for scan in scans.values()), key=len)  # a class may be missing from a split
    name = os.path.basename(os.path.normpath(path))
    if "test" in scans:
        order = np.argsort(hash_order(train.keys), kind="stable")  # records are often written class by class
        x_train, y_train, train_keys = train.rows.take(order), train.labels[order], tuple(train.keys[i] for i in order)
        x_test, y_test = scans["test"].rows, scans["test"].labels
    else:
        x_train, y_train, x_test, y_test, train_keys = _split_test_by_keys(train.rows, train.labels, train.keys)
    val = scans.get("val")
    return Dataset(name, x_train, y_train, x_test, y_test, classes, train.rows.mode, skipped=skipped,
                   x_val=val.rows if val else None, y_val=val.labels if val else None,
                   val_source="the validation shards", train_keys=train_keys)


def _is_tfrecord(spec: str) -> bool:
    from .tfrecord import TFRECORD_SUFFIXES, tfrecord_files

    if os.path.isfile(spec):
        return spec.endswith(TFRECORD_SUFFIXES) or "-of-" in os.path.basename(spec)
    return os.path.isdir(spec) and bool(tfrecord_files(spec))


LAYOUTS = ("expected 'digits', a .npz with x_train, y_train, x_test, y_test (or a folder of such .npy files), "
           "a folder with one sub-folder of images per class, or TFRecord files of image/encoded and "
           "image/class/label")


def load_dataset(spec: str, size: tuple[int, int] | None = None, strict: bool = False,
                 progress: Callable[[str], None] | None = None, max_pixels: int = DEFAULT_MAX_PIXELS,
                 stream: bool | None = None) -> Dataset:
    """Load ``digits``, a ``.npz`` file or ``.npy`` folder, an image folder or TFRecords (``size``, ``strict``,
    ``max_pixels``: images and records only). ``stream``: read batch by batch (None: when the pixels exceed
    :data:`STREAM_ABOVE_BYTES`).

    Raises:
        InputError: a path in no known layout, naming what was expected.
    """
    if spec == "digits":
        return load_digits_dataset()
    if os.path.isfile(spec):
        if spec.endswith(".npz"):
            return load_npz_dataset(spec, stream)
        if _is_tfrecord(spec):
            return load_tfrecord_dataset(spec, size, strict, progress, max_pixels)
        raise InputError(spec, f"is a file but not a .npz or a TFRecord; {LAYOUTS}")
    if os.path.isdir(spec):
        arrays = npy_folder_arrays(spec)
        if arrays is not None:
            return _arrays_dataset(spec, os.path.basename(os.path.normpath(spec)), arrays)
        if _is_tfrecord(spec):
            return load_tfrecord_dataset(spec, size, strict, progress, max_pixels)
        return load_folder_dataset(spec, size, strict, progress, max_pixels, stream)
    raise InputError(spec, f"no such file or folder; {LAYOUTS}")


def is_image_source(spec: str) -> bool:
    """Whether ``spec`` names encoded images (a folder of class sub-folders or TFRecords), which are resized to
    one size, rather than arrays (``digits``, a ``.npz``, a folder of ``.npy`` files) whose size is their own."""
    if os.path.isfile(spec):
        return _is_tfrecord(spec)
    if os.path.isdir(spec):
        return not npy_files(spec, "x_train")
    return False


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
    elif other.streamed:
        pixels = ConcatRows([other.x_train, other.x_test])  # type: ignore[list-item]
        labels = np.concatenate([other.y_train, other.y_test])
    else:
        pixels = np.concatenate([other.x_train, other.x_test])
        labels = np.concatenate([other.y_train, other.y_test])
    if pixels.shape[1:] != dataset.image_shape:
        raise InputError(spec, f"calibration images are {pixels.shape[1:]}, the dataset's are {dataset.image_shape}")
    if len(labels) and labels.max() >= len(dataset.labels):
        raise InputError(spec, f"has label {int(labels.max())}; the dataset has {len(dataset.labels)} classes")
    return dataclasses.replace(dataset, x_val=pixels, y_val=labels, val_source=f"--calibration {spec}")
