"""Arrays of images on disk, read as the Keras datasets layout names them (``x_train, y_train, x_test, y_test``,
optionally ``x_val, y_val``): an ``.npz``, its images memory-mapped when it is stored uncompressed, or a folder
of ``.npy`` files (or shards ``x_train-00000.npy`` …), its images always memory-mapped.
"""

from __future__ import annotations

import glob
import os
import struct
import zipfile
from typing import Any

import numpy as np

from ..errors import InputError
from .image_rows import ArrayRows, ConcatRows


def npz_member_memmap(path: str, member: str) -> np.memmap | None:
    """The array ``member`` of the ``.npz`` at ``path`` mapped from disk, or None when it is compressed
    (``np.savez_compressed``) or holds Python objects: numpy's own ``np.load(mmap_mode='r')`` maps ``.npy``
    files only, and an uncompressed ``.npz`` stores each ``.npy`` whole, after a zip header.
    """
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(member + ".npy")
    if info.compress_type != zipfile.ZIP_STORED:
        return None
    with open(path, "rb") as stream:
        stream.seek(info.header_offset)
        local = stream.read(30)
        if local[:4] != b"PK\x03\x04":
            return None
        name_length, extra_length = struct.unpack("<HH", local[26:30])
        stream.seek(info.header_offset + 30 + name_length + extra_length)
        version = np.lib.format.read_magic(stream)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read_header(stream)
        offset = stream.tell()
    if dtype.hasobject or fortran:
        return None
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape)


def npz_arrays(path: str, stream: bool | None, above: int) -> dict[str, Any]:
    """name → array: images memory-mapped when ``stream`` (None: when larger than ``above`` bytes and stored
    uncompressed), else read into memory."""
    required = ("x_train", "y_train", "x_test", "y_test")
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in required if k not in data.files]
            if missing:
                raise InputError(path, f"missing arrays {', '.join(missing)}; expected x_train, y_train, x_test, y_test "
                                 f"(found {', '.join(data.files) or 'none'})")
            if ("x_val" in data.files) != ("y_val" in data.files):
                raise InputError(path, "has only one of x_val and y_val; images kept out of training need both")
            names = [k for k in required + ("x_val", "y_val") if k in data.files]
            mapped = {k: npz_member_memmap(path, k) for k in names if k.startswith("x_")} if stream is not False else {}
            big = sum(m.nbytes for m in mapped.values() if m is not None) > above
            use_maps = bool(mapped) and all(m is not None for m in mapped.values()) and (stream or big)
            if stream and not use_maps:
                raise InputError(path, "is compressed, so it cannot be read batch by batch: save it with np.savez "
                                 "(not savez_compressed), or drop --stream")
            arrays = {k: (mapped[k] if use_maps and k in mapped else data[k]) for k in names}
    except (OSError, ValueError, zipfile.BadZipFile, KeyError) as exc:
        raise InputError(path, f"is not a readable .npz file: {exc}") from exc
    return arrays


def npy_files(path: str, name: str) -> list[str]:
    """The ``.npy`` files of array ``name`` in folder ``path``: ``name.npy`` and its shards ``name-*.npy``, sorted."""
    return sorted(glob.glob(os.path.join(glob.escape(path), f"{name}.npy"))
                  + glob.glob(os.path.join(glob.escape(path), f"{name}-*.npy")))


def npy_folder_arrays(path: str) -> dict[str, Any] | None:
    """A folder of ``.npy`` files named like the .npz's arrays (``x_train.npy`` or shards ``x_train-*.npy``),
    images memory-mapped: name → array; None when the folder has no ``x_train*.npy``."""
    arrays: dict[str, Any] = {}
    for name in ("x_train", "y_train", "x_test", "y_test", "x_val", "y_val"):
        files = npy_files(path, name)
        if not files:
            continue
        try:
            parts = [np.load(f, mmap_mode="r" if name.startswith("x_") else None, allow_pickle=False) for f in files]
        except (OSError, ValueError) as exc:
            raise InputError(files[0], f"is not a readable .npy file: {exc}") from exc
        for f, part in zip(files, parts):
            if name.startswith("x_") and (part.dtype != np.uint8 or part.ndim not in (3, 4)):
                raise InputError(f, f"holds {part.dtype} {part.shape}; .npy shards must be uint8 (N, H, W[, C])")
        if name.startswith("x_"):
            rows = [ArrayRows(p if p.ndim == 4 else p.reshape(*p.shape, 1)) for p in parts]
            arrays[name] = rows[0] if len(rows) == 1 else ConcatRows(rows)
        else:
            arrays[name] = np.concatenate(parts)
    if "x_train" not in arrays:
        return None
    missing = [k for k in ("y_train", "x_test", "y_test") if k not in arrays]
    if missing:
        raise InputError(path, f"has x_train .npy files but no {', '.join(missing)}")
    return arrays
