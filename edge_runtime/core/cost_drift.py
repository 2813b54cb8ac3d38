"""A free sign of drift: the answers' recent mean cost against the α table's expected cost at the same α.

Every answer's MACs are known without labels and without running anything more. On the held-out images the
table was fitted on, the plan at α costs what the table says; inputs unlike them change where the plan
stops (noise, low contrast, blur and a moved camera all lower the exits' confidence and send inputs
deeper). On the 28×28 bench bundle (``python -m tools.bench_audit B28 --dataset d28.npz``, its ``vs table``
column at α = 0 … 1, the last thousand or so of 10,000 test images): clean inputs cost 2–7% over the table,
sensor noise 65–93%, low contrast 159–305%, a moved camera 20–42%, blur 12–24%.

The audit (:mod:`edge_runtime.core.audit`) spends beyond its budget for a while when answers cost more than
the table says: the exits find the inputs harder than the held-out ones, the likeliest way for the promise
to break, and each audit has less of the network left to run.

Thread rules: a :class:`CostDrift` belongs to the inference thread.
"""

from __future__ import annotations

import math

HORIZON = 1000  # inputs: the recent mean is exponentially weighted over about this many
SHARE = 0.10  # a recent mean this far (relative) from the table's cost, ...
Z = 3.0  # ... and this many standard errors away, says the inputs are unlike the held-out ones
MIN_COUNT = 50  # effective answers before the standard error is trusted (a few equal costs have none)


class CostDrift:
    """The exponentially weighted recent mean of (answer cost, the table's expected cost), and whether they
    differ by more than :data:`SHARE` of the expected cost and :data:`Z` standard errors."""

    def __init__(self, horizon: int = HORIZON) -> None:
        self.decay = 1.0 - 1.0 / horizon
        self.weight = 0.0  # Σ w
        self.weight_sq = 0.0  # Σ w² (the effective count is weight² / weight_sq)
        self.cost = 0.0  # Σ w·cost
        self.cost_sq = 0.0  # Σ w·cost²
        self.expected = 0.0  # Σ w·expected cost

    def add(self, cost: float, expected: float | None) -> None:
        """One answer's MACs and the table's expected MACs at its α (None: not known; the answer is not counted)."""
        if expected is None:
            return
        d = self.decay
        self.weight = self.weight * d + 1.0
        self.weight_sq = self.weight_sq * d * d + 1.0
        self.cost = self.cost * d + cost
        self.cost_sq = self.cost_sq * d + cost * cost
        self.expected = self.expected * d + expected

    def ratio(self) -> float | None:
        """The recent mean cost ÷ the table's (None before any answer with an expected cost)."""
        if self.weight == 0.0 or self.expected <= 0.0:
            return None
        return self.cost / self.expected

    def direction(self) -> int:
        """+1 when the recent answers cost measurably more than the table expects, −1 measurably less, 0 neither
        (module docstring)."""
        if self.weight == 0.0 or self.expected <= 0.0 or self.weight ** 2 < MIN_COUNT * self.weight_sq:
            return 0
        mean, expected = self.cost / self.weight, self.expected / self.weight
        variance = max(self.cost_sq / self.weight - mean * mean, 0.0)
        standard_error = math.sqrt(variance * self.weight_sq) / self.weight
        gap = mean - expected
        if abs(gap) > SHARE * expected and abs(gap) > Z * standard_error:
            return 1 if gap > 0 else -1
        return 0
