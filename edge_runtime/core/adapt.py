"""Keeping the promise under drift (``--adapt``): from the audited inputs alone, the cheapest α-table row
whose answers on them agree with the monolithic network as often as the table promised.

When the audit (:mod:`edge_runtime.core.audit`) says the promise is broken, the runtime stops using
table rows cheaper than that one (:meth:`~edge_runtime.core.operating.AlphaPlans.set_cap`): every input
then runs at least that far, and α keeps moving between α = 0 and the cap. The audited inputs are kept
(the last :data:`WINDOW`, as int8 images with the monolithic network's answer), so the rows can be
scored on them without labels and without running the monolithic network again. Every :data:`WINDOW`
audited inputs the cap is reconsidered, and lifted when the cheaper rows agree again.

Thread rules: a :class:`PromiseKeeper` belongs to the inference thread.
"""

from __future__ import annotations

import collections
from typing import Any, Callable

import numpy as np

from .audit import AgreementAudit

WINDOW = 200  # audited inputs kept to score the rows on
MIN_AUDITED = 30  # audited inputs before the audit may move the cap


class PromiseKeeper:
    """Moves a runtime's α-table cap when its audit says the promise is broken.

    Args:
        runtime: a bundle runtime with ``alpha_plans``, ``plan_for_setting`` and ``classify``.
        audit: the runtime's audit (restarted here after each change, so its interval is the new plan's).
        say: where the one line of each change goes (a log's warning, stderr).
    """

    def __init__(self, runtime: Any, audit: AgreementAudit, say: Callable[[str], None],
                 window: int = WINDOW, min_audited: int = MIN_AUDITED) -> None:
        self.runtime = runtime
        self.plans = runtime.alpha_plans
        self.audit = audit
        self.say = say
        self.min_audited = min_audited
        self.kept: collections.deque[tuple[np.ndarray, int]] = collections.deque(maxlen=window)
        self.changes = 0
        self._since_change = 0

    @property
    def capped(self) -> bool:
        return self.plans.cap < 1.0

    def plan(self, alpha: float, given: Any) -> Any:
        """The plan to run at α: ``given`` (a fixed α's or a live monitor's, built beforehand) while uncapped, else
        α's plan under the cap (plans built before the cap would ignore it)."""
        return self.runtime.plan_for_alpha(alpha) if self.capped else given

    def observe(self, image: np.ndarray, reference: int, alpha: float) -> bool:
        """One audited input (already recorded in the audit) and the monolithic network's answer; True when the
        cap moved (plans built before then are stale)."""
        self.kept.append((np.array(image, copy=True), int(reference)))
        self._since_change += 1
        snapshot = self.audit.snapshot()
        broken = snapshot["status"] == "degraded" and self._since_change >= self.min_audited
        if not broken and not (self.capped and self._since_change >= (self.kept.maxlen or 0)):
            return False
        return self._reconsider(alpha, snapshot)

    def _agreement(self, row: int) -> float:
        return self._agreement_of(self.runtime.plan_for_setting(self.plans.table.points[row].setting))

    def _agreement_of(self, plan: Any) -> float:
        """The share of the kept audited inputs on which ``plan`` answers what the monolithic network answered."""
        answers = [self.runtime.classify(image, plan).label for image, _ in self.kept]
        return float(np.mean(np.array(answers) == np.array([ref for _, ref in self.kept])))

    def _reconsider(self, alpha: float, snapshot: dict[str, Any]) -> bool:
        promise = self.plans.expected_agreement(alpha)
        if promise is None:
            return False
        # the cheapest row, up to the one α asks for, that agrees on the kept inputs as promised (rows get
        # dearer towards row 0 and agree more: a binary search scores a handful of rows, not all)
        table_alpha = min(alpha * self.plans.end, 1.0)
        last = max(i for i, a in enumerate(self.plans.alphas) if a <= table_alpha + 1e-12)
        scored: dict[int, float] = {}
        low, high = 0, last
        while low < high:
            middle = (low + high + 1) // 2
            scored[middle] = self._agreement(middle)
            if scored[middle] >= promise:
                low = middle
            else:
                high = middle - 1
        cap = 1.0 if low == last and not snapshot["status"] == "degraded" else self.plans.alphas[low]
        reached = scored[low] if low in scored else self._agreement(low)
        deepest = None
        if reached < promise and hasattr(self.runtime, "deepest_plan"):
            # no row agrees as promised: the family's whole network, beyond the table's α = 0, if it agrees more
            plan = self.runtime.deepest_plan()
            full = self._agreement_of(plan)
            if full > reached:
                cap, deepest, reached = -1.0, plan, full
        self._since_change = 0
        if cap == self.plans.cap:
            return False
        relaxed = cap > self.plans.cap
        self.plans.set_cap(cap, deepest)
        self.changes += 1
        self.audit.restart()
        if relaxed and cap < 1.0:
            self.say(f"audit: cheaper operating points agree as promised again on the last {len(self.kept)} audited "
                     f"inputs: inputs now run at least to the α table's point {cap:.3g} ({reached:.2%} agreed)")
        elif cap < 0.0:
            self.say(f"audit: agreement {snapshot['agreement']:.2%} ({snapshot['low']:.2%}–{snapshot['high']:.2%}) "
                     f"on {snapshot['audited']} audited inputs is under the promise {promise:.2%} at α = {alpha:.3g}, "
                     "and no operating point of the α table agrees as promised on the last "
                     f"{len(self.kept)} audited inputs: every input now runs the whole network (it agreed on "
                     f"{reached:.2%} of them)")
        elif cap < 1.0:
            kept = f"on {reached:.2%} of the last {len(self.kept)} audited inputs"
            self.say(f"audit: agreement {snapshot['agreement']:.2%} ({snapshot['low']:.2%}–{snapshot['high']:.2%}) "
                     f"on {snapshot['audited']} audited inputs is under the promise {promise:.2%} at α = {alpha:.3g}: "
                     f"inputs now run at least to the α table's point {cap:.3g}, whose answers agreed with the "
                     f"monolithic network {kept}" + ("" if reached >= promise else
                                                    " (no operating point agrees as promised on these inputs: "
                                                    "this is the one that agrees most)"))
        else:
            self.say(f"audit: the cheaper operating points agree as promised again on the last {len(self.kept)} "
                     "audited inputs: α follows the whole table again")
        return True
