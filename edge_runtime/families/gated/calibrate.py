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


def outcomes_for(runtime: GatedRuntime, images: Sequence[np.ndarray], labels: np.ndarray) -> dict[str, np.ndarray]:
    """Each candidate threshold run on each held-out image: what the α table is fitted on, as arrays."""
    deltas = candidate_deltas(runtime, images)
    labels = np.asarray(labels)
    correct = np.zeros((len(deltas), len(labels)), dtype=bool)
    ran = np.zeros((len(deltas), len(labels), len(runtime.block_names)), dtype=bool)
    macs = np.zeros((len(deltas), len(labels)), dtype=np.int64)
    for i, delta in enumerate(deltas):
        plan = runtime.plan_for_delta(delta)
        for j, image in enumerate(images):
            decision = runtime.classify(image, plan)
            correct[i, j] = decision.label == labels[j]
            ran[i, j] = [name in decision.ran for name in runtime.block_names]
            macs[i, j] = decision.macs
    stored = np.array([math.copysign(TABLE_INFINITY, d) if math.isinf(d) else d for d in deltas])
    return {"deltas": stored, "correct": correct, "ran": ran, "macs": macs}


def candidates(arrays: dict[str, np.ndarray], block_cost: tuple[float, np.ndarray, float] | None = None
               ) -> list[Candidate]:
    """One candidate per stored threshold; the cost is MACs, or ``block_cost`` = (J with every block skipped,
    J added by running each block, J of the ungated network that answers when every block runs)."""
    found = []
    n = arrays["correct"].shape[1]
    for i, delta in enumerate(arrays["deltas"].tolist()):
        if block_cost is None:
            cost = float(arrays["macs"][i].mean())
        elif delta <= -TABLE_INFINITY / 10:
            cost = block_cost[2]
        else:
            cost = float(np.mean(block_cost[0] + arrays["ran"][i].astype(float) @ block_cost[1]))
        correct = int(arrays["correct"][i].sum())
        found.append(Candidate(cost, float(n - correct), correct, {"delta": float(delta)}))
    return found


def table_from(runtime: GatedRuntime, arrays: dict[str, np.ndarray],
               block_cost: tuple[float, np.ndarray, float] | None = None) -> AlphaTable:
    """The α table from stored outcomes (MACs, or joules with ``block_cost``)."""
    return build_table(candidates(arrays, block_cost), arrays["correct"].shape[1],
                       "macs" if block_cost is None else "joules",
                       search=f"gate threshold at {QUANTILES} held-out logit quantiles, counted errors")


def hindsight(arrays: dict[str, np.ndarray], floor: float) -> dict[str, float] | None:
    """The least mean MACs one gate threshold reaches on these outcomes while at least ``floor`` accurate."""
    n = arrays["correct"].shape[1]
    ok = [c for c in candidates(arrays) if c.correct >= np.ceil(floor * n - 1e-9)]
    if not ok:
        return None
    best = min(ok, key=lambda c: c.cost)
    return {"accuracy": best.correct / n, "mean_macs": best.cost, "delta": best.setting["delta"]}
