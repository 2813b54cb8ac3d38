"""The family-neutral part of a bundle's ``manifest.json``: one definition for writer and reader.

Format version 1. Every family's manifest starts with :class:`ManifestHeader` (format, producer,
labels, input spec, files with their hashes, segments with their tensors and costs, the
monolithic reference); the family's own keys (:mod:`edge_runtime.families`) sit beside it at the
top level. Segment conventions: each segment has one int8 input named ``x`` unless its family says
otherwise; outputs are named ``features`` (what the next segment reads), ``probs`` (a softmax) and
``confidence`` (its top probability, computed in the graph).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from ..schema import Reader, spec
from .floor import DEFAULT_FLOOR, FLOOR_FORMS, is_floor
from .quant import Quantization

FORMAT = "edge-adaptive-bundle"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
COLOR_MODES = {"L": 1, "RGB": 3}


def _positive_ints(shape: tuple[int, ...]) -> bool:
    return all(d > 0 for d in shape)


@dataclass(frozen=True)
class TensorSpec:
    """One int8 tensor of a segment: its signature name, shape and quantization (real = scale·(q − zero_point))."""

    name: str
    shape: tuple[int, ...] = spec("positive integers", check=_positive_ints)
    dtype: Literal["int8"] = spec()
    scale: float = spec("a positive number", check=lambda v: v > 0)
    zero_point: int = spec()

    @property
    def quantization(self) -> Quantization:
        return Quantization(self.scale, self.zero_point)


@dataclass(frozen=True)
class Segment:
    """One signature of one model file.

    Attributes:
        macs: multiply-accumulates of one run (eq. 3/4, counted per layer).
        params: parameters stored for it.
        bytes_moved: activations and weights read and written by one run (the memory term of the energy model).
    """

    name: str = spec(from_key=True)
    file: str = spec()
    signature: str = spec()
    inputs: dict[str, TensorSpec] = spec("a list of tensors", by_name=True)
    outputs: dict[str, TensorSpec] = spec("a list of tensors", by_name=True)
    macs: int = spec("a number of MACs ≥ 0", check=lambda v: v >= 0)
    params: int = spec()
    bytes_moved: int = spec()


@dataclass(frozen=True)
class InputSpec:
    """How to turn an image file into the model's input: real = pixel·pixel_scale + pixel_offset."""

    height: int = spec("a positive integer", check=lambda v: v > 0)
    width: int = spec("a positive integer", check=lambda v: v > 0)
    channels: int = spec()
    color_mode: Literal["L", "RGB"] = spec()
    pixel_scale: float = spec()
    pixel_offset: float = spec()
    resize: Literal["bilinear", "nearest", "refuse"] = spec()

    @property
    def image_shape(self) -> tuple[int, int, int, int]:
        """The int8 model input's shape, batch of one."""
        return (1, self.height, self.width, self.channels)

    def validate(self, reader: Reader, where: str) -> None:
        if COLOR_MODES[self.color_mode] != self.channels:
            raise reader.fail(f"{where}.channels", f"expected {COLOR_MODES[self.color_mode]} for color_mode "
                              f"{self.color_mode}, got {self.channels}")


@dataclass(frozen=True)
class FileEntry:
    """A model file of the bundle: its sha256 and size in bytes."""

    sha256: str = spec("a hex sha256 digest")
    bytes: int = spec("a size in bytes")


@dataclass(frozen=True)
class MonolithicRef:
    """The whole network as one model: the reference every saving is measured against."""

    segment: str


@dataclass(frozen=True)
class OperatingPoint:
    """A vertex of the bundle's accuracy–energy frontier on held-out data (see :mod:`.frontier`).

    Attributes:
        alpha: the α at which it is used alone; between two rows the runtime mixes them.
        cost: expected cost per input, in the table's unit.
        accuracy: held-out accuracy, as counted; expected_accuracy: as the fit estimates it.
        setting: what the family builds the plan from (exit thresholds, a selector or gate threshold).
        agreement: the share of held-out inputs on which this point answers what the monolithic network answers
            (what a board can check without labels; None in bundles made before it was measured).
    """

    alpha: float = spec("a number in [0, 1]", check=lambda v: 0 <= v <= 1)
    cost: float = spec("a cost ≥ 0", check=lambda v: v >= 0)
    accuracy: float = spec("a number in [0, 1]", check=lambda v: 0 <= v <= 1)
    expected_accuracy: float = spec()
    setting: dict[str, Any] = spec()
    agreement: float | None = spec("a number in [0, 1]", check=lambda v: v is None or 0 <= v <= 1, default=None)


@dataclass(frozen=True)
class AlphaTable:
    """α → operating point, for every family: α = 0 the most accurate point at the least energy that
    reaches it, α = 1 the cheapest, expected cost linear in α in between (``rule = "frontier"``); the runtime ends
    α at the header's ``accuracy_floor`` along it."""

    cost: Literal["macs", "joules"]
    held_out_samples: int
    points: tuple[OperatingPoint, ...] = spec("at least two operating points", check=lambda v: len(v) >= 2)
    rule: Literal["frontier"] = "frontier"
    figures: dict[str, Any] = spec(rest=True, default_factory=dict)

    def validate(self, reader: Reader, where: str) -> None:
        alphas = [p.alpha for p in self.points]
        if alphas[0] != 0.0 or alphas[-1] != 1.0 or alphas != sorted(alphas):
            raise reader.fail(f"{where}.points", "expected α ascending from 0 to 1")
        costs = [p.cost for p in self.points]
        if costs != sorted(costs, reverse=True):
            raise reader.fail(f"{where}.points", "expected costs falling as α rises")


@dataclass(frozen=True)
class EdgeTpuOperation:
    """One row of the Edge TPU compiler's operation table."""

    operator: str
    count: int
    status: str = spec('"Mapped to Edge TPU", or why the op stays on the CPU')


@dataclass(frozen=True)
class EdgeTpuSegment:
    """A segment compiled for the Edge TPU (``edge-convert edgetpu``).

    Attributes:
        file: the compiled single-signature model (``…_edgetpu.tflite``), listed in ``files``.
        source: the single-signature int8 model it was compiled from, listed in ``files``.
        ops_tpu, ops_cpu: operations the TPU runs and those left to the CPU.
        on_chip_bytes, off_chip_bytes: parameters cached on the TPU and streamed from the host, bytes.
        tensors: the signature's input and output names → their tensors' names, for a compiled file that
            kept no signature.
    """

    file: str
    source: str
    ops_tpu: int = spec("a number of operations ≥ 0", check=lambda v: v >= 0)
    ops_cpu: int = spec("a number of operations ≥ 0", check=lambda v: v >= 0)
    on_chip_bytes: int = spec()
    off_chip_bytes: int = spec()
    edgetpu_subgraphs: int = spec()
    operations: tuple[EdgeTpuOperation, ...] = spec(default=())
    tensors: dict[str, str] = spec("a table of input or output name → tensor name in the file", default_factory=dict)

    @property
    def cpu_operations(self) -> tuple[EdgeTpuOperation, ...]:
        return tuple(op for op in self.operations if op.status != "Mapped to Edge TPU")


@dataclass(frozen=True)
class EdgeTpuPart:
    """The bundle's Edge TPU build: the compiler's version and one compiled file per segment."""

    compiler: str
    segments: dict[str, EdgeTpuSegment] = spec()


@dataclass(frozen=True)
class FormatStamp:
    """What is read first, so a bundle of another format or version is named as such and nothing more."""

    format: str = spec(f'"{FORMAT}"')
    format_version: int = spec()
    family: str = spec("a model family")

    def validate(self, reader: Reader, where: str) -> None:
        if self.format != FORMAT:
            raise reader.fail("format", f"expected {FORMAT!r}, got {self.format!r}")
        if self.format_version != FORMAT_VERSION:
            raise reader.fail("format_version", f"this runtime reads version {FORMAT_VERSION}, the bundle is version "
                              f"{self.format_version}: convert it again with a matching edge-convert")


@dataclass(frozen=True)
class ManifestHeader:
    """Everything but the family's own keys."""

    format: str
    format_version: int
    family: str
    labels: tuple[str, ...] = spec("a non-empty list of strings", check=lambda v: len(v) > 0)
    input: InputSpec = spec()
    files: dict[str, FileEntry] = spec()
    segments: dict[str, Segment] = spec()
    monolithic: MonolithicRef = spec()
    producer: dict[str, Any] = spec(default_factory=dict)
    alpha_table: AlphaTable | None = spec(default=None)
    held_out: str | None = spec("the file of the held-out outcomes", default=None)
    edgetpu: EdgeTpuPart | None = spec(default=None)
    accuracy_floor: str = spec(FLOOR_FORMS, check=is_floor, default=DEFAULT_FLOOR)

    def validate(self, reader: Reader, where: str) -> None:
        for name in self.files:
            if "/" in name or "\\" in name or name in (".", ".."):
                raise reader.fail(f"files.{name}", "expected a plain file name inside the bundle folder")
        for segment in self.segments.values():
            if segment.file not in self.files:
                raise reader.fail(f"segments.{segment.name}.file", f"{segment.file!r} is not listed in files")
        if self.held_out is not None and self.held_out not in self.files:
            raise reader.fail("held_out", f"{self.held_out!r} is not listed in files")
        for name, compiled in (self.edgetpu.segments.items() if self.edgetpu else ()):
            if name not in self.segments:
                raise reader.fail(f"edgetpu.segments.{name}", f"segment {name!r} is not in segments")
            for key in ("file", "source"):
                if getattr(compiled, key) not in self.files:
                    raise reader.fail(f"edgetpu.segments.{name}.{key}", f"{getattr(compiled, key)!r} is not listed "
                                      "in files")
        if self.monolithic.segment not in self.segments:
            raise reader.fail("monolithic.segment", f"segment {self.monolithic.segment!r} is not in segments")
        mono = self.monolithic_segment
        if "x" not in mono.inputs or mono.inputs["x"].shape != self.input.image_shape:
            raise reader.fail("monolithic", f"its input must be the image, shape {list(self.input.image_shape)}")
        if "probs" not in mono.outputs or mono.outputs["probs"].shape[-1] != len(self.labels):
            raise reader.fail("monolithic", f"needs an output 'probs' with {len(self.labels)} classes")

    @property
    def monolithic_segment(self) -> Segment:
        return self.segments[self.monolithic.segment]


def require_segment(reader: Reader, segments: dict[str, Segment], name: str, where: str, why: str = "") -> Segment:
    """``segments[name]``, or an error naming ``where`` the missing segment was referenced (and ``why`` it matters)."""
    if name not in segments:
        raise reader.fail(where, f"segment {name!r} is not in segments{f' ({why})' if why else ''}")
    return segments[name]


def require_tensor(reader: Reader, segment: Segment, kind: Literal["inputs", "outputs"], name: str,
                   shape: tuple[int, ...] | None = None, what: str = "") -> TensorSpec:
    """A segment's input or output tensor ``name``, checked to have ``shape`` when given."""
    table = segment.inputs if kind == "inputs" else segment.outputs
    where = f"segments.{segment.name}.{kind}"
    if name not in table:
        raise reader.fail(where, f"expected a tensor named {name!r}{f' ({what})' if what else ''}")
    if shape is not None and table[name].shape != shape:
        raise reader.fail(where, f"{name}{f' ({what})' if what else ''} must be {list(shape)}, "
                          f"found {list(table[name].shape)}")
    return table[name]
