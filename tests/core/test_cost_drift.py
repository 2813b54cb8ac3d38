"""The free drift sign: answers' recent cost against the table's, and the audit budget it lifts."""

from __future__ import annotations

import numpy as np
from hypothesis import given, strategies as st

from edge_runtime.core.audit import DRIFT_AUDITS, AgreementAudit
from edge_runtime.core.cost_drift import CostDrift


def costs(rng: np.random.Generator, n: int, deep_share: float) -> np.ndarray:
    """Answers of a two-exit plan: 1 M MACs at the first exit, 5 M when the input goes on to the second."""
    return np.where(rng.random(n) < deep_share, 5e6, 1e6)


def fed(drift: CostDrift, answers: np.ndarray, expected: float) -> list[bool]:
    flags = []
    for cost in answers:
        drift.add(float(cost), expected)
        flags.append(drift.direction())
    return flags


def test_inputs_like_the_held_out_ones_are_not_taken_for_drift():
    rng = np.random.default_rng(0)
    expected = 1e6 + 0.2 * 4e6  # the table's cost: a fifth of the inputs go deeper on held-out images
    assert np.mean(np.array(fed(CostDrift(), costs(rng, 20_000, 0.2), expected)) != 0) < 0.005
    assert np.mean(np.array(fed(CostDrift(), costs(rng, 20_000, 0.21), expected)) != 0) < 0.005  # 2% dearer, as clean test images


def test_inputs_that_go_deeper_or_stop_sooner_are_drift_after_a_few_hundred():
    rng = np.random.default_rng(1)
    expected = 1e6 + 0.2 * 4e6
    deeper = fed(CostDrift(), costs(rng, 2000, 0.35), expected)  # a moved camera: 33% dearer
    assert not any(deeper[:20]) and deeper.index(1) < 600 and set(deeper[1000:]) == {1}
    sooner = fed(CostDrift(), costs(rng, 2000, 0.05), expected)  # blur: confident early exits
    assert sooner.index(-1) < 600 and set(sooner[1000:]) == {-1}
    drift = CostDrift()
    fed(drift, costs(rng, 2000, 0.35), None)  # no table cost (a joules table): nothing counted
    assert drift.ratio() is None and drift.direction() == 0


@given(st.lists(st.floats(0, 1e7), min_size=1, max_size=50), st.floats(1, 1e7))
def test_the_ratio_is_the_weighted_means(answers, expected):
    drift = CostDrift()
    for cost in answers:
        drift.add(cost, expected)
    weights = drift.decay ** np.arange(len(answers))[::-1]
    assert np.isclose(drift.ratio(), np.sum(weights * answers) / np.sum(weights) / expected, rtol=1e-9, atol=1e-12)


def audited(audit: AgreementAudit, inputs: int, expected: float) -> int:
    """Feed answers costing 1 MAC where the table expects ``expected``; each audit costs 20. How many were audited."""
    count = 0
    for _ in range(inputs):
        if audit.due(1, expected):
            audit.record(True, 0.99, 20)
            count += 1
    return count


def test_the_budget_waits_for_a_few_dozen_audits_when_answers_cost_more_than_the_table_says():
    """Audits cost 20 answers: the 3% budget lets a few dozen through in 20,000 inputs while answers cost what the
    table says. Answers at twice the table's cost (the exits find the inputs harder) get DRIFT_AUDITS audits
    beyond the budget, more while --adapt suspects a break, and again after an --adapt change restarts the audit;
    then the budget binds again. Answers at half the table's cost keep the budget."""
    like, harder, easier = AgreementAudit(0.02), AgreementAudit(0.02), AgreementAudit(0.02)
    assert audited(like, 20_000, 1.0) < 40 and not like.snapshot()["unlike_held_out"]
    assert audited(harder, 20_000, 0.5) >= DRIFT_AUDITS and harder.skipped > 200  # the quota, then the budget
    assert harder.snapshot()["unlike_held_out"] and harder.snapshot()["cost_vs_table"] == 2.0
    audited(easier, 20_000, 2.0)
    assert easier.snapshot()["unlike_held_out"] and easier.skipped == like.skipped
    harder.set_rate(0.1)
    assert audited(harder, 500, 0.5) == 50  # --adapt's faster audits while it suspects a break: all scheduled
    harder.set_rate(0.02)
    assert audited(harder, 2_500, 0.5) <= 2  # the budget binds again
    harder.restart()
    assert audited(harder, 2_500, 0.5) >= DRIFT_AUDITS - 1  # after a change, a new quota: all scheduled
    like.set_rate(0.1)
    assert audited(like, 500, 1.0) == 50  # a suspected break is looked into whatever the answers cost


def test_audits_beyond_the_budget_during_a_drift_are_paid_back_after_it():
    """Audits cost 20 answers. A drift's DRIFT_AUDITS audits beyond the 3% budget (1,000 MACs) are paid back
    after it: over 60,000 inputs the audit ends within one audit of the budget. Judged on the recent spend
    alone, the drift's audits were forgotten within a few thousand inputs and the run ended at 3.9%."""
    audit = AgreementAudit(0.02)
    audit.cost_drift = ScriptedDrift([1] * 60 + [0])  # 60 scheduled inputs of drift, then none
    count = audited(audit, 60_000, 1.0)
    assert count >= DRIFT_AUDITS  # the drift got its quota ...
    assert 20 * count / (60_000 + 20 * count) <= audit.budget + 20 / 60_000  # ... and the run its budget


class ScriptedDrift:
    """The drift sign read from a script, one value per scheduled input (what CostDrift says, by construction)."""

    def __init__(self, signs: list[int]) -> None:
        self.signs, self.read = signs, 0

    def direction(self) -> int:
        sign = self.signs[min(self.read, len(self.signs) - 1)]
        self.read += 1
        return sign

    def add(self, cost: float, expected: float | None) -> None:
        pass

    def ratio(self) -> None:
        return None


def test_a_drift_sign_that_flickers_gets_one_quota_and_a_lasting_calm_rearms_it():
    """Blurred bench images cost 12–24% over the table, near the sign's threshold: when the sign dropped for one
    scheduled input the quota of DRIFT_AUDITS audits beyond the budget started again (98 such audits at α = 0, the
    audit 3.6% of the MACs). Now only CALM_TO_REARM scheduled inputs in a row without the sign re-arm it."""
    from edge_runtime.core.audit import CALM_TO_REARM

    def run(signs: list[int]) -> int:
        audit = AgreementAudit(0.02)
        audit.cost_drift = ScriptedDrift(signs)
        return audited(audit, len(signs) * 50, 1.0)  # audits cost 20 answers: the budget binds at once

    flicker = ([1] * 19 + [0]) * 20  # 400 scheduled inputs: a one-input dip in every 20
    within_budget = run([0] * len(flicker))  # what the budget alone lets through
    assert within_budget < 40
    assert DRIFT_AUDITS <= run(flicker) <= within_budget + DRIFT_AUDITS  # was 380: a new quota after each dip
    assert run([1] * 60 + [0] * CALM_TO_REARM + [1] * 60) >= 2 * DRIFT_AUDITS  # a lasting calm: a new drift
    short_calm = [1] * 60 + [0] * (CALM_TO_REARM - 1) + [1] * 60
    assert run(short_calm) <= run([0] * len(short_calm)) + DRIFT_AUDITS
