"""The label-free audit: which inputs, the Wilson interval, and when the promise counts as broken."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from edge_runtime.core.audit import AgreementAudit, wilson_interval


def test_wilson_by_hand():
    assert wilson_interval(0, 0) == (0.0, 1.0)
    low, high = wilson_interval(50, 100)
    assert low == pytest.approx(0.4038, abs=1e-4) and high == pytest.approx(0.5962, abs=1e-4)
    low, high = wilson_interval(100, 100)
    assert high == 1.0 and low == pytest.approx(0.9630, abs=1e-4)


@given(st.integers(0, 500), st.integers(1, 500))
def test_the_interval_holds_the_estimate(agreed, audited):
    agreed = min(agreed, audited)
    low, high = wilson_interval(agreed, audited)
    assert 0.0 <= low <= agreed / audited <= high <= 1.0


def test_audited_inputs_are_spread_evenly_and_out_of_step_with_the_stream():
    audit = AgreementAudit(0.02)
    picked = [i for i in range(10_000) if audit.due(1)]
    assert [i // 50 for i in picked] == list(range(200))  # exactly one in each block of 50
    assert len({i % 50 for i in picked}) > 25  # at many places in the block: a stream of period 50 cannot hide
    again = AgreementAudit(0.02)
    assert [i for i in range(10_000) if again.due(1)] == picked  # seeded: the same run audits the same inputs
    assert not any(AgreementAudit(0.0).due(1) for _ in range(100))
    assert all(AgreementAudit(1.0).due(1) for _ in range(10))
    with pytest.raises(ValueError, match="audit rate"):
        AgreementAudit(1.5)


def test_degraded_only_when_the_whole_interval_is_a_point_under_the_promise():
    audit = AgreementAudit(1.0)
    assert audit.snapshot()["status"] == "unknown"
    for i in range(100):
        audit.record(i >= 20, 0.98, 0)  # 80% agree against 98% promised
    snap = audit.snapshot()
    assert snap["status"] == "degraded" and snap["agreement"] == 0.8 and snap["high"] < 0.97
    assert snap["promise"] == pytest.approx(0.98)
    fine = AgreementAudit(1.0)
    for i in range(100):
        fine.record(i >= 3, 0.98, 0)  # 97%: within the interval of 98%
    assert fine.snapshot()["status"] == "ok"
    few = AgreementAudit(1.0)
    for i in range(10):
        few.record(i != 4, 0.98, 0)  # 9 of 10: too few to say the promise is broken
    assert few.snapshot()["status"] == "ok" and few.snapshot()["high"] > 0.97
    unpromised = AgreementAudit(1.0)
    unpromised.record(True, None, 0)
    assert unpromised.snapshot()["status"] == "unknown"


def run_costed(audit: AgreementAudit, answer_costs: list[int], audit_cost: int) -> tuple[list[int], int, int]:
    """Feed answers of the given costs; each audit costs ``audit_cost``. (audited indices, answer MACs, audit MACs)."""
    picked, audit_macs = [], 0
    for i, cost in enumerate(answer_costs):
        if audit.due(cost):
            audit.record(True, 0.99, audit_cost)
            picked.append(i)
            audit_macs += audit_cost
    return picked, sum(answer_costs), audit_macs


def test_the_budget_bounds_the_audits_share_of_the_macs():
    """Answers at the first exit cost 1 and their audits 20 more: a 2% rate would spend 29% of the MACs on the
    audit. The default budget (1.5 × the rate) keeps it at 3%, with fewer audits; an audit of every input and
    a budget of 1 are not limited."""
    costs = [1] * 50_000
    capped = AgreementAudit(0.02)
    assert capped.budget == pytest.approx(0.03)
    picked, spent, audited = run_costed(capped, costs, 20)
    assert audited / (spent + audited) <= 0.03 + 20 / spent  # within one audit of the budget
    assert audited / (spent + audited) > 0.025 and capped.skipped > 0  # and it does spend what it may
    assert capped.snapshot()["skipped_for_budget"] == capped.skipped == 1000 - len(picked)
    free, spent, audited = run_costed(AgreementAudit(0.02, budget=1.0), costs, 20)
    assert len(free) == 1000 and audited / (spent + audited) > 0.25
    assert AgreementAudit(1.0).budget == 1.0
    every, _, _ = run_costed(AgreementAudit(1.0), costs[:500], 20)
    assert len(every) == 500
    deep, spent, audited = run_costed(AgreementAudit(0.02), [20] * 50_000, 1)  # answers late: audits are cheap
    assert len(deep) == 1000
    with pytest.raises(ValueError, match="audit budget"):
        AgreementAudit(0.02, budget=0.0)


@given(st.lists(st.integers(0, 50), min_size=1, max_size=400), st.integers(0, 399), st.integers(0, 50),
       st.integers(1, 200))
def test_whether_an_input_is_audited_does_not_depend_on_its_own_cost(costs, index, other, audit_cost):
    """The budget judges the spend before the input at hand: changing that input's cost (where it was answered)
    cannot change whether it is audited, so the audited inputs stay a fair sample of the answers."""
    index = min(index, len(costs) - 1)
    changed = costs[:index] + [other] + costs[index + 1:]
    first, _, _ = run_costed(AgreementAudit(0.1), costs, audit_cost)
    second, _, _ = run_costed(AgreementAudit(0.1), changed, audit_cost)
    assert [i for i in first if i <= index] == [i for i in second if i <= index]
