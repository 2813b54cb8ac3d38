"""The multi-exit α table: per-exit confidence thresholds fitted on held-out data.

The operating points are threshold vectors (one confidence per exit but the last; an exit may be
off). They are found by a greedy descent from the full network to the cheapest exit: at each step,
over every exit and every lower threshold at once, the move that adds the fewest expected errors
per unit of energy saved (free moves, and moves that remove errors, first). Every step is an
operating point; the frontier and α come from :mod:`edge_runtime.core.frontier`.

Expected errors use each exit's error probability at its confidence (a logistic curve of held-out
correctness, corrected bin by bin where the data is plentiful:
:func:`~edge_runtime.core.error_fit.blended_error`), not the 0/1 count: on ~200 held-out images a raw
count lets a threshold sit just where one unlucky error was dodged. The same search with raw counts on
the test split itself gives the ``hindsight`` bound of ``eval``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ...core.error_fit import ErrorFit, blended_error
from ...core.frontier import Candidate, build_table
from ...core.manifest import AlphaTable
from ...core.timing import cpu_model
from .invocation import invocation_macs, invocation_timing
from .runtime import MultiExitRuntime

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


def collect(runtime: MultiExitRuntime, images: Sequence[np.ndarray], labels: np.ndarray) -> ExitOutcomes:
    """Run every exit's head on each image (the chain through every stage), and the monolithic network."""
    scores = [runtime.exit_scores(image) for image in images]
    predicted = np.array([s[0] for s in scores]).reshape(len(scores), len(runtime.exits))
    reference = np.array([runtime.classify_monolithic(image) for image in images], dtype=np.int64)
    return ExitOutcomes(np.array([s[1] for s in scores], dtype=np.float64).reshape(predicted.shape),
                        predicted == np.asarray(labels)[:, None], predicted == reference[:, None])


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
    def of(cls, runtime: MultiExitRuntime, cost: dict[str, float] | None = None) -> "StageCosts":
        """From the bundle: MACs per segment, or ``cost`` (segment name → cost) when given."""
        segments = runtime.bundle.segments
        per = cost if cost is not None else {name: float(seg.macs) for name, seg in segments.items()}
        return cls([ex.has_block for ex in runtime.exits],
                   {key: per[stage.segment] for key, stage in runtime.part.stage_map.items()})

    def charging(self, per_invocation: float) -> "StageCosts":
        """The same stages, each also charged ``per_invocation`` (what one more invocation costs beyond its
        MACs: :mod:`.invocation`)."""
        return StageCosts(self.has_block, {key: cost + per_invocation for key, cost in self.stage_cost.items()})

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


def _active(thresholds: Thresholds) -> tuple[bool, ...]:
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
    return taken, costs.answer(_active(thresholds))[taken]


def descend(outcomes: ExitOutcomes, costs: StageCosts, error: np.ndarray) -> list[Candidate]:
    """The greedy path from the last exit alone to the cheapest exit (see the module docstring).

    Args:
        error: (N, L) expected error of each exit's answer for each input (0/1 for raw counts).
    """
    n, n_exits = outcomes.confidences.shape
    last = n_exits - 1
    thresholds: list[float | None] = [None] * last
    taken = np.full(n, last)
    cost = np.full(n, costs.answer(_active(tuple(thresholds)))[last])
    rows = np.arange(n)

    def point() -> Candidate:
        return Candidate(float(cost.mean()), float(error[rows, taken].sum()),
                         int(outcomes.correct[rows, taken].sum()), {"thresholds": list(thresholds)})

    path = [point()]
    while True:
        best: tuple[float, float, int, float, np.ndarray, np.ndarray] | None = None
        for l in range(last):
            reach = np.flatnonzero(taken > l)
            if reach.size == 0:
                continue
            trial = list(thresholds)
            trial[l] = 0.0
            answer = costs.answer(_active(tuple(trial)))
            order = reach[np.argsort(-outcomes.confidences[reach, l], kind="stable")]
            conf = outcomes.confidences[order, l]
            stay = answer[taken[order]] - cost[order]  # the head of exit l, if it was off
            move = answer[l] - cost[order]
            saved = stay.sum() + np.cumsum(move - stay)  # ΔE of moving the first k + 1
            added = np.cumsum(error[order, l] - error[order, taken[order]])  # Δ errors
            boundary = np.r_[conf[1:] < conf[:-1], True]  # equal confidences move together
            ok = np.flatnonzero(boundary & (saved < 0))
            if ok.size == 0:
                continue
            ratio = added[ok] / -saved[ok]
            pick = np.lexsort((saved[ok], ratio))[0]  # fewest errors per unit saved, then the larger saving
            k = ok[pick]
            candidate = (float(ratio[pick]), float(saved[k]), l, float(conf[k]), order[:k + 1], order[k + 1:])
            if best is None or (candidate[0], candidate[1]) < (best[0], best[1]):
                best = candidate
        if best is None:
            break
        _, _, l, threshold, movers, stayers = best
        thresholds[l] = threshold
        answer = costs.answer(_active(tuple(thresholds)))
        cost[stayers] = answer[taken[stayers]]
        taken[movers] = l
        cost[movers] = answer[l]
        path.append(point())
    first = int(taken.min())
    if (taken == first).all() and first < last and thresholds[first] != 0.0:
        thresholds = [None] * first + [0.0] + [None] * (last - first - 1)  # it answers every input: always
        cost = np.full(n, costs.answer(_active(tuple(thresholds)))[first])
        always = point()
        path[-1 if always.cost >= path[-1].cost else len(path):] = [always]
    return path


def smoothed_errors(outcomes: ExitOutcomes, error_fit: ErrorFit = blended_error) -> np.ndarray:
    """(N, L) each exit's error probability at each input's confidence (see the module docstring)."""
    return np.stack([error_fit(outcomes.confidences[:, l], ~outcomes.correct[:, l])
                     for l in range(outcomes.confidences.shape[1])], axis=1)


def fit_table(outcomes: ExitOutcomes, costs: StageCosts, unit: str = "macs",
              error_fit: ErrorFit = blended_error, per_invocation: float = 0.0) -> AlphaTable:
    """The α table of a bundle from its held-out outcomes (``error_fit``: another error model, for comparisons).

    ``per_invocation`` (in the cost's unit) is charged to every invocation while the thresholds are chosen, so
    that an exit stays off unless the inputs it answers save more than its head and invocation cost everyone
    who reaches it; the rows then state their plain cost."""
    name = getattr(error_fit, "__name__", "custom").replace("_error", "").replace("_", "-")
    path = descend(outcomes, costs.charging(per_invocation) if per_invocation else costs,
                   smoothed_errors(outcomes, error_fit))
    search = f"greedy per-exit thresholds, {name} error fit"
    figures: dict[str, Any] = {}
    if per_invocation:
        path = [dataclasses.replace(c, cost=float(simulate(tuple(c.setting["thresholds"]), outcomes, costs)[1].mean()))
                for c in path]
        search += f", an invocation charged {per_invocation:,.0f} {unit}"
        figures["invocation_cost"] = round(per_invocation, 3)
    return build_table(path, outcomes.n, unit, search=search, **figures)


def outcomes_for(runtime: MultiExitRuntime, images: Sequence[np.ndarray], labels: np.ndarray) -> dict[str, np.ndarray]:
    """What the α table is fitted on, as arrays to keep with the bundle."""
    data = collect(runtime, images, labels)
    return {"confidences": data.confidences.astype(np.float32), "correct": data.correct, "agrees": data.agrees}


def _stored(arrays: dict[str, np.ndarray]) -> ExitOutcomes:
    agrees = arrays.get("agrees")
    return ExitOutcomes(arrays["confidences"].astype(np.float64), arrays["correct"].astype(bool),
                        None if agrees is None else agrees.astype(bool))


def agreements(runtime: MultiExitRuntime, table: AlphaTable, arrays: dict[str, np.ndarray]) -> list[float] | None:
    """Each row's agreement with the monolithic network on every stored held-out input, replayed from the
    outcomes (the exit each input takes under the row's thresholds, as the runtime's int8 comparison takes
    it: tested), or None for outcomes stored without the monolithic network's answers."""
    data = _stored(arrays)
    if data.agrees is None:
        return None
    costs = StageCosts.of(runtime)
    rows = np.arange(data.n)
    result = []
    for point in table.points:
        thresholds = tuple(None if t is None else float(t) for t in point.setting["thresholds"])
        taken, _ = simulate(thresholds, data, costs)
        result.append(float(data.agrees[rows, taken].mean()))
    return result


def table_from(runtime: MultiExitRuntime, arrays: dict[str, np.ndarray], segment_cost: dict[str, float] | None = None,
               invocation_cost: float | None = None) -> AlphaTable:
    """The α table from stored outcomes; the cost is MACs, each invocation charged ``invocation_cost`` MACs, by
    default what it takes on this machine (timed now: :mod:`.invocation`), or ``segment_cost`` (segment →
    joules, invocations included) when given."""
    if segment_cost is not None:
        return fit_table(_stored(arrays), StageCosts.of(runtime, segment_cost), "joules")
    if invocation_cost is not None:
        return fit_table(_stored(arrays), StageCosts.of(runtime), "macs", per_invocation=invocation_cost)
    timing = invocation_timing(runtime)
    table = fit_table(_stored(arrays), StageCosts.of(runtime), "macs", per_invocation=invocation_macs(timing))
    if timing is not None:
        table = dataclasses.replace(table, figures={**table.figures, "invocation_timing": {**timing,
                                                                                           "cpu": cpu_model()}})
    return table


def hindsight(outcomes: ExitOutcomes, costs: StageCosts, floor: float) -> dict[str, Any] | None:
    """The least mean cost per-exit thresholds reach on these outcomes while at least ``floor`` accurate.

    The same class of policy as the α table, fitted on the data it is scored on (so a bound, not an
    estimate): the raw-count greedy path, then coordinate descent on each threshold under the floor.
    """
    wrong = (~outcomes.correct).astype(float)
    need = int(np.ceil(floor * outcomes.n - 1e-9))
    path = [c for c in descend(outcomes, costs, wrong) if c.correct >= need]
    if not path:
        return None
    best = min(path, key=lambda c: c.cost)
    thresholds = list(best.setting["thresholds"])
    best_cost = best.cost
    improved = True
    while improved:
        improved = False
        for l in range(len(thresholds)):
            for value in [None, *np.unique(outcomes.confidences[:, l]).tolist()]:
                trial = list(thresholds)
                trial[l] = value
                taken, cost = simulate(tuple(trial), outcomes, costs)
                correct = int(outcomes.correct[np.arange(outcomes.n), taken].sum())
                if correct >= need and cost.mean() < best_cost - 1e-9:
                    thresholds, best_cost, improved = trial, float(cost.mean()), True
    taken, cost = simulate(tuple(thresholds), outcomes, costs)
    return {"accuracy": float(outcomes.correct[np.arange(outcomes.n), taken].mean()), "mean_macs": float(cost.mean()),
            "thresholds": thresholds}
