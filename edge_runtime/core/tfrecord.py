"""TFRecord files of encoded images, read without TensorFlow (the device's ``eval`` reads them too).

A TFRecord file is a run of records: an 8-byte little-endian length, a 4-byte CRC of it, the data,
a 4-byte CRC of the data. Each record here is a serialized ``tf.train.Example`` whose features hold
the encoded image under ``image/encoded`` and its class index under ``image/class/label`` (and,
optionally, the class name under ``image/class/text``), as TF-Slim's and TFDS's image writers do.
The Example is decoded from the protobuf wire format directly: it is three nested messages, and
TensorFlow's generated classes are not on a board. CRCs are not checked (Python has no CRC-32C);
a damaged record shows up as one that does not parse or whose image does not decode, and is named.
"""

from __future__ import annotations

import contextlib
import io
import os
import struct
import time
from collections import Counter
from typing import Any, Callable, Iterator, NamedTuple

import numpy as np

from ..errors import InputError
from .image_folder import GREY_MODES, PROGRESS_S
from .image_rows import LazyRows
from .preprocess import DEFAULT_MAX_PIXELS, check_pixels, fit_image, pillow_image

IMAGE_KEY = "image/encoded"
LABEL_KEY = "image/class/label"
TEXT_KEY = "image/class/text"
TFRECORD_SUFFIXES = (".tfrecord", ".tfrecords", ".tfrec")
_HEADER = struct.Struct("<QI")


class RecordError(ValueError):
    """A record or an Example that does not parse."""


def iter_records(path: str) -> Iterator[tuple[int, int, bytes]]:
    """(offset of the data, its length in bytes, the data) for each record of the file at ``path``.

    Raises:
        RecordError: the file ends inside a record (the records before it were yielded).
    """
    with open(path, "rb") as stream:
        while True:
            header = stream.read(_HEADER.size)
            if not header:
                return
            if len(header) < _HEADER.size:
                raise RecordError(f"the file ends inside a record header at byte {stream.tell() - len(header)}")
            length, _ = _HEADER.unpack(header)
            offset = stream.tell()
            data = stream.read(length)
            if len(data) < length or len(stream.read(4)) < 4:
                raise RecordError(f"the file ends inside a record of {length:,d} bytes at byte {offset}")
            yield offset, length, data


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise RecordError("a varint runs past the end of its message")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise RecordError("a varint longer than 10 bytes")


def _fields(data: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) of a protobuf message: ints for varints, bytes otherwise."""
    pos = 0
    while pos < len(data):
        tag, pos = _varint(data, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            yield number, wire, value
        elif wire == 2:
            length, pos = _varint(data, pos)
            if pos + length > len(data):
                raise RecordError("a field runs past the end of its message")
            yield number, wire, data[pos:pos + length]
            pos += length
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            if pos + size > len(data):
                raise RecordError("a fixed-size field runs past the end of its message")
            yield number, wire, data[pos:pos + size]
            pos += size
        else:
            raise RecordError(f"wire type {wire} is not one an Example uses")


def _feature(data: bytes) -> list[bytes] | list[int] | list[float]:
    """A ``tf.train.Feature``: its bytes, int64 or float values."""
    for number, _, body in _fields(data):
        if not isinstance(body, bytes):
            continue
        if number == 1:  # BytesList: repeated bytes value = 1
            return [v for n, w, v in _fields(body) if n == 1 and isinstance(v, bytes)]
        if number == 3:  # Int64List: repeated int64 value = 1, packed or not
            values: list[int] = []
            for n, wire, v in _fields(body):
                if n != 1:
                    continue
                if wire == 0:
                    values.append(_signed(int(v)))  # type: ignore[arg-type]
                elif isinstance(v, bytes):
                    pos = 0
                    while pos < len(v):
                        item, pos = _varint(v, pos)
                        values.append(_signed(item))
            return values
        if number == 2:  # FloatList: repeated float value = 1, packed or not
            floats: list[float] = []
            for n, wire, v in _fields(body):
                if n == 1 and isinstance(v, bytes):
                    floats += list(struct.unpack(f"<{len(v) // 4}f", v)) if wire == 2 else [struct.unpack("<f", v)[0]]
            return floats
    return []


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def parse_example(data: bytes) -> dict[str, list]:
    """A serialized ``tf.train.Example`` as {feature name: its values}.

    Raises:
        RecordError: the bytes are not an Example.
    """
    features: dict[str, list] = {}
    for number, _, body in _fields(data):
        if number != 1 or not isinstance(body, bytes):  # Example.features = 1
            continue
        for n, _, entry in _fields(body):  # Features.feature = 1: map<string, Feature> entries
            if n != 1 or not isinstance(entry, bytes):
                continue
            key, value = None, b""
            for k, _, part in _fields(entry):
                if k == 1 and isinstance(part, bytes):
                    key = part.decode("utf-8", errors="replace")
                elif k == 2 and isinstance(part, bytes):
                    value = part
            if key is not None:
                features[key] = _feature(value)
    return features


def image_and_label(data: bytes) -> tuple[bytes, int, str | None]:
    """(encoded image, class index, class name or None) of one record.

    Raises:
        RecordError: not an Example, or without ``image/encoded`` and ``image/class/label``.
    """
    features = parse_example(data)
    image, label, text = features.get(IMAGE_KEY), features.get(LABEL_KEY), features.get(TEXT_KEY)
    if not image or not isinstance(image[0], bytes):
        raise RecordError(f"has no {IMAGE_KEY} bytes (features: {', '.join(sorted(features)) or 'none'})")
    if not label or not isinstance(label[0], int):
        raise RecordError(f"has no integer {LABEL_KEY} (features: {', '.join(sorted(features)) or 'none'})")
    name = text[0].decode("utf-8", errors="replace") if text and isinstance(text[0], bytes) else None
    return image[0], int(label[0]), name


class RecordPlace(NamedTuple):
    path: str
    offset: int  # of the record's data, in bytes
    length: int


class TFRecordRows(LazyRows):
    """Records of TFRecord files, their images decoded with Pillow when read (``mode``, ``size`` (width,
    height)) exactly as the device decodes image files."""

    def __init__(self, places: list[RecordPlace], mode: str, size: tuple[int, int]) -> None:
        super().__init__(len(places), (size[1], size[0], 3 if mode == "RGB" else 1))
        self.places, self.mode, self.size = places, mode, size

    def read_rows(self, indices: np.ndarray) -> np.ndarray:
        Image = pillow_image()
        rows = np.empty((len(indices), *self._image_shape), np.uint8)
        with contextlib.ExitStack() as files:
            opened: dict[str, Any] = {}  # one open per shard per batch, not per record
            for out, i in enumerate(indices):
                place = self.places[i]
                if place.path not in opened:
                    opened[place.path] = files.enter_context(open(place.path, "rb"))
                stream = opened[place.path]
                stream.seek(place.offset)
                rows[out] = self._decode(Image, place, stream.read(place.length))
        return rows

    def _decode(self, Image: Any, place: RecordPlace, data: bytes) -> np.ndarray:
        try:
            encoded, _, _ = image_and_label(data)
            with Image.open(io.BytesIO(encoded)) as image:
                image.load()
                return fit_image(image, self.mode, self.size).reshape(self._image_shape)
        except (RecordError, OSError, ValueError) as exc:
            raise InputError(f"{place.path} record at byte {place.offset}",
                             f"cannot be decoded any more ({exc}); was the file changed while converting?") from exc


class RecordScan(NamedTuple):
    rows: TFRecordRows
    labels: np.ndarray  # int64
    keys: list[str]  # "<file name>:<record index>", what splits are hashed on
    classes: tuple[str, ...]
    skipped: list[str]


def tfrecord_files(path: str) -> list[str]:
    """The TFRecord files at ``path``: the file itself, or a folder's ``*.tfrecord*``/``*-of-*`` shards."""
    if os.path.isfile(path):
        return [path]
    names = sorted(n for n in os.listdir(path) if not n.startswith(".")
                   and (n.endswith(TFRECORD_SUFFIXES) or "-of-" in n) and os.path.isfile(os.path.join(path, n)))
    return [os.path.join(path, n) for n in names]


def scan_tfrecords(files: list[str], size: tuple[int, int] | None = None, strict: bool = False,
                   progress: Callable[[str], None] | None = None,
                   max_pixels: int = DEFAULT_MAX_PIXELS) -> RecordScan:
    """Read every record once: its label, and its image decoded to check it and learn its size and mode.

    Args:
        size: (height, width) of the dataset's images; default the most common.
        strict: a record that does not parse or whose image does not decode is an error instead of a skip.
    """
    Image = pillow_image()
    say = progress or (lambda message: None)
    places: list[RecordPlace] = []
    labels: list[int] = []
    keys: list[str] = []
    shapes: Counter = Counter()
    colour = False
    names: dict[int, str] = {}
    skipped: list[str] = []
    next_report = time.monotonic() + PROGRESS_S

    def skip(where: str, why: str) -> None:
        if strict:
            raise InputError(where, f"{why}; drop --strict to skip such records")
        skipped.append(f"{where} ({why})")

    for path in files:
        index = -1
        try:
            with contextlib.closing(iter_records(path)) as records:
                for index, (offset, length, data) in enumerate(records):
                    where = f"{path} record {index}"
                    try:
                        encoded, label, name = image_and_label(data)
                        with Image.open(io.BytesIO(encoded)) as image:
                            check_pixels(where, image.size, max_pixels)
                            image.load()
                            shapes[image.size] += 1
                            colour = colour or image.mode not in GREY_MODES
                    except (RecordError, OSError, ValueError) as exc:
                        skip(where, str(exc) if isinstance(exc, RecordError) else f"image: {exc}")
                        continue
                    except InputError as exc:  # too many pixels
                        skip(where, exc.message)
                        continue
                    if label < 0:
                        skip(where, f"label {label} is negative")
                        continue
                    places.append(RecordPlace(path, offset, length))
                    labels.append(label)
                    keys.append(f"{os.path.basename(path)}:{index}")
                    if name is not None:
                        names.setdefault(label, name)
                    if time.monotonic() >= next_report:
                        say(f"reading records: {len(places):,d} from {os.path.basename(path)}")
                        next_report = time.monotonic() + PROGRESS_S
        except RecordError as exc:
            skip(f"{path} after record {index}", str(exc))
        except OSError as exc:
            raise InputError(path, f"cannot be read: {exc}") from exc
    if not places:
        raise InputError(", ".join(files[:3]), f"no readable record with {IMAGE_KEY} and {LABEL_KEY}")
    width, height = (size[1], size[0]) if size else shapes.most_common(1)[0][0]
    n_classes = max(labels) + 1
    classes = tuple(names.get(i, str(i)) for i in range(n_classes))
    rows = TFRecordRows(places, "RGB" if colour else "L", (width, height))
    return RecordScan(rows, np.array(labels, dtype=np.int64), keys, classes, skipped)
