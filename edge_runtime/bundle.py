"""Bundles: a folder with ``manifest.json`` and the ``.tflite`` files it lists.

:func:`load_bundle` checks everything a run needs before any inference: the schema and
format version, that every listed file is present with the recorded sha256, and that the
segments' shapes chain from the input through every exit. Problems raise
:class:`~edge_runtime.errors.BundleError` naming the file and the manifest field.

Manifest conventions (format version 1): every segment has one int8 input named ``x``;
outputs are named ``features`` (what the next segment takes), ``probs`` (an exit's
softmax) and ``confidence`` (its top probability, computed in the graph). ``stages`` lists
a segment for every (source exit, target exit) pair, so that a run merges the blocks of
exits that cannot fire into one invocation.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any

from .errors import BundleError
from .exit_rule import DEFAULT_BETA1, DEFAULT_BETA2, EnergyFit
from .quant import Quantization

FORMAT = "edge-adaptive-bundle"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
FAMILIES = ("multi_exit", "pruned", "gated")
COLOR_MODES = {"L": 1, "RGB": 3}
RESIZE_POLICIES = ("bilinear", "nearest", "refuse")


@dataclass(frozen=True)
class TensorSpec:
    """One int8 tensor of a segment: its signature name, shape and quantization."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    quantization: Quantization


@dataclass(frozen=True)
class Segment:
    """One signature of one model file.

    Attributes:
        macs: multiply-accumulates of one run (eq. 3/4, counted per layer).
        params: parameters stored for it.
        bytes_moved: activations and weights read and written by one run (memory term of the energy model).
    """

    name: str
    file: str
    signature: str
    inputs: dict[str, TensorSpec]
    outputs: dict[str, TensorSpec]
    macs: int
    params: int
    bytes_moved: int


@dataclass(frozen=True)
class ConfidenceCurve:
    """Held-out accuracy of an exit over the inputs whose confidence is ≥ each threshold (Merkel Fig. 8)."""

    thresholds: tuple[float, ...]
    accuracy: tuple[float, ...]
    coverage: tuple[float, ...]


@dataclass(frozen=True)
class ExitSpec:
    """One exit of a multi-exit network.

    Attributes:
        has_block: True when a backbone block precedes this exit's head (its output is the
            features later stages read); False for an exit on the input image itself.
        macs: cumulative MACs of a fixed-depth network ending at this exit.
        accuracy: held-out accuracy of the int8 exit, A_l of eq. 10.
    """

    name: str
    has_block: bool
    macs: int
    accuracy: float
    float_accuracy: float
    curve: ConfidenceCurve


@dataclass(frozen=True)
class Stage:
    """A segment that reads the features after exit ``source`` (None: the image), runs every
    block up to exit ``target`` and that exit's head. Stages exist for every pair, so a run
    needs one invocation per exit that can fire."""

    segment: str
    source: int | None
    target: int


@dataclass(frozen=True)
class InputSpec:
    """How to turn an image file into the model's input: real = pixel·pixel_scale + pixel_offset."""

    height: int
    width: int
    channels: int
    color_mode: str
    pixel_scale: float
    pixel_offset: float
    resize: str


@dataclass(frozen=True)
class AlphaRow:
    """One calibrated operating point of a pruned bundle: α → the ICNN's HCI threshold (int8 code;
    128 = never HCI), with the held-out HCI fraction and accuracy it gave."""

    alpha: float
    threshold_q: int
    hci_fraction: float
    accuracy: float


@dataclass(frozen=True)
class PrunedSpec:
    """The pruned family's graph: which segment is the shared trunk, each head, and MP; plus the
    α table and the converter's figures (Maleki et al.'s Table 2 and the φ_AP sweep)."""

    trunk: str
    ap_head: str
    icnn_head: str
    mp: str
    alpha_table: tuple[AlphaRow, ...]
    figures: dict[str, Any]
    selector: str | None = None  # trunk + both heads fused, when the bundle has it


@dataclass(frozen=True)
class GatedBlock:
    """One gated block: the segment that runs it (then the next gate or the head) and the one that
    skips it (its shortcut, then the same)."""

    name: str
    run: str
    skip: str
    projection: bool
    macs: int
    energy: float


@dataclass(frozen=True)
class GatedSpec:
    """The gated family's graph and its α table (α → the gates' logit threshold δ)."""

    stem: str
    blocks: tuple[GatedBlock, ...]
    state_width: int
    alpha_table: tuple[tuple[float, float], ...]
    figures: dict[str, Any]


@dataclass(frozen=True)
class Bundle:
    """A verified bundle. ``path`` is its folder; everything else comes from the manifest."""

    path: str
    family: str
    labels: tuple[str, ...]
    input: InputSpec
    segments: dict[str, Segment]
    exits: tuple[ExitSpec, ...]
    stages: dict[tuple[int | None, int], Stage]
    monolithic: Segment
    energy_fit: EnergyFit | None
    beta1: float
    beta2: float
    calibration: dict[str, Any]
    manifest: dict[str, Any]
    pruned: "PrunedSpec | None" = None
    gated: "GatedSpec | None" = None

    @functools.cached_property
    def stages_by_segment(self) -> dict[str, Stage]:
        return {stage.segment: stage for stage in self.stages.values()}

    def file_path(self, name: str) -> str:
        return os.path.join(self.path, name)

    @property
    def full_macs(self) -> int:
        """MACs of the network run to its last exit as one model."""
        return self.monolithic.macs


class _Reader:
    """Typed access to manifest fields; every failure names the dotted field path."""

    def __init__(self, path: str) -> None:
        self.path = path

    def fail(self, field: str, message: str) -> BundleError:
        return BundleError(self.path, message, field)

    def get(self, obj: Any, key: str, kind: type | tuple[type, ...], field: str, optional: bool = False) -> Any:
        if not isinstance(obj, dict):
            raise self.fail(field, f"expected an object, found {type(obj).__name__}")
        if key not in obj or (optional and obj[key] is None):
            if optional:
                return None
            raise self.fail(f"{field}.{key}" if field else key, "missing")
        value = obj[key]
        if kind in (int, float) or kind == (int, float):
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            if kind is int:
                ok = isinstance(value, int) and not isinstance(value, bool)
        else:
            ok = isinstance(value, kind)
        if not ok:
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise self.fail(f"{field}.{key}" if field else key, f"expected {names}, found {value!r}")
        return value


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _tensor(r: _Reader, raw: Any, field: str) -> TensorSpec:
    shape = r.get(raw, "shape", list, field)
    if not all(isinstance(d, int) and d > 0 for d in shape):
        raise r.fail(f"{field}.shape", f"expected positive integers, found {shape!r}")
    dtype = r.get(raw, "dtype", str, field)
    if dtype != "int8":
        raise r.fail(f"{field}.dtype", f"expected int8, found {dtype!r}")
    scale = float(r.get(raw, "scale", (int, float), field))
    if not scale > 0:
        raise r.fail(f"{field}.scale", f"expected a positive number, found {scale!r}")
    zero_point = r.get(raw, "zero_point", int, field)
    return TensorSpec(r.get(raw, "name", str, field), tuple(shape), dtype, Quantization(scale, zero_point))


def _segment(r: _Reader, name: str, raw: Any, files: dict[str, Any]) -> Segment:
    field = f"segments.{name}"
    file = r.get(raw, "file", str, field)
    if file not in files:
        raise r.fail(f"{field}.file", f"{file!r} is not listed in files")
    inputs = [_tensor(r, t, f"{field}.inputs[{i}]") for i, t in enumerate(r.get(raw, "inputs", list, field))]
    outputs = [_tensor(r, t, f"{field}.outputs[{i}]") for i, t in enumerate(r.get(raw, "outputs", list, field))]
    return Segment(
        name=name,
        file=file,
        signature=r.get(raw, "signature", str, field),
        inputs={t.name: t for t in inputs},
        outputs={t.name: t for t in outputs},
        macs=r.get(raw, "macs", int, field),
        params=r.get(raw, "params", int, field),
        bytes_moved=r.get(raw, "bytes_moved", int, field),
    )


def _check_files(r: _Reader, folder: str, files: dict[str, Any], verify_hashes: bool) -> None:
    for name, info in files.items():
        field = f"files.{name}"
        if os.path.basename(name) != name:
            raise r.fail(field, "expected a plain file name inside the bundle folder")
        path = os.path.join(folder, name)
        if not os.path.isfile(path):
            raise BundleError(path, "file listed in the manifest is missing", None)
        expected = r.get(info, "sha256", str, field)
        size = r.get(info, "bytes", int, field)
        actual_size = os.path.getsize(path)
        if actual_size != size:
            raise BundleError(path, f"is {actual_size} bytes, the manifest ({field}.bytes) says {size}: truncated or replaced")
        if verify_hashes and sha256_of(path) != expected:
            raise BundleError(path, f"sha256 differs from the manifest's {field}.sha256: the file is corrupt or was replaced")


def _input_spec(r: _Reader, raw: Any) -> InputSpec:
    mode = r.get(raw, "color_mode", str, "input")
    if mode not in COLOR_MODES:
        raise r.fail("input.color_mode", f"expected one of {', '.join(COLOR_MODES)}, found {mode!r}")
    resize = r.get(raw, "resize", str, "input")
    if resize not in RESIZE_POLICIES:
        raise r.fail("input.resize", f"expected one of {', '.join(RESIZE_POLICIES)}, found {resize!r}")
    spec = InputSpec(
        height=r.get(raw, "height", int, "input"),
        width=r.get(raw, "width", int, "input"),
        channels=r.get(raw, "channels", int, "input"),
        color_mode=mode,
        pixel_scale=float(r.get(raw, "pixel_scale", (int, float), "input")),
        pixel_offset=float(r.get(raw, "pixel_offset", (int, float), "input")),
        resize=resize,
    )
    if COLOR_MODES[mode] != spec.channels:
        raise r.fail("input.channels", f"expected {COLOR_MODES[mode]} for color_mode {mode}, found {spec.channels}")
    return spec


def _curve(r: _Reader, raw: Any, field: str) -> ConfidenceCurve:
    thresholds = r.get(raw, "thresholds", list, field)
    accuracy = r.get(raw, "accuracy", list, field)
    coverage = r.get(raw, "coverage", list, field)
    if not len(thresholds) == len(accuracy) == len(coverage):
        raise r.fail(field, "thresholds, accuracy and coverage must have the same length")
    return ConfidenceCurve(tuple(map(float, thresholds)), tuple(map(float, accuracy)), tuple(map(float, coverage)))


def _check_chain(r: _Reader, spec: InputSpec, segments: dict[str, Segment], exits: list[ExitSpec],
                 stages: dict[tuple[int | None, int], Stage], monolithic: Segment, n_labels: int) -> None:
    image_shape = (1, spec.height, spec.width, spec.channels)
    block_exits = [i for i, ex in enumerate(exits) if ex.has_block]
    if not block_exits or block_exits[-1] != len(exits) - 1:
        raise r.fail("exits", "the last exit must follow a block of the network")
    features: dict[int, tuple[int, ...]] = {}
    needed = [(None, i) for i, ex in enumerate(exits) if not ex.has_block]
    for position, target in enumerate(block_exits):
        needed += [(source, target) for source in [None] + block_exits[:position]]
    for source, target in needed:
        key = f"stage {source if source is not None else 'image'}→{target}"
        if (source, target) not in stages:
            raise r.fail("stages", f"missing the {key} (from {'the image' if source is None else exits[source].name} "
                          f"to {exits[target].name})")
        stage = stages[(source, target)]
        if stage.segment not in segments:
            raise r.fail("stages", f"{key}: segment {stage.segment!r} is not in segments")
        seg = segments[stage.segment]
        if "x" not in seg.inputs:
            raise r.fail(f"segments.{seg.name}.inputs", "expected one input named 'x'")
        want = image_shape if source is None else features[source]
        if seg.inputs["x"].shape != want:
            origin = "the image" if source is None else f"{exits[source].name}'s features"
            raise r.fail(f"segments.{seg.name}.inputs[0].shape",
                         f"{list(seg.inputs['x'].shape)} does not chain: {origin} are {list(want)}")
        for name in ("probs", "confidence"):
            if name not in seg.outputs:
                raise r.fail(f"segments.{seg.name}.outputs", f"a stage needs an output named {name!r}")
        if seg.outputs["probs"].shape[-1] != n_labels:
            raise r.fail(f"segments.{seg.name}.outputs",
                         f"probs has {seg.outputs['probs'].shape[-1]} classes, labels has {n_labels}")
        if target != block_exits[-1] and exits[target].has_block:
            if "features" not in seg.outputs:
                raise r.fail(f"segments.{seg.name}.outputs", "a stage before the last exit needs an output 'features'")
            shape = seg.outputs["features"].shape
            if features.setdefault(target, shape) != shape:
                raise r.fail(f"segments.{seg.name}.outputs", f"features {list(shape)} differ from other stages "
                             f"ending at {exits[target].name} ({list(features[target])})")
    if "x" not in monolithic.inputs or monolithic.inputs["x"].shape != image_shape:
        raise r.fail("monolithic", f"its input must be the image, shape {list(image_shape)}")
    if "probs" not in monolithic.outputs or monolithic.outputs["probs"].shape[-1] != n_labels:
        raise r.fail("monolithic", f"needs an output 'probs' with {n_labels} classes")


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


def load_bundle(folder: str, verify_hashes: bool = True) -> Bundle:
    """Read and verify the bundle in ``folder``.

    Raises:
        BundleError: naming the file and manifest field of the first problem found.
    """
    manifest = read_manifest(folder)
    r = _Reader(os.path.join(folder, MANIFEST))
    fmt = r.get(manifest, "format", str, "")
    if fmt != FORMAT:
        raise r.fail("format", f"expected {FORMAT!r}, found {fmt!r}")
    version = r.get(manifest, "format_version", int, "")
    if version != FORMAT_VERSION:
        raise r.fail("format_version", f"this runtime reads version {FORMAT_VERSION}, the bundle is version {version}: "
                     "convert it again with a matching edge-convert")
    family = r.get(manifest, "family", str, "")
    if family not in FAMILIES:
        raise r.fail("family", f"expected one of {', '.join(FAMILIES)}, found {family!r}")
    files = r.get(manifest, "files", dict, "")
    _check_files(r, folder, files, verify_hashes)
    labels = r.get(manifest, "labels", list, "")
    if not labels or not all(isinstance(label, str) for label in labels):
        raise r.fail("labels", "expected a non-empty list of strings")
    spec = _input_spec(r, r.get(manifest, "input", dict, ""))
    raw_segments = r.get(manifest, "segments", dict, "")
    segments = {name: _segment(r, name, raw, files) for name, raw in raw_segments.items()}
    mono_name = r.get(r.get(manifest, "monolithic", dict, ""), "segment", str, "monolithic")
    if mono_name not in segments:
        raise r.fail("monolithic.segment", f"segment {mono_name!r} is not in segments")
    calibration = r.get(manifest, "calibration", dict, "")
    if family == "gated":
        gated = _gated_spec(r, r.get(manifest, "gated", dict, ""), segments, spec, len(labels))
        return Bundle(path=folder, family=family, labels=tuple(labels), input=spec, segments=segments, exits=(),
                      stages={}, monolithic=segments[mono_name], energy_fit=None, beta1=DEFAULT_BETA1,
                      beta2=DEFAULT_BETA2, calibration=calibration, manifest=manifest, gated=gated)
    if family == "pruned":
        pruned = _pruned_spec(r, r.get(manifest, "pruned", dict, ""), segments, spec, len(labels))
        return Bundle(path=folder, family=family, labels=tuple(labels), input=spec, segments=segments, exits=(),
                      stages={}, monolithic=segments[mono_name], energy_fit=None, beta1=DEFAULT_BETA1,
                      beta2=DEFAULT_BETA2, calibration=calibration, manifest=manifest, pruned=pruned)
    exits = []
    for i, raw in enumerate(r.get(manifest, "exits", list, "")):
        field = f"exits[{i}]"
        accuracy = float(r.get(raw, "accuracy", (int, float), field))
        if not 0 <= accuracy <= 1:
            raise r.fail(f"{field}.accuracy", f"expected a number in [0, 1], found {accuracy}")
        exits.append(ExitSpec(
            name=r.get(raw, "name", str, field),
            has_block=r.get(raw, "has_block", bool, field),
            macs=r.get(raw, "macs", int, field),
            accuracy=accuracy,
            float_accuracy=float(r.get(raw, "float_accuracy", (int, float), field)),
            curve=_curve(r, r.get(raw, "confidence_curve", dict, field), f"{field}.confidence_curve"),
        ))
    if not exits:
        raise r.fail("exits", "expected at least one exit")
    stages: dict[tuple[int | None, int], Stage] = {}
    for i, raw in enumerate(r.get(manifest, "stages", list, "")):
        field = f"stages[{i}]"
        source = r.get(raw, "source", int, field, optional=True)
        target = r.get(raw, "target", int, field)
        for name, value in (("source", source), ("target", target)):
            if value is not None and not 0 <= value < len(exits):
                raise r.fail(f"{field}.{name}", f"expected an exit index in [0, {len(exits) - 1}], found {value}")
        if source is not None and source >= target:
            raise r.fail(field, f"source {source} must come before target {target}")
        stages[(source, target)] = Stage(r.get(raw, "segment", str, field), source, target)
    _check_chain(r, spec, segments, exits, stages, segments[mono_name], len(labels))
    fit_raw = r.get(calibration, "energy_fit", dict, "calibration", optional=True)
    fit = None
    if fit_raw is not None:
        fit = EnergyFit(a=float(r.get(fit_raw, "a", (int, float), "calibration.energy_fit")),
                        b=float(r.get(fit_raw, "b", (int, float), "calibration.energy_fit")))
    beta1 = float(calibration.get("beta1", DEFAULT_BETA1))
    beta2 = float(calibration.get("beta2", DEFAULT_BETA2))
    return Bundle(
        path=folder, family=family, labels=tuple(labels), input=spec, segments=segments, exits=tuple(exits),
        stages=stages, monolithic=segments[mono_name], energy_fit=fit, beta1=beta1, beta2=beta2, calibration=calibration,
        manifest=manifest,
    )


def _pruned_spec(r: _Reader, raw: dict[str, Any], segments: dict[str, Segment], spec: InputSpec,
                 num_labels: int) -> PrunedSpec:
    """Check the pruned family's graph: image → trunk → (ICNN head, AP head); image → MP."""
    names = {}
    for role in ("trunk", "ap_head", "icnn_head", "mp"):
        name = r.get(raw, role, str, "pruned")
        if name not in segments:
            raise r.fail(f"pruned.{role}", f"segment {name!r} is not in segments")
        names[role] = name
    image = (1, spec.height, spec.width, spec.channels)

    def tensor(role: str, kind: str, tname: str) -> TensorSpec:
        seg = segments[names[role]]
        table = seg.inputs if kind == "inputs" else seg.outputs
        if tname not in table:
            raise r.fail(f"segments.{seg.name}.{kind}", f"expected a tensor named {tname!r}")
        return table[tname]

    for role in ("trunk", "mp"):
        if tensor(role, "inputs", "x").shape != image:
            raise r.fail(f"segments.{names[role]}.inputs", f"x must be {list(image)}, the input spec's shape")
    features = tensor("trunk", "outputs", "features").shape
    for role in ("ap_head", "icnn_head"):
        if tensor(role, "inputs", "x").shape != features:
            raise r.fail(f"segments.{names[role]}.inputs", f"x must be {list(features)}, the trunk's features")
    for role in ("ap_head", "mp"):
        if tensor(role, "outputs", "probs").shape != (1, num_labels):
            raise r.fail(f"segments.{names[role]}.outputs", f"probs must be [1, {num_labels}] (one per label)")
    if tensor("icnn_head", "outputs", "probs").shape != (1, 2):
        raise r.fail(f"segments.{names['icnn_head']}.outputs", "probs must be [1, 2] (LCI, HCI)")
    table = r.get(raw, "alpha_table", dict, "pruned")
    columns = {key: r.get(table, key, list, "pruned.alpha_table") for key in
               ("alpha", "threshold_q", "hci_fraction", "accuracy")}
    lengths = {len(v) for v in columns.values()}
    if len(lengths) != 1 or not columns["alpha"]:
        raise r.fail("pruned.alpha_table", "expected equally long, non-empty lists alpha, threshold_q, hci_fraction, "
                     "accuracy")
    rows = tuple(AlphaRow(float(a), int(q), float(h), float(acc)) for a, q, h, acc in
                 zip(columns["alpha"], columns["threshold_q"], columns["hci_fraction"], columns["accuracy"]))
    if any(not 0 <= row.alpha <= 1 for row in rows) or list(row.alpha for row in rows) != sorted(row.alpha for row in rows):
        raise r.fail("pruned.alpha_table.alpha", "expected ascending values in [0, 1]")
    if any(not -128 <= row.threshold_q <= 128 for row in rows):
        raise r.fail("pruned.alpha_table.threshold_q", "expected int8 codes in [-128, 128] (128: never HCI)")
    selector = r.get(raw, "selector", str, "pruned", optional=True)
    if selector is not None:
        if selector not in segments:
            raise r.fail("pruned.selector", f"segment {selector!r} is not in segments")
        outputs = segments[selector].outputs
        if set(outputs) != {"hci", "probs", "confidence"} or outputs["hci"].shape != (1, 2) \
                or outputs["probs"].shape != (1, num_labels):
            raise r.fail(f"segments.{selector}.outputs", f"expected hci [1, 2], probs [1, {num_labels}] and confidence")
        if "x" not in segments[selector].inputs or segments[selector].inputs["x"].shape != image:
            raise r.fail(f"segments.{selector}.inputs", f"x must be {list(image)}, the input spec's shape")
    figures = {k: v for k, v in raw.items() if k not in ("trunk", "ap_head", "icnn_head", "mp", "selector",
                                                          "alpha_table")}
    return PrunedSpec(names["trunk"], names["ap_head"], names["icnn_head"], names["mp"], rows, figures, selector)


def _gated_spec(r: _Reader, raw: dict[str, Any], segments: dict[str, Segment], spec: InputSpec,
                num_labels: int) -> GatedSpec:
    """Check the gated family's chain: stem → (run_i | skip_i) for each block → head, with the LSTM
    state (h, c) threaded through every segment."""
    width = r.get(raw, "state_width", int, "gated")
    state = (1, width)

    def segment(name: str, field: str) -> Segment:
        if name not in segments:
            raise r.fail(field, f"segment {name!r} is not in segments (a gate segment is missing)")
        return segments[name]

    def need(seg: Segment, kind: str, tname: str, shape: tuple[int, ...] | None = None) -> TensorSpec:
        table = seg.inputs if kind == "inputs" else seg.outputs
        field = f"segments.{seg.name}.{kind}"
        if tname not in table:
            raise r.fail(field, f"expected a tensor named {tname!r}")
        if shape is not None and table[tname].shape != shape:
            what = "LSTM state" if tname in ("h", "c") else tname
            raise r.fail(field, f"{tname} ({what}) must be {list(shape)}, found {list(table[tname].shape)}")
        return table[tname]

    stem = segment(r.get(raw, "stem", str, "gated"), "gated.stem")
    need(stem, "inputs", "x", (1, spec.height, spec.width, spec.channels))
    features = need(stem, "outputs", "features").shape
    for t in ("h", "c"):
        need(stem, "outputs", t, state)
    need(stem, "outputs", "logit", (1, 1))
    raw_blocks = r.get(raw, "blocks", list, "gated")
    if not raw_blocks:
        raise r.fail("gated.blocks", "expected at least one block")
    blocks = []
    for i, b in enumerate(raw_blocks):
        field = f"gated.blocks[{i}]"
        block = GatedBlock(r.get(b, "name", str, field), r.get(b, "run", str, field), r.get(b, "skip", str, field),
                           r.get(b, "projection", bool, field), r.get(b, "macs", int, field),
                           float(r.get(b, "energy", (int, float), field)))
        last = i == len(raw_blocks) - 1
        run, skip = segment(block.run, f"{field}.run"), segment(block.skip, f"{field}.skip")
        for seg in (run, skip):
            need(seg, "inputs", "x", features)
            for t in ("h", "c") if not last else ():
                need(seg, "inputs", t, state)
        out = features if last else need(run, "outputs", "features").shape
        if not last:
            for seg in (run, skip):
                need(seg, "outputs", "logit", (1, 1))
                for t in ("h", "c"):
                    need(seg, "outputs", t, state)
            if "features" in skip.outputs:
                if skip.outputs["features"].shape != out:
                    raise r.fail(f"segments.{skip.name}.outputs", f"features must be {list(out)} like {run.name}'s")
            elif out != features:
                raise r.fail(f"{field}.skip", f"{block.name} changes the shape {list(features)} → {list(out)}, so its "
                             f"skip segment needs a projection (a features output)")
            if block.projection != ("features" in skip.outputs):
                raise r.fail(f"{field}.projection", f"says {block.projection}, but {skip.name} "
                             f"{'has' if 'features' in skip.outputs else 'has no'} features output")
        else:
            for seg in (run, skip):
                need(seg, "outputs", "probs", (1, num_labels))
                need(seg, "outputs", "confidence")
        blocks.append(block)
        features = out
    table = r.get(raw, "alpha_table", dict, "gated")
    alphas = r.get(table, "alpha", list, "gated.alpha_table")
    deltas = r.get(table, "delta", list, "gated.alpha_table")
    if not alphas or len(alphas) != len(deltas) or alphas != sorted(alphas) or not all(0 <= a <= 1 for a in alphas):
        raise r.fail("gated.alpha_table", "expected ascending alpha in [0, 1] and one delta per alpha")
    figures = {k: v for k, v in raw.items() if k not in ("stem", "blocks", "alpha_table", "state_width")}
    figures["alpha_table"] = table
    return GatedSpec(stem.name, tuple(blocks), width, tuple((float(a), float(d)) for a, d in zip(alphas, deltas)),
                     figures)
