"""The label-free audit: on a share of the inputs, the monolithic network runs too, and the runtime counts
how often its answer agrees with the one given, against the α table's held-out agreement (the promise).

A board never sees labels, so accuracy on drifted inputs cannot be known there; agreement with the full
network (the accuracy given up for energy) can. Audited inputs are spread evenly: a rate of 2% audits
one input at a random place in each block of 50 (seeded), so a periodic stream cannot hide from it.

The audit's cost is bounded by a budget, a share of the MACs spent on answers and audits together (default
1.5 × the rate: 3% at the default 2%; an audit of every input has no limit). An audit finishes the network
from the exit that answered, so where the plan answers early it costs many times the answer (a 2% rate
cost up to 16% of the 28×28 bench bundle's MACs at α = 1). A scheduled audit is skipped while one more audit
would take the audit's share past the budget, judged twice: on the recent spend (exponentially weighted over
about :data:`BUDGET_HORIZON` inputs, so credit saved where audits were cheap is not spent all at once where
they are dear) and on the whole run's spend (so what was spent beyond the budget is paid back).

Two kinds of audits go beyond the budget, because a broken promise must then be found fast and ``--adapt``
needs 10 to 100 audits to act:

* when the answers' recent cost rises measurably over the table's (:mod:`edge_runtime.core.cost_drift`: the
  exits find the inputs harder than the held-out ones), the next :data:`DRIFT_AUDITS` audits (again after
  each ``--adapt`` change, or once the sign has been gone for :data:`CALM_TO_REARM` scheduled inputs in a
  row: a sign that flickers at its threshold is one drift, not many);
* the faster audits of ``--adapt`` while the audited agreement itself looks low or a change is being checked,
  whatever the answers cost (a drift that fools the exits confidently leaves the cost as it was).

The run's total then pays them back: on a 60,000-input stream with one drift, the audit ends within one
audit of the budget (tested), where the recent spend alone forgot the drift's audits and ended at 3.9%.
Measured on the 28×28 bench bundle (``python -m tools.bench_audit``), with the README's figures. The choice
depends only on inputs already answered, never on the one at hand, so the audited inputs stay a fair
sample and the estimate unbiased; a cheap plan gets fewer audits and a wider interval.

Thread rules: one :class:`AgreementAudit` belongs to the inference thread; :meth:`snapshot` returns a
plain dict that other threads (``/metrics``, ``/health``) may read.
"""

from __future__ import annotations

import math
import random
from typing import Any, NamedTuple

from .cost_drift import CostDrift

DEFAULT_AUDIT_RATE = 0.02
BUDGET_PER_RATE = 1.5  # the default budget's multiple of the rate: 3% of the MACs for the default 2%
BUDGET_HORIZON = 5000  # inputs: the spend that the budget judges is weighted over about this many
BUDGET_DECAY = 1.0 - 1.0 / BUDGET_HORIZON  # per input
DRIFT_AUDITS = 50  # audits beyond the budget once answers cost more than the table says (--adapt acts on 10–50)
CALM_TO_REARM = 10  # scheduled inputs in a row without that sign before a new drift gets a new quota
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


class Checked(NamedTuple):
    """An audited input: the monolithic network's answer, whether the answer given agrees, the MACs it took."""

    reference: int
    agrees: bool
    macs: int


def default_budget(rate: float) -> float:
    """The audit's budget when none is given: :data:`BUDGET_PER_RATE` × ``rate``, at most 1 (no limit)."""
    return min(1.0, BUDGET_PER_RATE * rate)


class AgreementAudit:
    """Which inputs to audit, and the running agreement with its interval.

    Args:
        rate: share of inputs audited, in [0, 1] (0: none).
        budget: the audit's largest share of the MACs spent, in (0, 1] (1: no limit; None: :func:`default_budget`
            of the rate; module docstring).
    """

    def __init__(self, rate: float = DEFAULT_AUDIT_RATE, seed: int = 0, budget: float | None = None) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"audit rate {rate}: expected a share in [0, 1]")
        if budget is not None and not 0.0 < budget <= 1.0:
            raise ValueError(f"audit budget {budget}: expected a share in (0, 1]")
        self.rate = rate  # the rate asked for
        self.budget = default_budget(rate) if budget is None else budget
        self._answer_spend = 0.0  # MACs spent on answers, exponentially weighted over BUDGET_HORIZON inputs
        self._audit_spend = 0.0  # MACs spent on audits, weighted the same
        self._answer_total = 0.0  # MACs spent on answers since the audit began (not weighted): with _audit_macs,
        # the run's totals, from which what was spent beyond the budget is paid back
        self._audit_macs = 0  # MACs of every audit so far ...
        self._audit_count = 0  # ... and their number: the mean is an audit's usual cost
        self._drift_audits = 0  # audits since the answers' cost rose over the table's (or the last restart)
        self._calm = 0  # scheduled inputs in a row since the answers last cost more than the table says
        self.skipped = 0  # scheduled audits skipped for the budget
        self.cost_drift = CostDrift()  # the answers' recent cost against the table's: the budget waits while apart
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
        self.audited = self.agreed = self.promised_count = self._drift_audits = 0
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

    def due(self, answer_macs: int, expected_macs: float | None = None) -> bool:
        """Whether the input just answered, at a cost of ``answer_macs`` where the α table expects
        ``expected_macs`` (None: not known), is audited (call once per input). One input in each block of
        1/rate is scheduled, at a random place in it: evenly spread, yet never in step with a period in the
        inputs (a test set or a camera that cycles every 50 frames would otherwise show the audit the same
        input). A scheduled input is skipped while the audit is over its budget (module docstring), judged on
        the inputs before this one, so whether it is audited does not depend on where it was answered."""
        index = self._seen
        self._seen += 1
        scheduled = index >= self._next
        if scheduled:  # judged before this input's cost is counted
            harder = self.cost_drift.direction() > 0
            self._calm = 0 if harder else self._calm + 1
            if self._calm >= CALM_TO_REARM:
                self._drift_audits = 0
            # over budget if one more audit of the usual cost would take the audit's share past it
            usual = self._audit_macs / self._audit_count if self._audit_count else 0.0
            audit_spend = self._audit_spend + usual
            audit_total = self._audit_macs + usual
            exempt = (harder and self._drift_audits < DRIFT_AUDITS) or self.current_rate > self.rate
            over = (not exempt
                    and (audit_spend > self.budget * (self._answer_spend + audit_spend)
                         or audit_total > self.budget * (self._answer_total + audit_total)))
        self.cost_drift.add(answer_macs, expected_macs)
        self._answer_spend = self._answer_spend * BUDGET_DECAY + answer_macs
        self._answer_total += answer_macs
        self._audit_spend *= BUDGET_DECAY
        if not scheduled:
            return False
        self._block += 1
        self._next = self._draw()
        if over:
            self.skipped += 1
            return False
        self._drift_audits += harder
        return True

    def record(self, agrees: bool, promise: float | None, macs: int) -> None:
        """One audited input: whether the answer given agrees with the monolithic network's, the table's
        agreement at the α it ran at (None: not known), and the MACs the audit took."""
        self._audit_spend += macs
        self._audit_macs += macs
        self._audit_count += 1
        self.audited += 1
        self.agreed += bool(agrees)
        if promise is not None:
            self.promised_sum += promise
            self.promised_count += 1

    def check(self, runtime: Any, image: Any, decision: Any, alpha: float | None) -> Checked | None:
        """One input just classified as ``decision`` by ``runtime`` at ``alpha`` (None: not known): if it is due,
        learn the monolithic network's answer (``runtime.audit_reference``) and record it against the α table's
        promise; None when it is not audited. What ``run``, ``serve``, ``eval --stream`` and the demo call."""
        plans = getattr(runtime, "alpha_plans", None)
        known = plans is not None and alpha is not None
        if not self.due(decision.macs, plans.expected_macs(alpha) if known else None):
            return None
        reference, macs = runtime.audit_reference(image, decision)
        agrees = bool(reference == decision.label)
        self.record(agrees, plans.expected_agreement(alpha) if known else None, macs)
        return Checked(int(reference), agrees, macs)

    def snapshot(self) -> dict[str, Any]:
        """The audit so far: ``audited``, ``agreement`` (estimate), ``low``/``high`` (95% Wilson), ``promise``
        (mean table agreement over the audited inputs), ``status`` (``ok``, ``degraded``: the whole interval
        more than a point under the promise, or ``unknown``); ``budget``, ``skipped_for_budget``, ``cost_vs_table``
        (the answers' recent cost ÷ the table's) and ``unlike_held_out`` (that ratio is measurably off 1)."""
        low, high = wilson_interval(self.agreed, self.audited)
        promise = self.promised_sum / self.promised_count if self.promised_count else None
        if not self.audited or promise is None:
            status = "unknown"
        elif high < promise - DEGRADED_POINTS / 100.0:
            status = "degraded"
        else:
            status = "ok"
        ratio = self.cost_drift.ratio()
        return {"rate": self.rate, "budget": round(self.budget, 6), "skipped_for_budget": self.skipped,
                "cost_vs_table": None if ratio is None else round(ratio, 4),
                "unlike_held_out": self.cost_drift.direction() != 0,
                "audited": self.audited, "agreed": self.agreed,
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
            f"{snapshot['status']}"
            + (f" ({snapshot['skipped_for_budget']} scheduled audits skipped to keep within "
               f"{snapshot['budget']:.0%} of the MACs)" if snapshot.get("skipped_for_budget") else ""))
