"""α as a knob: operating points on held-out data, their accuracy–energy frontier, and α along it.

One meaning of α for every family (see the README, "α"):

* α = 0 is the most accurate operating point the bundle has, at the least energy that reaches it:
  points whose expected held-out errors are within :data:`TIE_ERRORS` inputs of the fewest count
  as equally accurate, and the cheapest of them is taken (no work that buys no accuracy);
* α = 1 is the cheapest operating point (the table's α: the runtime ends its α at the accuracy
  floor, :mod:`edge_runtime.core.floor`);
* in between, expected energy per input falls linearly with α, E(α) = E(0) − α·(E(0) − E(1)),
  and at each α the runtime uses the most accurate mix of operating points that costs E(α): the
  upper concave hull of (energy, accuracy), neighbouring hull points mixed input by input.

Why energy, linearly: a battery policy maps charge to α. With α linear in energy, a linear policy
(α proportional to the charge used) makes the power drawn at a given input rate fall linearly as
the charge is used, the same schedule for every bundle; with eq. 7 the map from α to energy is the
bundle's own (steep) fit, and a linear policy acts only in the last few percent of the charge.

Everything here is numpy on arrays of held-out outcomes; the families say what an operating point
is (:mod:`edge_runtime.families`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from .manifest import AlphaTable, OperatingPoint

TIE_ERRORS = 0.5  # expected held-out errors within which two operating points count as equally accurate


@dataclass(frozen=True)
class Candidate:
    """An operating point measured on held-out data.

    Attributes:
        cost: expected cost per input (MACs, or joules).
        errors: expected number of held-out errors (smoothed where the family smooths).
        correct: held-out inputs answered correctly (as counted).
        setting: what the family needs to build the plan (JSON-ready).
    """

    cost: float
    errors: float
    correct: int
    setting: Any


def most_accurate(candidates: Sequence[Candidate], tie: float = TIE_ERRORS) -> Candidate:
    """The cheapest candidate whose expected errors are within ``tie`` of the fewest."""
    fewest = min(c.errors for c in candidates)
    return min((c for c in candidates if c.errors <= fewest + tie), key=lambda c: (c.cost, c.errors))


def hull(candidates: Sequence[Candidate], tie: float = TIE_ERRORS) -> list[Candidate]:
    """The frontier from α = 0 (:func:`most_accurate`) down to the cheapest candidate, dear to cheap.

    It is the lower convex hull of (cost, errors) over the candidates that cost no more than the α = 0
    point: mixing two neighbours reaches any cost between them at the errors on the segment joining
    them, so a point above the hull is never worth using. Every cheaper candidate has more errors than
    the α = 0 point, so errors fall strictly along the hull as cost rises.
    """
    top = most_accurate(candidates, tie)
    pool = sorted((c for c in candidates if c.cost <= top.cost), key=lambda c: (c.cost, c.errors))
    chain: list[Candidate] = []
    for c in pool:
        if chain and c.cost == chain[-1].cost:
            continue  # the same cost with more errors
        while len(chain) >= 2 and _turn(chain[-2], chain[-1], c) <= 0:
            chain.pop()
        chain.append(c)
    return chain[::-1]


def _turn(a: Candidate, b: Candidate, c: Candidate) -> float:
    """> 0 when a → b → c turns left in (cost, errors): b lies below the segment a → c, a hull vertex."""
    return (b.cost - a.cost) * (c.errors - a.errors) - (b.errors - a.errors) * (c.cost - a.cost)


@dataclass(frozen=True)
class TablePoint:
    """A vertex of the frontier with the α at which it is used alone."""

    alpha: float
    cost: float
    accuracy: float  # held-out, as counted
    expected_accuracy: float  # 1 − expected errors ÷ held-out inputs
    setting: Any


def alpha_table(front: Sequence[Candidate], n_inputs: int) -> list[TablePoint]:
    """α of each frontier vertex: the fraction of the cost range E(0) − E(1) it saves."""
    dear, cheap = front[0].cost, front[-1].cost
    span = dear - cheap
    points = []
    for c in front:
        alpha = 0.0 if span <= 0 else (dear - c.cost) / span
        points.append(TablePoint(round(alpha, 6), c.cost, c.correct / n_inputs, 1.0 - c.errors / n_inputs, c.setting))
    if len(points) == 1:  # one operating point: α changes nothing
        only = points[0]
        points.append(TablePoint(1.0, only.cost, only.accuracy, only.expected_accuracy, only.setting))
    return points


def build_table(candidates: Sequence[Candidate], n_inputs: int, unit: str = "macs", tie: float = TIE_ERRORS,
                **figures: Any) -> AlphaTable:
    """The manifest's α table from a family's held-out candidates (frontier, then α along it)."""
    points = alpha_table(hull(candidates, tie), n_inputs)
    return AlphaTable(unit, n_inputs, tuple(OperatingPoint(p.alpha, round(float(p.cost), 3), round(p.accuracy, 6),
                                                           round(p.expected_accuracy, 6), p.setting) for p in points),
                      figures={"candidates": len(candidates), "tie_errors": tie, **figures})


def locate(alphas: Sequence[float], alpha: float) -> tuple[int, float]:
    """(i, share): α lies between table rows i and i + 1, ``share`` of the way to row i + 1 (0 ≤ share < 1)."""
    if alpha <= alphas[0]:
        return 0, 0.0
    if alpha >= alphas[-1]:
        return len(alphas) - 1, 0.0
    i = int(np.searchsorted(alphas, alpha, side="right")) - 1
    width = alphas[i + 1] - alphas[i]
    return i, 0.0 if width <= 0 else (alpha - alphas[i]) / width
