"""``edge-convert edgetpu``: a bundle's segments as single-signature int8 files, co-compiled for the
Edge TPU, recorded in the manifest; the CPU segments stay, so the bundle still runs without a TPU.

Everything is written into a staging copy of the bundle and renamed into place at the end, so a
failed compile (or a missing compiler) leaves the bundle as it was.
"""

from __future__ import annotations

import os
import shutil
from typing import Any, Callable

import numpy as np

from edge_runtime.core.backends import load_backend
from edge_runtime.core.bundle import read_manifest
from edge_runtime.core.manifest import MANIFEST, EdgeTpuOperation, EdgeTpuPart, EdgeTpuSegment, Segment
from edge_runtime.registry import load_bundle
from edge_runtime.schema import dump

from ..common.bundle_writer import file_entry, staging_folder, write_json
from ..common.errors import ConvertError
from .compiler import compile_models, find_compiler
from .split import split_signatures

PREFIX = "tpu_"


def source_name(segment: str) -> str:
    return f"{PREFIX}{segment}.tflite"


def export_edgetpu(bundle_path: str, out: str | None = None, force: bool = False,
                   say: Callable[[str], None] = lambda m: None) -> dict[str, Any]:
    """Export and compile every segment of ``bundle_path`` into ``out`` (default: the bundle, in place).

    Returns:
        A summary: compiler version and, per segment, ops on the TPU and the CPU and memory used.
    Raises:
        ConvertError: no compiler, a segment that cannot stand alone, a failed compile.
    """
    compiler = find_compiler()  # before any work: the commonest failure, with where to get it
    bundle = load_bundle(bundle_path)
    segments = ordered_segments(bundle)
    with staging_folder(out or bundle_path, force=out is None or force) as staging:
        manifest = copy_bundle(bundle_path, staging)
        sources, tensors = write_sources(bundle_path, segments, staging)
        say(f"wrote {len(sources)} single-signature files; compiling them together with edgetpu_compiler")
        version, compiled = compile_models(compiler, [os.path.join(staging, name) for name in sources.values()],
                                           staging)
        part = EdgeTpuPart(version, {})
        for name, source in sources.items():
            record = compiled[source]
            compiled_name = os.path.basename(record.output_model)
            part.segments[name] = EdgeTpuSegment(
                compiled_name, source, record.ops_tpu, record.ops_cpu, record.on_chip_bytes, record.off_chip_bytes,
                record.edgetpu_subgraphs, tuple(EdgeTpuOperation(*row) for row in record.operations),
                tensors[name])
            for file in (source, compiled_name):
                manifest["files"][file] = dump(file_entry(os.path.join(staging, file)))
        manifest["edgetpu"] = dump(part)
        write_json(os.path.join(staging, MANIFEST), manifest)
        load_bundle(staging)  # what the device will check, checked before the rename
    return {"bundle": os.path.abspath(out or bundle_path), "compiler": version,
            "segments": {name: {"ops_tpu": s.ops_tpu, "ops_cpu": s.ops_cpu, "on_chip_bytes": s.on_chip_bytes,
                                "off_chip_bytes": s.off_chip_bytes,
                                "cpu_operations": [dump(op) for op in s.cpu_operations]}
                         for name, s in part.segments.items()}}


def ordered_segments(bundle: Any) -> list[Segment]:
    """Compile order = who gets the TPU's parameter cache first: the segments in the manifest's order
    (earliest first: every input runs them), the monolithic model last."""
    mono = bundle.monolithic.name
    return [s for name, s in bundle.segments.items() if name != mono] + [bundle.segments[mono]]


def copy_bundle(bundle_path: str, staging: str) -> dict[str, Any]:
    """The bundle's manifest and files (without an earlier Edge TPU build) copied into ``staging``."""
    manifest = read_manifest(bundle_path)
    old = manifest.pop("edgetpu", None) or {}
    dropped = {f for s in old.get("segments", {}).values() for f in (s.get("file"), s.get("source"))}
    manifest["files"] = {name: entry for name, entry in manifest["files"].items() if name not in dropped}
    for name in manifest["files"]:
        shutil.copy2(os.path.join(bundle_path, name), os.path.join(staging, name))
    return manifest


def write_sources(bundle_path: str, segments: list[Segment], staging: str
                  ) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """(segment name → its single-signature file in ``staging``, checked against the manifest's tensors;
    segment name → its inputs' and outputs' tensor names)."""
    backend = load_backend()
    by_file: dict[str, dict[str, bytes]] = {}
    sources: dict[str, str] = {}
    tensors: dict[str, dict[str, str]] = {}
    for segment in segments:
        if segment.file not in by_file:
            path = os.path.join(bundle_path, segment.file)
            with open(path, "rb") as handle:
                by_file[segment.file] = split_signatures(handle.read(), path)
        models = by_file[segment.file]
        if segment.signature not in models:
            raise ConvertError(f"{segment.file}: has no signature {segment.signature!r} (segment {segment.name})")
        name = source_name(segment.name)
        path = os.path.join(staging, name)
        with open(path, "wb") as handle:
            handle.write(models[segment.signature])
        tensors[segment.name] = check_source(backend.make_interpreter(path, 1), path, segment)
        sources[segment.name] = name
    return sources, tensors


def check_source(interpreter: Any, path: str, segment: Segment) -> dict[str, str]:
    """The file has one signature whose int8 tensors are the segment's, as the manifest records them;
    returns the signature's input and output names → tensor names."""
    signatures = interpreter.get_signature_list()
    if list(signatures) != [segment.signature]:
        raise ConvertError(f"{path}: expected the one signature {segment.signature!r}, found {list(signatures)}")
    runner = interpreter.get_signature_runner(segment.signature)
    for kind, declared, actual in (("input", segment.inputs, runner.get_input_details()),
                                   ("output", segment.outputs, runner.get_output_details())):
        for name, spec in declared.items():
            detail = actual.get(name)
            if detail is None or tuple(detail["shape"]) != spec.shape or detail["dtype"] != np.int8:
                raise ConvertError(f"{path}: {kind} {name!r} is not int8{list(spec.shape)} as segment "
                                   f"{segment.name} declares")
    names = {d["index"]: d["name"] for d in interpreter.get_tensor_details()}
    io = runner.get_input_details() | runner.get_output_details()
    return {name: names[detail["index"]] for name, detail in io.items()}
