"""Images read when they are used: a dataset too large for memory as rows of uint8 pixels (N, H, W, C).

A :class:`LazyRows` behaves like the uint8 array the rest of the code expects where it matters:
``len``, ``shape``, ``rows[i]`` (one image), ``rows[index_array]`` (those images, as an array), and
``rows[a:b]`` / :meth:`LazyRows.take` (a lazy subset, as a numpy slice is a view). Nothing is
decoded until rows are asked for, and only those rows are held.

Sources: an array or memory map (:class:`ArrayRows`), image files decoded with Pillow
(:class:`FileRows`), records of a TFRecord file (``tfrecord.TFRecordRows``). Splits are chosen by
:func:`hash_fraction` of each image's key (relative path, or file and record index), so every
reader of the same files, in any order and in or out of memory, agrees on them.

Thread rules: a ``LazyRows`` may be read from several threads at once (tf.data's parallel map does);
reads share nothing mutable but the decode-failure list, which only grows.
"""

from __future__ import annotations

import hashlib
from typing import Any, Iterator, Sequence

import numpy as np

from ..errors import InputError
from .preprocess import fit_image, pillow_image

READ_CHUNK = 256  # rows per read when iterating


def hash_fraction(key: str, salt: str) -> float:
    """A number in [0, 1) fixed by ``key`` and ``salt``, uniform over keys: ``< 0.2`` puts 20% of keys in a split."""
    digest = hashlib.blake2b(f"{salt}\0{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") / 2.0 ** 64


def split_by_hash(keys: Sequence[str], fraction: float, salt: str, groups: Sequence[int] | None = None) -> np.ndarray:
    """A boolean mask choosing ``round(fraction · n)`` keys of each group (each class), those with the smallest
    :func:`hash_fraction`: the same keys whatever order they are listed in, and every class in its share."""
    chosen = np.zeros(len(keys), dtype=bool)
    scores = hash_order(keys, salt)
    labels = np.zeros(len(keys), dtype=np.int64) if groups is None else np.asarray(groups)
    for group in np.unique(labels):
        members = np.flatnonzero(labels == group)
        count = int(round(len(members) * fraction))
        chosen[members[np.argsort(scores[members], kind="stable")[:count]]] = True
    return chosen


def hash_order(keys: Sequence[str], salt: str = "order") -> np.ndarray:
    """Each key's :func:`hash_fraction`: sorted, an order that looks shuffled and is fixed by the keys alone."""
    return np.fromiter((hash_fraction(k, salt) for k in keys), dtype=np.float64, count=len(keys))


class LazyRows:
    """uint8 images (N, H, W, C) read on demand; subclasses implement :meth:`read_rows`."""

    dtype = np.dtype(np.uint8)
    ndim = 4

    def __init__(self, count: int, image_shape: tuple[int, int, int]) -> None:
        self._count = int(count)
        self._image_shape = tuple(int(v) for v in image_shape)

    def read_rows(self, indices: np.ndarray) -> np.ndarray:
        """The images at ``indices`` (int64, any order), as a new (len(indices), H, W, C) uint8 array."""
        raise NotImplementedError

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (self._count, *self._image_shape)  # type: ignore[return-value]

    @property
    def nbytes(self) -> int:
        return self._count * int(np.prod(self._image_shape))

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, slice):
            return self.take(np.arange(self._count)[key])
        if isinstance(key, (int, np.integer)):
            index = int(key) + (self._count if key < 0 else 0)
            if not 0 <= index < self._count:
                raise IndexError(f"image {key} of {self._count}")
            return self.read_rows(np.array([index]))[0]
        indices = np.asarray(key)
        if indices.dtype == bool:
            indices = np.flatnonzero(indices)
        indices = indices.astype(np.int64).reshape(-1)
        if indices.size and (indices.min() < -self._count or indices.max() >= self._count):
            raise IndexError(f"an index beyond {self._count} images")
        return self.read_rows(np.where(indices < 0, indices + self._count, indices))

    def take(self, indices: Any) -> "LazyRows":
        """The rows at ``indices``, still lazy."""
        return RowSubset(self, np.asarray(indices, dtype=np.int64).reshape(-1))

    def __iter__(self) -> Iterator[np.ndarray]:
        for start in range(0, self._count, READ_CHUNK):
            yield from self.read_rows(np.arange(start, min(self._count, start + READ_CHUNK)))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        whole = self.read_rows(np.arange(self._count))
        return whole if dtype is None else whole.astype(dtype)


class RowSubset(LazyRows):
    """Some rows of another source, in a given order."""

    def __init__(self, base: LazyRows, indices: np.ndarray) -> None:
        super().__init__(len(indices), base.shape[1:])
        self.base, self.indices = base, indices

    def read_rows(self, indices: np.ndarray) -> np.ndarray:
        return self.base.read_rows(self.indices[indices])

    def take(self, indices: Any) -> LazyRows:
        return RowSubset(self.base, self.indices[np.asarray(indices, dtype=np.int64).reshape(-1)])


class ArrayRows(LazyRows):
    """Rows of an array-like that reads rows by fancy indexing (a ``np.memmap``, an ``np.load(mmap_mode='r')``
    array): only the rows asked for are copied into memory."""

    def __init__(self, array: Any) -> None:
        super().__init__(len(array), array.shape[1:])
        self.array = array

    def read_rows(self, indices: np.ndarray) -> np.ndarray:
        if not len(indices):
            return np.empty((0, *self._image_shape), np.uint8)
        order = np.argsort(indices, kind="stable")  # ascending reads from disk, then back in the order asked
        rows = np.empty((len(indices), *self._image_shape), np.uint8)
        rows[order] = self.array[indices[order]]
        return rows


class ConcatRows(LazyRows):
    """Several sources of the same image shape, one after another (a folder of ``.npy`` shards)."""

    def __init__(self, parts: Sequence[LazyRows]) -> None:
        super().__init__(sum(len(p) for p in parts), parts[0].shape[1:])
        self.parts = list(parts)
        self.starts = np.cumsum([0] + [len(p) for p in parts])

    def read_rows(self, indices: np.ndarray) -> np.ndarray:
        rows = np.empty((len(indices), *self._image_shape), np.uint8)
        part_of = np.searchsorted(self.starts, indices, side="right") - 1
        for p in np.unique(part_of):
            mine = part_of == p
            rows[mine] = self.parts[p].read_rows(indices[mine] - self.starts[p])
        return rows


class FileRows(LazyRows):
    """Image files decoded with Pillow when read, converted to ``mode`` (``L`` or ``RGB``) and resized to
    ``size`` (width, height) exactly as :func:`.preprocess.fit_image` does for the device's inputs.

    The files were checked when the dataset was opened; one that fails later (changed or removed since)
    is an error naming it, never a silent blank image.
    """

    def __init__(self, files: Sequence[str], mode: str, size: tuple[int, int]) -> None:
        super().__init__(len(files), (size[1], size[0], 3 if mode == "RGB" else 1))
        self.files, self.mode, self.size = list(files), mode, size

    def read_rows(self, indices: np.ndarray) -> np.ndarray:
        Image = pillow_image()
        rows = np.empty((len(indices), *self._image_shape), np.uint8)
        for out, i in enumerate(indices):
            rows[out] = decode_file(Image, self.files[i], self.mode, self.size).reshape(self._image_shape)
        return rows


def decode_file(Image: Any, path: str, mode: str, size: tuple[int, int]) -> np.ndarray:
    """One image file as uint8 pixels in ``mode`` and ``size`` (width, height).

    Raises:
        InputError: the file cannot be read or decoded, naming it.
    """
    try:
        with Image.open(path) as image:
            image.load()
            return fit_image(image, mode, size)
    except (OSError, ValueError) as exc:
        raise InputError(path, f"cannot be decoded any more ({exc}); it was readable when the dataset was "
                         "opened: was it changed while converting?") from exc


class MappedImages(Sequence[np.ndarray]):
    """``convert(image)`` of each row of a source, computed when asked (indexing, slicing, iteration):
    the device's int8 inputs of a dataset too large to hold, read in chunks of :data:`READ_CHUNK` rows."""

    def __init__(self, rows: LazyRows, convert: Any) -> None:
        self.rows, self.convert = rows, convert

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, slice):
            return MappedImages(self.rows[key], self.convert)
        return self.convert(self.rows[key])

    def __iter__(self) -> Iterator[np.ndarray]:
        for image in self.rows:
            yield self.convert(image)


def mapped_images(pixels: Any, convert: Any) -> Sequence[np.ndarray]:
    """``[convert(p) for p in pixels]``, computed now for an in-memory array, lazily for :class:`LazyRows`."""
    if isinstance(pixels, LazyRows):
        return MappedImages(pixels, convert)
    return [convert(p) for p in pixels]


class FloatRows:
    """uint8 rows seen as a model's float input (real = pixel·scale + offset), scaled only when read:
    ``x[i]``, ``x[a:b]`` and ``x[index_array]`` are float32 arrays. What a family that trains on float
    arrays gets for a dataset too large to hold (the converter's fit and predict read it batch by batch)."""

    dtype = np.dtype(np.float32)
    ndim = 4

    def __init__(self, pixels: Any, scale: float, offset: float) -> None:
        self.pixels, self.scale, self.offset = pixels, np.float32(scale), np.float32(offset)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.pixels.shape)

    def __len__(self) -> int:
        return len(self.pixels)

    def __getitem__(self, key: Any) -> np.ndarray:
        return np.asarray(self.pixels[key]).astype(np.float32) * self.scale + self.offset
