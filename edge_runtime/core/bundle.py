"""Bundles: a folder with ``manifest.json`` and the ``.tflite`` files it lists.

:func:`read_bundle` checks everything a run needs before any inference: the schema and format
version, that every listed file is present with the recorded size and sha256, and then the
family's own graph (its part of the manifest checks that its segments' shapes chain). Problems
raise :class:`~edge_runtime.errors.BundleError` naming the file and the manifest field. Which
family part to read comes from the caller (the registry), so nothing here knows a family.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..errors import BundleError
from ..schema import Reader, dump
from .atomic import write_json
from .manifest import MANIFEST, AlphaTable, FormatStamp, InputSpec, ManifestHeader, Segment


@dataclass(frozen=True)
class Bundle:
    """A verified bundle. ``path`` is its folder; ``part`` is the family's own part of the manifest."""

    path: str
    header: ManifestHeader
    part: Any
    manifest: dict[str, Any]

    @property
    def family(self) -> str:
        return self.header.family

    @property
    def labels(self) -> tuple[str, ...]:
        return self.header.labels

    @property
    def input(self) -> InputSpec:
        return self.header.input

    @property
    def segments(self) -> dict[str, Segment]:
        return self.header.segments

    @property
    def monolithic(self) -> Segment:
        return self.header.monolithic_segment

    @property
    def full_macs(self) -> int:
        """MACs of the whole network as one model (the reference)."""
        return self.monolithic.macs

    def file_path(self, name: str) -> str:
        return os.path.join(self.path, name)


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(folder: str) -> dict[str, Any]:
    """Parse ``folder/manifest.json``. Raises BundleError for a missing folder or invalid JSON."""
    path = os.path.join(folder, MANIFEST)
    if not os.path.isdir(folder):
        raise BundleError(folder, "is not a bundle folder (no such directory)")
    if not os.path.isfile(path):
        raise BundleError(path, "missing: a bundle folder holds manifest.json and the .tflite files it lists")
    try:
        with open(path, encoding="utf-8") as handle:
            manifest = json.load(handle)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(path, f"is not valid JSON ({exc})") from exc
    if not isinstance(manifest, dict):
        raise BundleError(path, "expected a JSON object at the top level")
    return manifest


def check_files(folder: str, header: ManifestHeader, verify_hashes: bool = True) -> None:
    """Every listed file is present with its recorded size (and sha256)."""
    for name, entry in header.files.items():
        path = os.path.join(folder, name)
        field = f"files.{name}"
        if not os.path.isfile(path):
            raise BundleError(path, "file listed in the manifest is missing")
        size = os.path.getsize(path)
        if size != entry.bytes:
            raise BundleError(path, f"is {size} bytes, the manifest ({field}.bytes) says {entry.bytes}: truncated or "
                              "replaced")
        if verify_hashes and sha256_of(path) != entry.sha256:
            raise BundleError(path, f"sha256 differs from the manifest's {field}.sha256: the file is corrupt or was "
                              "replaced")


def read_bundle(folder: str, part_type: Callable[[Reader, str], type], verify_hashes: bool = True) -> Bundle:
    """Read and verify the bundle in ``folder``.

    Args:
        part_type: (reader, family name) → the record type of that family's part of the manifest;
            raises through ``reader.fail`` for an unknown family. The part's ``check(reader, header)``
            then verifies the family's graph.

    Raises:
        BundleError: naming the file and manifest field of the first problem found.
    """
    manifest = read_manifest(folder)
    reader = Reader(os.path.join(folder, MANIFEST), BundleError)
    stamp = reader.read(FormatStamp, manifest)
    part_cls = part_type(reader, stamp.family)
    header = reader.read(ManifestHeader, manifest)
    check_files(folder, header, verify_hashes)
    part = reader.read(part_cls, manifest)
    part.check(reader, header)
    return Bundle(folder, header, part, manifest)


HELD_OUT_FILE = "held_out.npz"


def store_calibration(folder: str, table: AlphaTable, outcomes: dict[str, np.ndarray]) -> None:
    """Store the α table in the manifest and the held-out outcomes it was fitted on in ``held_out.npz``
    (listed in ``files`` with its sha256), each through a temporary file and a rename. The outcomes let
    the runtime fit the table again on another cost (measured joules) without the dataset."""
    partial = os.path.join(folder, HELD_OUT_FILE + ".partial.npz")
    np.savez(partial, **outcomes)
    os.replace(partial, os.path.join(folder, HELD_OUT_FILE))
    manifest = read_manifest(folder)
    path = os.path.join(folder, HELD_OUT_FILE)
    manifest.setdefault("files", {})[HELD_OUT_FILE] = {"sha256": sha256_of(path), "bytes": os.path.getsize(path)}
    manifest["held_out"] = HELD_OUT_FILE
    manifest["alpha_table"] = dump(table)
    write_json(os.path.join(folder, MANIFEST), manifest)


def load_outcomes(bundle: Bundle) -> dict[str, np.ndarray] | None:
    """The held-out outcomes stored with the bundle's α table, or None for a bundle without them."""
    name = bundle.header.held_out
    if name is None:
        return None
    path = bundle.file_path(name)
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except (OSError, ValueError) as exc:
        raise BundleError(path, f"cannot read the held-out outcomes: {exc}") from exc
