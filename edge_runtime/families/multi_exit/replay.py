"""Which exit each input takes under per-exit confidence thresholds, replayed from every exit's outcome on it,
and what that costs: how the α table is fitted, and how a row's agreement with the monolithic network is
counted without running the row (on the held-out split, and on a board while ``--adapt`` runs every exit).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ...core.manifest import AlphaTable

Thresholds = tuple[float | None, ...]


@dataclass(frozen=True)
class ExitOutcomes:
    """Every exit's answer for each of N inputs: confidence (0–1, as its int8 code says), correctness, and
    whether it is the monolithic network's answer (None in outcomes stored before bundles kept it)."""

    confidences: np.ndarray  # (N, L) float
    correct: np.ndarray  # (N, L) bool
    agrees: np.ndarray | None = None  # (N, L) bool

    @property
    def n(self) -> int:
        return int(self.confidences.shape[0])


class StageCosts:
    """What answering at each exit costs for a set of exits that are on, from the stages' costs.

    Args:
        has_block: per exit, whether a block precedes its head (an exit on the image has none).
        stage_cost: (source exit or None, target exit) → the cost of that stage segment.
    """

    def __init__(self, has_block: Sequence[bool], stage_cost: dict[tuple[int | None, int], float]) -> None:
        self.has_block = tuple(has_block)
        self.stage_cost = stage_cost
        self._cache: dict[tuple[bool, ...], np.ndarray] = {}

    @classmethod
    def of(cls, runtime: Any, cost: dict[str, float] | None = None) -> "StageCosts":
        """From the bundle: MACs per segment, or ``cost`` (segment name → cost) when given."""
        segments = runtime.bundle.segments
        per = cost if cost is not None else {name: float(seg.macs) for name, seg in segments.items()}
        return cls([ex.has_block for ex in runtime.exits],
                   {key: per[stage.segment] for key, stage in runtime.part.stage_map.items()})

    def answer(self, active: tuple[bool, ...]) -> np.ndarray:
        """Cost of an input that answers at exit j (for each exit that is on; the last always is)."""
        found = self._cache.get(active)
        if found is None:
            last = len(self.has_block) - 1
            found = np.full(len(self.has_block), np.inf)
            spent, source = 0.0, None
            for j, block in enumerate(self.has_block):
                if active[j] or j == last:
                    spent += self.stage_cost[(source if block else None, j)]
                    found[j] = spent
                    if block:
                        source = j
            found = self._cache[active] = found
        return found


def active(thresholds: Thresholds) -> tuple[bool, ...]:
    return tuple(t is not None for t in thresholds) + (True,)


def simulate(thresholds: Thresholds, outcomes: ExitOutcomes, costs: StageCosts) -> tuple[np.ndarray, np.ndarray]:
    """(exit taken, cost) of each input under ``thresholds``."""
    last = outcomes.confidences.shape[1] - 1
    taken = np.full(outcomes.n, last)
    open_ = np.ones(outcomes.n, dtype=bool)
    for l, t in enumerate(thresholds):
        if t is None:
            continue
        fire = open_ & (outcomes.confidences[:, l] >= t)
        taken[fire] = l
        open_ &= ~fire
    return taken, costs.answer(active(thresholds))[taken]


def row_agreements(table: AlphaTable, outcomes: ExitOutcomes, costs: StageCosts) -> list[float]:
    """Each α-table row's agreement with the monolithic network on ``outcomes`` (which must carry ``agrees``)."""
    assert outcomes.agrees is not None
    rows = np.arange(outcomes.n)
    result = []
    for point in table.points:
        thresholds = tuple(None if t is None else float(t) for t in point.setting["thresholds"])
        taken, _ = simulate(thresholds, outcomes, costs)
        result.append(float(outcomes.agrees[rows, taken].mean()))
    return result
