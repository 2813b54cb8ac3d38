"""Write a bundle folder atomically: everything goes to a hidden sibling, then one rename.

A crash, Ctrl-C or full disk leaves the output path as it was (absent, or the old
bundle when ``force`` replaces one) and at most a hidden ``.NAME.partial-PID`` folder.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
from typing import Any, Callable, Iterator

import edge_runtime
from edge_runtime.core.floor import DEFAULT_FLOOR, parse_floor
from edge_runtime.core.operating import describe_ends
from edge_runtime.core.atomic import write_json
from edge_runtime.core.bundle import read_manifest, sha256_of
from edge_runtime.core.preprocess import Preprocessor
from edge_runtime.core.image_rows import mapped_images
from edge_runtime.core.manifest import (FORMAT, FORMAT_VERSION, MANIFEST, FileEntry, InputSpec, ManifestHeader,
                                        MonolithicRef, Segment, TensorSpec)
from edge_runtime.registry import calibrate_bundle, load_bundle
from edge_runtime.schema import dump

from .errors import ConvertError
from .cost import Cost
from .progress import import_tensorflow


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


def file_entry(path: str) -> FileEntry:
    """The manifest's ``files`` entry for ``path``: sha256 and size in bytes."""
    return FileEntry(sha256_of(path), os.path.getsize(path))


SignatureIO = dict[str, tuple[dict[str, TensorSpec], dict[str, TensorSpec]]]


def segment_record(key: str, file: str, io: SignatureIO, cost: Cost, signature: str | None = None) -> Segment:
    """A segment of the manifest: signature ``signature`` (default ``key``) of ``file``, its tensors as
    read back from the converted model, and its cost."""
    signature = signature or key
    inputs, outputs = io[signature]
    return Segment(key, file, signature, inputs, outputs, cost.macs, cost.params, cost.bytes_moved)


def manifest_header(family: str, dataset: Any, folder: str, files: tuple[str, ...], segments: dict[str, Segment],
                    monolithic: str, source: dict[str, Any], floor: str = DEFAULT_FLOOR) -> ManifestHeader:
    """What every family's manifest starts with: format, producer, labels, input spec, files, segments, and the
    accuracy floor α ends at (:mod:`edge_runtime.core.floor`)."""
    height, width, channels = dataset.image_shape
    return ManifestHeader(
        format=FORMAT, format_version=FORMAT_VERSION, family=family, labels=tuple(dataset.labels),
        input=InputSpec(height, width, channels, dataset.color_mode, dataset.pixel_scale, dataset.pixel_offset,
                        "bilinear"),
        files={name: file_entry(os.path.join(folder, name)) for name in files}, segments=segments,
        monolithic=MonolithicRef(monolithic), accuracy_floor=floor,
        producer={"tool": "edge-convert", "version": edge_runtime.__version__,
                  "tensorflow": import_tensorflow().__version__, "held_out": dataset.held_out_source, **source})


def write_manifest(folder: str, header: ManifestHeader, part: Any) -> dict[str, Any]:
    """Write ``manifest.json``: the header's keys and the family part's keys, as the runtime reads them."""
    manifest = {**dump(header), **dump(part)}
    write_json(os.path.join(folder, MANIFEST), manifest)
    return manifest


def write_calibrated(folder: str, header: ManifestHeader, part: Any, spec_field: str,
                     calibrate: Callable[[], tuple[Any, dict[str, Any]]], dataset: Any, held_out: int,
                     calibration_samples: int, say: Callable[[str], None]) -> dict[str, Any]:
    """Finish a pruned or gated bundle: write the manifest with ``part`` (whose ``spec_field`` holds a placeholder
    family table), measure that table and the int8 calibration with the device runtime (``calibrate``), write
    them in, then fit and store the α table; returns the manifest as written."""
    write_manifest(folder, header, part)
    say(f"calibrating the α table with the int8 runtime on {held_out} held-out samples")
    table, calibration = calibrate()
    spec = dataclasses.replace(getattr(part, spec_field), alpha_table=table)
    part = dataclasses.replace(part, **{spec_field: spec}, calibration={
        "dataset": dataset.name, "held_out_samples": int(held_out), "calibration_samples": int(calibration_samples),
        **calibration})
    write_manifest(folder, header, part)
    return add_alpha_table(folder, dataset, say)  # loads the bundle exactly as a device will


def add_alpha_table(folder: str, dataset: Any, say: Any, invocation_cost: float | None = None) -> dict[str, Any]:
    """Fit the bundle's α table on the dataset's held-out split with the device runtime, store it in the
    manifest, and return the manifest as written (``invocation_cost``: see :func:`calibrate_bundle`)."""
    bundle = load_bundle(folder)
    pre = Preprocessor(bundle.input, bundle.monolithic.inputs["x"].quantization)
    _, _, x_held, y_held = dataset.held_out_split()
    table = calibrate_bundle(folder, mapped_images(x_held, pre.from_pixels), y_held, invocation_cost=invocation_cost)
    say(f"α table: {len(table.points)} operating points on {len(y_held)} held-out images; "
        f"{describe_ends(table, parse_floor(bundle.header.accuracy_floor), bundle.full_macs)}")
    manifest = read_manifest(folder)
    warning = dearer_than_the_network(table, bundle.full_macs, manifest.get("calibration", {}).get("monolithic_accuracy"))
    if warning:
        say(warning)
    return manifest


def dearer_than_the_network(table: Any, full_macs: float, network_accuracy: float | None) -> str | None:
    """A warning when α = 0 (the table's most accurate point) costs at least the user's network in int8 and is
    less accurate than it on the same held-out images: such a bundle loses to the network it came from at α = 0."""
    dear = table.points[0]
    if table.cost != "macs" or full_macs <= 0 or dear.cost < full_macs or network_accuracy is None or \
            dear.expected_accuracy >= network_accuracy:
        return None
    return (f"warning: at α = 0 this bundle costs {dear.cost / full_macs:.1%} of your network's MACs and expects "
            f"{dear.expected_accuracy:.2%} against the network's {network_accuracy:.2%} in int8 on the same held-out "
            "images: up to the α where it is cheaper, the network alone is the better choice (more epochs or data, or "
            "a milder pruning or gating, may change that)")
