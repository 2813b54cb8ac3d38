"""The gated family's α table: one threshold δ on the gates' logits, fitted on held-out data.

Candidate thresholds are quantiles of the gate logits met on held-out images (plus every block and
no block); each is run through the int8 chain, since a gate's logit depends on the blocks before it.
Errors are counted; the frontier and α come from :mod:`edge_runtime.core.frontier`.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from ...core.frontier import Candidate, build_table
from ...core.manifest import AlphaTable
from .manifest import TABLE_INFINITY
from .runtime import GatedRuntime

QUANTILES = 48


def candidate_deltas(runtime: GatedRuntime, images: Sequence[np.ndarray]) -> list[float]:
    """−∞ (every block), the held-out logit quantiles, the trained 0, and +∞ (no block)."""
    trained = runtime.plan_for_delta(0.0)
    logits = np.array([v for image in images for v in runtime.trace(image, trained)["logits"]])
    quantiles = np.quantile(logits, np.linspace(0.0, 1.0, QUANTILES + 1)) if logits.size else np.array([])
    return [-math.inf, *sorted({0.0, *np.round(quantiles, 6).tolist()}), math.inf]


def candidates(runtime: GatedRuntime, images: Sequence[np.ndarray], labels: np.ndarray,
               deltas: Sequence[float]) -> list[Candidate]:
    labels = np.asarray(labels)
    found = []
    for delta in deltas:
        plan = runtime.plan_for_delta(delta)
        decisions = [runtime.classify(image, plan) for image in images]
        correct = int(np.sum(np.array([d.label for d in decisions]) == labels))
        stored = math.copysign(TABLE_INFINITY, delta) if math.isinf(delta) else delta
        found.append(Candidate(float(np.mean([d.macs for d in decisions])), float(len(labels) - correct), correct,
                               {"delta": stored}))
    return found


def table_for(runtime: GatedRuntime, images: Sequence[np.ndarray], labels: np.ndarray) -> AlphaTable:
    """The α table of ``runtime``'s bundle from held-out images (MACs as the cost)."""
    deltas = candidate_deltas(runtime, images)
    return build_table(candidates(runtime, images, labels, deltas), len(labels),
                       search=f"gate threshold at {QUANTILES} held-out logit quantiles, counted errors")


def hindsight(found: Sequence[Candidate], n: int, floor: float) -> dict[str, float] | None:
    """The least mean cost among ``found`` (candidates scored on the same inputs) at least ``floor`` accurate."""
    ok = [c for c in found if c.correct >= np.ceil(floor * n - 1e-9)]
    if not ok:
        return None
    best = min(ok, key=lambda c: c.cost)
    return {"accuracy": best.correct / n, "mean_macs": best.cost, "delta": best.setting["delta"]}
