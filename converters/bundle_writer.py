"""Write a bundle folder atomically: everything goes to a hidden sibling, then one rename.

A crash, Ctrl-C or full disk leaves the output path as it was (absent, or the old
bundle when ``force`` replaces one) and at most a hidden ``.NAME.partial-PID`` folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from typing import Any, Iterator

from edge_runtime.bundle import MANIFEST, sha256_of

from .errors import ConvertError


def check_output_folder(out: str, force: bool) -> None:
    """Refuse an existing output path unless ``force``; call before any long work."""
    if os.path.lexists(out) and not force:
        raise ConvertError(f"--out {out} already exists: choose another folder or pass --force to replace it")
    parent = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(parent):
        raise ConvertError(f"--out {out}: the parent folder {parent} does not exist")


@contextlib.contextmanager
def staging_folder(out: str, force: bool) -> Iterator[str]:
    """Yield a temporary folder next to ``out``; on success it replaces ``out`` in one rename."""
    check_output_folder(out, force)
    out = os.path.abspath(out)
    parent, name = os.path.split(out)
    staging = os.path.join(parent, f".{name}.partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    os.makedirs(staging)
    try:
        yield staging
        old = None
        if os.path.lexists(out):
            old = os.path.join(parent, f".{name}.old-{os.getpid()}")
            os.rename(out, old)
        os.rename(staging, out)
        if old:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def file_entry(path: str) -> dict[str, Any]:
    """The manifest's ``files`` entry for ``path``: sha256 and size in bytes."""
    return {"sha256": sha256_of(path), "bytes": os.path.getsize(path)}


def write_json(path: str, data: dict[str, Any]) -> None:
    """Write JSON via a temporary file and a rename."""
    partial = path + ".partial"
    with open(partial, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=1)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, path)


def manifest_path(folder: str) -> str:
    return os.path.join(folder, MANIFEST)


def manifest_header(family: str, dataset: Any, folder: str, files: tuple[str, ...], source: dict[str, Any]
                    ) -> dict[str, Any]:
    """What every family's manifest starts with: format, producer, labels, input spec, files."""
    import edge_runtime
    from edge_runtime.bundle import FORMAT, FORMAT_VERSION

    from .progress import import_tensorflow

    height, width, channels = dataset.image_shape
    return {
        "format": FORMAT, "format_version": FORMAT_VERSION, "family": family,
        "producer": {"tool": "edge-convert", "version": edge_runtime.__version__,
                     "tensorflow": import_tensorflow().__version__, **source},
        "labels": list(dataset.labels),
        "input": {"height": height, "width": width, "channels": channels, "color_mode": dataset.color_mode,
                  "pixel_scale": dataset.pixel_scale, "pixel_offset": dataset.pixel_offset, "resize": "bilinear"},
        "files": {name: file_entry(os.path.join(folder, name)) for name in files},
    }
