"""The label-free audit: on a share of the inputs, the monolithic network runs too, and the runtime counts
how often its answer agrees with the one given, against the α table's held-out agreement (the promise).

A board never sees labels, so accuracy on drifted inputs cannot be known there; agreement with the full
network (the accuracy given up for energy) can. Audited inputs are spread evenly: a rate of 2% audits
one input at a random place in each block of 50 (seeded), so a periodic stream cannot hide from it.

Thread rules: one :class:`AgreementAudit` belongs to the inference thread; :meth:`snapshot` returns a
plain dict that other threads (``/metrics``, ``/health``) may read.
"""

from __future__ import annotations

import math
import random
from typing import Any

DEFAULT_AUDIT_RATE = 0.02
WILSON_Z = 1.96  # 95%
DEGRADED_POINTS = 1.0  # the interval's top more than this under the promise: degraded


def wilson_interval(agreed: int, audited: int, z: float = WILSON_Z) -> tuple[float, float]:
    """The Wilson score interval of ``agreed / audited`` ((0, 1) when nothing was audited)."""
    if audited <= 0:
        return 0.0, 1.0
    p = agreed / audited
    centre = p + z * z / (2 * audited)
    spread = z * math.sqrt(p * (1 - p) / audited + z * z / (4 * audited * audited))
    scale = 1 + z * z / audited
    return max(0.0, min(p, (centre - spread) / scale)), min(1.0, max(p, (centre + spread) / scale))


class AgreementAudit:
    """Which inputs to audit, and the running agreement with its interval.

    Args:
        rate: share of inputs audited, in [0, 1] (0: none).
    """

    def __init__(self, rate: float = DEFAULT_AUDIT_RATE, seed: int = 0) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"audit rate {rate}: expected a share in [0, 1]")
        self.rate = rate  # the rate asked for
        self.current_rate = rate  # the rate in force: higher while --adapt asks for evidence (set_rate)
        self._rng = random.Random(seed)
        self._seen = 0  # inputs offered to due()
        self._origin = 0  # the input the current rate's blocks count from
        self._block = 0  # which block of 1/current_rate inputs the next audit falls in
        self._next = self._draw()
        self.audited = 0
        self.agreed = 0
        self.promised_sum = 0.0  # Σ of the promise at each audited input's α (α may move under a battery)
        self.promised_count = 0

    def restart(self) -> None:
        """Forget the counts (the plan changed: the interval must be the new plan's); the spacing goes on."""
        self.audited = self.agreed = self.promised_count = 0
        self.promised_sum = 0.0

    def set_rate(self, rate: float) -> None:
        """Audit ``rate`` of the inputs from the next one on (the blocks start again there); ``self.rate`` is what
        was asked for, to return to."""
        if rate == self.current_rate:
            return
        self.current_rate = rate
        self._origin = self._seen
        self._block = 0
        self._next = self._draw()

    def _draw(self) -> float:
        """The index of the next audited input: one place drawn at random in the next block of 1/rate inputs."""
        if self.current_rate <= 0.0:
            return math.inf
        return self._origin + math.floor((self._block + self._rng.random()) / self.current_rate + 1e-9)

    def due(self) -> bool:
        """Whether the next input is audited (call once per input). Exactly one input in each block of 1/rate
        is audited, at a random place in it: evenly spread, yet never in step with a period in the inputs (a
        test set or a camera that cycles every 50 frames would otherwise show the audit the same input)."""
        index = self._seen
        self._seen += 1
        if index < self._next:
            return False
        self._block += 1
        self._next = self._draw()
        return True

    def record(self, agrees: bool, promise: float | None) -> None:
        """One audited input: whether the answer given agrees with the monolithic network's, and the table's
        agreement at the α it ran at (None: not known)."""
        self.audited += 1
        self.agreed += bool(agrees)
        if promise is not None:
            self.promised_sum += promise
            self.promised_count += 1

    def snapshot(self) -> dict[str, Any]:
        """The audit so far: ``audited``, ``agreement`` (estimate), ``low``/``high`` (95% Wilson), ``promise``
        (mean table agreement over the audited inputs), ``status`` (``ok``, ``degraded``: the whole interval
        more than a point under the promise, or ``unknown``)."""
        low, high = wilson_interval(self.agreed, self.audited)
        promise = self.promised_sum / self.promised_count if self.promised_count else None
        if not self.audited or promise is None:
            status = "unknown"
        elif high < promise - DEGRADED_POINTS / 100.0:
            status = "degraded"
        else:
            status = "ok"
        return {"rate": self.rate, "audited": self.audited, "agreed": self.agreed,
                "agreement": round(self.agreed / self.audited, 6) if self.audited else None,
                "low": round(low, 6), "high": round(high, 6),
                "promise": None if promise is None else round(promise, 6), "status": status}


def describe_audit(snapshot: dict[str, Any]) -> str:
    """One line for people: the audited agreement, its interval, the promise and the status."""
    if not snapshot["audited"]:
        return f"audit: nothing audited yet (rate {snapshot['rate']:g})"
    promise = "no promise in this bundle" if snapshot["promise"] is None else f"promised {snapshot['promise']:.2%}"
    return (f"audit: {snapshot['agreed']}/{snapshot['audited']} audited answers agree with the monolithic network "
            f"({snapshot['agreement']:.2%}, 95% interval {snapshot['low']:.2%}–{snapshot['high']:.2%}; {promise}): "
            f"{snapshot['status']}")
