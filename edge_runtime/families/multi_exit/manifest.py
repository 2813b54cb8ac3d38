"""The multi-exit family's part of the manifest: exits, the stages that chain them, calibration.

``stages`` lists a segment for every (source exit, target exit) pair: it reads the features after
exit ``source`` (None: the image), runs every block up to exit ``target`` and that exit's head, so
a run merges the blocks of exits that cannot fire into one invocation.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from ...core.manifest import ManifestHeader, require_tensor
from ...schema import Reader, spec
from .exit_rule import DEFAULT_BETA1, DEFAULT_BETA2, EnergyFit


@dataclass(frozen=True)
class ConfidenceCurve:
    """Held-out accuracy of an exit over the inputs whose confidence is ≥ each threshold (Merkel Fig. 8)."""

    thresholds: tuple[float, ...]
    accuracy: tuple[float, ...]
    coverage: tuple[float, ...]

    def validate(self, reader: Reader, where: str) -> None:
        if not len(self.thresholds) == len(self.accuracy) == len(self.coverage):
            raise reader.fail(where, "thresholds, accuracy and coverage must have the same length")


@dataclass(frozen=True)
class ExitSpec:
    """One exit of a multi-exit network.

    Attributes:
        has_block: True when a backbone block precedes this exit's head (its output is the features
            later stages read); False for an exit on the input image itself.
        macs: MACs of a fixed-depth network ending at this exit.
        accuracy: held-out accuracy of the int8 exit, A_l of eq. 10.
    """

    name: str
    has_block: bool
    macs: int
    accuracy: float = spec("a number in [0, 1]", check=lambda v: 0 <= v <= 1)
    float_accuracy: float = spec()
    curve: ConfidenceCurve = spec(key="confidence_curve")


@dataclass(frozen=True)
class Stage:
    """A segment that reads the features after exit ``source`` (None: the image), runs every block up
    to exit ``target`` and that exit's head."""

    segment: str
    target: int
    source: int | None = None


@dataclass(frozen=True)
class MultiExitCalibration:
    """Eq. 7's energy–accuracy fit and eq. 10's β; the rest are held-out figures kept as written."""

    beta1: float = spec("a positive number", check=lambda v: v > 0, default=DEFAULT_BETA1)
    beta2: float = spec("a positive number", check=lambda v: v > 0, default=DEFAULT_BETA2)
    energy_fit: EnergyFit | None = spec(default=None)
    figures: dict[str, Any] = spec(rest=True, default_factory=dict)


@dataclass(frozen=True)
class MultiExitPart:
    """The keys a multi-exit manifest adds to the header."""

    exits: tuple[ExitSpec, ...] = spec("a non-empty list of exits", check=lambda v: len(v) > 0)
    stages: tuple[Stage, ...] = spec()
    calibration: MultiExitCalibration = spec(default_factory=MultiExitCalibration)

    @functools.cached_property
    def stage_map(self) -> dict[tuple[int | None, int], Stage]:
        return {(stage.source, stage.target): stage for stage in self.stages}

    @functools.cached_property
    def stages_by_segment(self) -> dict[str, Stage]:
        return {stage.segment: stage for stage in self.stages}

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(ex.name for ex in self.exits)

    def check(self, reader: Reader, header: ManifestHeader) -> None:
        """The stages chain from the image through every exit, with the shapes the labels need."""
        exits = self.exits
        for i, stage in enumerate(self.stages):
            for name, value in (("source", stage.source), ("target", stage.target)):
                if value is not None and not 0 <= value < len(exits):
                    raise reader.fail(f"stages[{i}].{name}", f"expected an exit index in [0, {len(exits) - 1}], "
                                      f"got {value}")
            if stage.source is not None and stage.source >= stage.target:
                raise reader.fail(f"stages[{i}]", f"source {stage.source} must come before target {stage.target}")
        segments = header.segments
        n_labels = len(header.labels)
        image_shape = header.input.image_shape
        block_exits = [i for i, ex in enumerate(exits) if ex.has_block]
        if not block_exits or block_exits[-1] != len(exits) - 1:
            raise reader.fail("exits", "the last exit must follow a block of the network")
        features: dict[int, tuple[int, ...]] = {}
        needed = [(None, i) for i, ex in enumerate(exits) if not ex.has_block]
        for position, target in enumerate(block_exits):
            needed += [(source, target) for source in [None] + block_exits[:position]]
        for source, target in needed:
            key = f"stage {source if source is not None else 'image'}→{target}"
            stage = self.stage_map.get((source, target))
            if stage is None:
                origin = "the image" if source is None else exits[source].name
                raise reader.fail("stages", f"missing the {key} (from {origin} to {exits[target].name})")
            if stage.segment not in segments:
                raise reader.fail("stages", f"{key}: segment {stage.segment!r} is not in segments")
            seg = segments[stage.segment]
            x = require_tensor(reader, seg, "inputs", "x")
            want = image_shape if source is None else features[source]
            if x.shape != want:
                origin = "the image" if source is None else f"{exits[source].name}'s features"
                raise reader.fail(f"segments.{seg.name}.inputs[0].shape",
                                  f"{list(x.shape)} does not chain: {origin} are {list(want)}")
            probs = require_tensor(reader, seg, "outputs", "probs")
            require_tensor(reader, seg, "outputs", "confidence")
            if probs.shape[-1] != n_labels:
                raise reader.fail(f"segments.{seg.name}.outputs",
                                  f"probs has {probs.shape[-1]} classes, labels has {n_labels}")
            if target != block_exits[-1] and exits[target].has_block:
                shape = require_tensor(reader, seg, "outputs", "features").shape
                if features.setdefault(target, shape) != shape:
                    raise reader.fail(f"segments.{seg.name}.outputs", f"features {list(shape)} differ from other "
                                      f"stages ending at {exits[target].name} ({list(features[target])})")
