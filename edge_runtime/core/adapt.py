"""Keeping the promise under drift (``--adapt``): from the audited inputs alone, the cheapest α-table row
whose answers on them agree with the monolithic network as the table promised.

The audit (:mod:`edge_runtime.core.audit`) reports agreement since it started; drift is judged here on the
inputs audited since the last change only (at most :data:`RECENT`), so a board that ran clean for days
notices a drift as fast as a fresh one. When their 95% interval lies more than a point under the promise
(after at least :data:`MIN_AUDITED` of them), the runtime stops using table rows cheaper than the cheapest
one that agrees on those inputs (:meth:`~edge_runtime.core.operating.AlphaPlans.set_cap`): every input then
runs at least that far, and α keeps moving between α = 0 and the cap. A row agrees when the lower end of its
agreement's one-standard-error interval on those inputs reaches the promise less a point, so a row that
agreed on a few inputs by luck is not taken for one that keeps the promise. The audited inputs are kept as
int8 images with the monolithic network's answer, so rows are scored without labels and without running
the monolithic network again. :data:`RECHECK` audited inputs after a change, and every :data:`RECHECK` after
that, the cap is reconsidered. It is lifted only when a cheaper row keeps the promise by the same rule on
the inputs audited since the change (up to :data:`RECENT`): at a 99.5% promise, 50 inputs that all agree do
not prove it, 66 do. Each time a lifted cap breaks again, the next reconsideration
waits twice as long (up to 16×), so a drift that comes and goes does not flap the cap. While evidence is
gathered (the recent agreement looks low, or a change is being checked) the audit runs at :data:`BOOST`
times its rate; the cost shows in the MACs.

Thread rules: a :class:`PromiseKeeper` belongs to the inference thread.
"""

from __future__ import annotations

import collections
from typing import Any, Callable

import numpy as np

from .audit import DEGRADED_POINTS, AgreementAudit, wilson_interval

WINDOW = 200  # audited inputs kept (int8 image and the monolithic network's answer)
RECENT = 100  # audited inputs since the last change that judge the promise and score the rows
MIN_AUDITED = 10  # audited inputs since the last change before the cap may move
RECHECK = 50  # audited inputs after a change before a capped plan is reconsidered
BOOST = 5  # the audit rate's multiple while evidence is gathered (at most every input)
SUSPECT_Z = 1.28  # the recent agreement's 80% interval lies under the promise less a point: audit more
CHOICE_Z = 1.0  # a row agrees when its one-standard-error lower bound reaches the promise less a point


class PromiseKeeper:
    """Moves a runtime's α-table cap when its audited agreement says the promise is broken.

    Args:
        runtime: a bundle runtime with ``alpha_plans``, ``plan_for_setting`` and ``classify``.
        audit: the runtime's audit (restarted here after each change, so its interval is the new plan's; its
            rate is raised while evidence is gathered).
        say: where the one line of each change goes (a log's warning, stderr).
    """

    def __init__(self, runtime: Any, audit: AgreementAudit, say: Callable[[str], None],
                 window: int = WINDOW, min_audited: int = MIN_AUDITED, recheck: int = RECHECK) -> None:
        self.runtime = runtime
        self.plans = runtime.alpha_plans
        self.audit = audit
        self.say = say
        self.min_audited = min_audited
        self.recheck = recheck
        self.kept: collections.deque[tuple[np.ndarray, int]] = collections.deque(maxlen=window)
        self.recent: collections.deque[bool] = collections.deque(maxlen=RECENT)  # agreed, since the last change
        self.changes = 0
        self.recheck_after = recheck  # doubles each time a relaxed cap breaks again (up to 16×): no flapping
        self._relaxed = False  # the last change lifted the cap (some way)
        self._checking = False  # a change has not been reconsidered yet: the audit runs faster until it is
        self._since_check = 0  # audited inputs since the cap was last changed or reconsidered

    @property
    def capped(self) -> bool:
        return self.plans.cap < 1.0

    def plan(self, alpha: float, given: Any) -> Any:
        """The plan to run at α: ``given`` (a fixed α's or a live monitor's, built beforehand) while uncapped, else
        α's plan under the cap (plans built before the cap would ignore it)."""
        return self.runtime.plan_for_alpha(alpha) if self.capped else given

    def observe(self, image: np.ndarray, reference: int, agrees: bool, alpha: float) -> bool:
        """One audited input (already recorded in the audit): the monolithic network's answer and whether the
        answer given agreed with it. True when the cap moved (plans built before then are stale)."""
        self.kept.append((np.array(image, copy=True), int(reference)))
        self.recent.append(bool(agrees))
        self._since_check += 1
        promise = self.plans.expected_agreement(alpha)
        if promise is None:
            return False
        agreed, audited = sum(self.recent), len(self.recent)
        bar = promise - DEGRADED_POINTS / 100.0
        broken = audited >= self.min_audited and wilson_interval(agreed, audited)[1] < bar
        suspect = audited >= 3 and wilson_interval(agreed, audited, SUSPECT_Z)[1] < bar
        checking = self._checking and self.capped and audited < self.recheck
        self.audit.set_rate(min(1.0, self.audit.rate * BOOST) if suspect or checking else self.audit.rate)
        if not broken and not (self.capped and self._since_check >= self.recheck_after):
            return False
        if broken and self._relaxed:
            self.recheck_after = min(16 * self.recheck, 2 * self.recheck_after)
        return self._reconsider(alpha, promise, broken)

    def _agreement(self, row: int) -> float:
        return self._agreement_of(self.runtime.plan_for_setting(self.plans.table.points[row].setting))

    def _scored(self) -> list[tuple[np.ndarray, int]]:
        """The kept inputs audited since the last change: those the promise was judged on."""
        return list(self.kept)[-len(self.recent):]

    def _agreement_of(self, plan: Any) -> float:
        """The share of the scored inputs on which ``plan`` answers what the monolithic network answered."""
        scored = self._scored()
        answers = [self.runtime.classify(image, plan).label for image, _ in scored]
        return float(np.mean(np.array(answers) == np.array([ref for _, ref in scored])))

    def _keeps(self, agreement: float, promise: float) -> bool:
        """Whether a row that agreed on ``agreement`` of the scored inputs keeps the promise (module docstring)."""
        n = len(self.recent)
        low, _ = wilson_interval(round(agreement * n), n, CHOICE_Z)
        return low >= promise - DEGRADED_POINTS / 100.0

    def _reconsider(self, alpha: float, promise: float, broken: bool) -> bool:
        snapshot = self.audit.snapshot()
        recent = (sum(self.recent), len(self.recent))
        # the cheapest row, up to the one α asks for, that keeps the promise on the scored inputs (rows get
        # dearer towards row 0 and agree more: a binary search scores a handful of rows, not all)
        table_alpha = min(alpha * self.plans.end, 1.0)
        last = max(i for i, a in enumerate(self.plans.alphas) if a <= table_alpha + 1e-12)
        scored: dict[int, float] = {}
        low, high = 0, last
        while low < high:
            middle = (low + high + 1) // 2
            scored[middle] = self._agreement(middle)
            if self._keeps(scored[middle], promise):
                low = middle
            else:
                high = middle - 1
        cap = 1.0 if low == last and not broken else self.plans.alphas[low]
        reached = scored[low] if low in scored else self._agreement(low)
        deepest = None
        if not self._keeps(reached, promise) and hasattr(self.runtime, "deepest_plan"):
            # no row keeps the promise: the family's whole network, beyond the table's α = 0, if it agrees more
            plan = self.runtime.deepest_plan()
            full = self._agreement_of(plan)
            if full > reached:
                cap, deepest, reached = -1.0, plan, full
        agreed, audited = recent
        kept_promise = self._keeps(reached, promise)
        self._since_check = 0
        if not broken and cap > self.plans.cap and not kept_promise:
            # a cheaper plan that agreed on every scored input may still be unproven (50 inputs cannot show 99%):
            # the cap stays, and the evidence since the change keeps growing until it proves it or breaks
            cap = self.plans.cap
        self._checking = cap != self.plans.cap
        if cap == self.plans.cap:
            return False
        self.recent.clear()
        relaxed = self._relaxed = cap > self.plans.cap
        if cap >= 1.0:
            self.recheck_after = self.recheck
        self.plans.set_cap(cap, deepest)
        self.changes += 1
        self.audit.restart()
        on = f"the last {audited} audited inputs"
        found = (f"agreement {agreed / audited:.2%} on {on} ({snapshot['audited']} since the audit started: "
                 f"{snapshot['agreement']:.2%}) is under the promise {promise:.2%} at α = {alpha:.3g}")
        if relaxed and cap < 1.0:
            self.say(f"audit: cheaper operating points agree as promised again on {on}: inputs now run at least to "
                     f"the α table's point {cap:.3g} ({reached:.2%} agreed)")
        elif cap < 0.0:
            self.say(f"audit: {found}, and no operating point of the α table agrees as promised on them: every input "
                     f"now runs the whole network (it agreed on {reached:.2%} of them)")
        elif cap < 1.0:
            self.say(f"audit: {found}: inputs now run at least to the α table's point {cap:.3g}, whose answers agreed "
                     f"with the monolithic network on {reached:.2%} of them"
                     + ("" if kept_promise else " (no operating point agrees as promised on these "
                        "inputs: this is the one that agrees most)"))
        else:
            self.say(f"audit: the cheaper operating points agree as promised again on {on}: α follows the whole "
                     "table again")
        return True
