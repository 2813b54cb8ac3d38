"""The pruned family's α table: one threshold on the input classifier's HCI code, fitted on held-out data.

Each possible threshold is an operating point (inputs at or above it go to MP, the others are answered
by AP from the trunk's output). Expected errors use AP's and MP's error probabilities at each input's
HCI code (monotone fits with a prior, :func:`~edge_runtime.core.error_fit.isotonic_error`); the
frontier and α come from :mod:`edge_runtime.core.frontier`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ...core.error_fit import isotonic_error
from ...core.frontier import Candidate, build_table
from ...core.manifest import AlphaTable
from .manifest import NEVER
from .runtime import PrunedRuntime


@dataclass(frozen=True)
class RouteOutcomes:
    """For each of N inputs: the selector's HCI code, and whether AP and MP answer it correctly."""

    codes: np.ndarray  # (N,) int
    ap_correct: np.ndarray  # (N,) bool
    mp_correct: np.ndarray  # (N,) bool


def collect(runtime: PrunedRuntime, images: Sequence[np.ndarray], labels: np.ndarray) -> RouteOutcomes:
    scores = np.array([runtime.scores(image) for image in images])
    labels = np.asarray(labels)
    return RouteOutcomes(scores[:, 0], scores[:, 1] == labels, scores[:, 2] == labels)


def candidates(outcomes: RouteOutcomes, ap_cost: float, mp_cost: float, smooth: bool = True) -> list[Candidate]:
    """Every threshold that changes the routing: from all to MP (−128) to none (128)."""
    if smooth:
        # a higher HCI code says the input is harder: errors may only grow with it
        p_ap = isotonic_error(-outcomes.codes, ~outcomes.ap_correct)
        p_mp = isotonic_error(-outcomes.codes, ~outcomes.mp_correct)
    else:
        p_ap, p_mp = (~outcomes.ap_correct).astype(float), (~outcomes.mp_correct).astype(float)
    found = []
    for threshold in sorted({-128, NEVER, *outcomes.codes.tolist()}):
        to_mp = outcomes.codes >= threshold
        found.append(Candidate(float(np.where(to_mp, mp_cost, ap_cost).mean()), float(np.where(to_mp, p_mp, p_ap).sum()),
                               int(np.where(to_mp, outcomes.mp_correct, outcomes.ap_correct).sum()),
                               {"threshold_q": int(threshold)}))
    return found


def outcomes_for(runtime: PrunedRuntime, images: Sequence[np.ndarray], labels: np.ndarray) -> dict[str, np.ndarray]:
    """What the α table is fitted on, as arrays to keep with the bundle."""
    data = collect(runtime, images, labels)
    return {"codes": data.codes.astype(np.int16), "ap_correct": data.ap_correct, "mp_correct": data.mp_correct}


def table_from(runtime: PrunedRuntime, arrays: dict[str, np.ndarray], route_cost: tuple[float, float] | None = None
               ) -> AlphaTable:
    """The α table from stored outcomes; the cost of answering by AP and by MP is MACs, or ``route_cost`` (J)."""
    data = RouteOutcomes(arrays["codes"].astype(np.int64), arrays["ap_correct"].astype(bool),
                         arrays["mp_correct"].astype(bool))
    ap, mp = route_cost if route_cost is not None else (runtime.ap_macs, runtime.mp_macs)
    return build_table(candidates(data, ap, mp), len(data.codes), "macs" if route_cost is None else "joules",
                       search="every selector threshold, smoothed errors")


def hindsight(outcomes: RouteOutcomes, ap_cost: float, mp_cost: float, floor: float) -> dict[str, float] | None:
    """The least mean cost one threshold reaches on these outcomes while at least ``floor`` accurate."""
    n = len(outcomes.codes)
    ok = [c for c in candidates(outcomes, ap_cost, mp_cost, smooth=False) if c.correct >= np.ceil(floor * n - 1e-9)]
    if not ok:
        return None
    best = min(ok, key=lambda c: c.cost)
    return {"accuracy": best.correct / n, "mean_macs": best.cost, "threshold_q": best.setting["threshold_q"]}
