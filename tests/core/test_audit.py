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
    picked = [i for i in range(10_000) if audit.due()]
    assert [i // 50 for i in picked] == list(range(200))  # exactly one in each block of 50
    assert len({i % 50 for i in picked}) > 25  # at many places in the block: a stream of period 50 cannot hide
    again = AgreementAudit(0.02)
    assert [i for i in range(10_000) if again.due()] == picked  # seeded: the same run audits the same inputs
    assert not any(AgreementAudit(0.0).due() for _ in range(100))
    assert all(AgreementAudit(1.0).due() for _ in range(10))
    with pytest.raises(ValueError, match="audit rate"):
        AgreementAudit(1.5)


def test_degraded_only_when_the_whole_interval_is_a_point_under_the_promise():
    audit = AgreementAudit(1.0)
    assert audit.snapshot()["status"] == "unknown"
    for i in range(100):
        audit.record(i >= 20, 0.98)  # 80% agree against 98% promised
    snap = audit.snapshot()
    assert snap["status"] == "degraded" and snap["agreement"] == 0.8 and snap["high"] < 0.97
    assert snap["promise"] == pytest.approx(0.98)
    fine = AgreementAudit(1.0)
    for i in range(100):
        fine.record(i >= 3, 0.98)  # 97%: within the interval of 98%
    assert fine.snapshot()["status"] == "ok"
    few = AgreementAudit(1.0)
    for i in range(10):
        few.record(i != 4, 0.98)  # 9 of 10: too few to say the promise is broken
    assert few.snapshot()["status"] == "ok" and few.snapshot()["high"] > 0.97
    unpromised = AgreementAudit(1.0)
    unpromised.record(True, None)
    assert unpromised.snapshot()["status"] == "unknown"
