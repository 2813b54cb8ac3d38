"""The gated family's part of the manifest: the stem, each block's run and skip segments, the
gates' LSTM state width, the α table and the training figures.

The chain: stem → (run_i | skip_i) for each block → head, with the LSTM state (h, c) threaded
through every segment but the last.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ...core.manifest import ManifestHeader, Segment, require_segment, require_tensor
from ...schema import Reader, spec


@dataclass(frozen=True)
class GatedBlock:
    """One gated block: the segment that runs it (then the next gate or the head) and the one that
    skips it (its shortcut, then the same); ``energy`` is its share of eq. 2's modelled energy."""

    name: str
    run: str
    skip: str
    projection: bool
    macs: int
    energy: float


TABLE_INFINITY = 1e9  # JSON has no infinity: the α table writes ±1e9 for "every block" / "no block"


def table_delta(value: float) -> float:
    """A δ as read from the α table: ±∞ where the table says ±1e9 (or anything beyond ±1e8)."""
    return math.copysign(math.inf, value) if abs(value) >= TABLE_INFINITY / 10 else value


@dataclass(frozen=True)
class GatedAlphaTable:
    """Columns of the α table written at conversion: α → the gates' logit threshold δ."""

    alpha: tuple[float, ...]
    delta: tuple[float, ...]
    blocks_run: tuple[float, ...] = ()
    accuracy: tuple[float, ...] = ()
    mean_macs: tuple[float, ...] = ()

    def validate(self, reader: Reader, where: str) -> None:
        if not self.alpha or len(self.alpha) != len(self.delta) or list(self.alpha) != sorted(self.alpha) \
                or not all(0 <= a <= 1 for a in self.alpha):
            raise reader.fail(where, "expected ascending alpha in [0, 1] and one delta per alpha")


@dataclass(frozen=True)
class GatedSpec:
    stem: str
    blocks: tuple[GatedBlock, ...] = spec("a non-empty list of blocks", check=lambda v: len(v) > 0)
    state_width: int = spec("a positive integer", check=lambda v: v > 0)
    alpha_table: GatedAlphaTable = spec()
    figures: dict[str, Any] = spec(rest=True, default_factory=dict)


@dataclass(frozen=True)
class GatedPart:
    """The keys a gated manifest adds to the header."""

    gated: GatedSpec
    calibration: dict[str, Any] = spec(default_factory=dict)

    def check(self, reader: Reader, header: ManifestHeader) -> None:
        spec_ = self.gated
        segments = header.segments
        state = (1, spec_.state_width)

        def need(seg: Segment, kind: str, name: str, shape: tuple[int, ...] | None = None) -> tuple[int, ...]:
            what = "LSTM state" if name in ("h", "c") else ""
            return require_tensor(reader, seg, kind, name, shape, what).shape  # type: ignore[arg-type]

        stem = require_segment(reader, segments, spec_.stem, "gated.stem", "a gate segment is missing")
        need(stem, "inputs", "x", header.input.image_shape)
        features = need(stem, "outputs", "features")
        for t in ("h", "c"):
            need(stem, "outputs", t, state)
        need(stem, "outputs", "logit", (1, 1))
        for i, block in enumerate(spec_.blocks):
            field = f"gated.blocks[{i}]"
            last = i == len(spec_.blocks) - 1
            run = require_segment(reader, segments, block.run, f"{field}.run", "a gate segment is missing")
            skip = require_segment(reader, segments, block.skip, f"{field}.skip", "a gate segment is missing")
            for seg in (run, skip):
                need(seg, "inputs", "x", features)
                for t in ("h", "c") if not last else ():
                    need(seg, "inputs", t, state)
            if last:
                for seg in (run, skip):
                    need(seg, "outputs", "probs", (1, len(header.labels)))
                    need(seg, "outputs", "confidence")
                break
            out = need(run, "outputs", "features")
            for seg in (run, skip):
                need(seg, "outputs", "logit", (1, 1))
                for t in ("h", "c"):
                    need(seg, "outputs", t, state)
            has_projection = "features" in skip.outputs
            if has_projection and skip.outputs["features"].shape != out:
                raise reader.fail(f"segments.{skip.name}.outputs", f"features must be {list(out)} like {run.name}'s")
            if not has_projection and out != features:
                raise reader.fail(f"{field}.skip", f"{block.name} changes the shape {list(features)} → {list(out)}, "
                                  "so its skip segment needs a projection (a features output)")
            if block.projection != has_projection:
                raise reader.fail(f"{field}.projection", f"says {block.projection}, but {skip.name} "
                                  f"{'has' if has_projection else 'has no'} features output")
            features = out
