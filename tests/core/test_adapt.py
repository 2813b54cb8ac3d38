"""Keeping the promise (``--adapt``) on a stand-in runtime whose agreement is known: each input says, per α-table
row, whether that row's answer is the monolithic network's."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest

from edge_runtime.core.adapt import BOOST, MIN_AUDITED, RECHECK, PromiseKeeper
from edge_runtime.core.audit import AgreementAudit
from edge_runtime.core.frontier import Candidate, build_table
from edge_runtime.core.operating import AlphaPlans

PROMISE = (0.99, 0.98, 0.95)  # rows a (dearest), b, z (cheapest): held-out agreement
WHOLE = "whole network"


class StandIn:
    """Rows answer 0 when they agree with the monolithic network (which answers 0), 1 when they do not. An image
    is an int8 array whose element r says whether row r agrees (the whole network always does)."""

    def __init__(self) -> None:
        table = build_table([Candidate(9, 1, 99, {"row": 0}), Candidate(6, 2, 98, {"row": 1}),
                             Candidate(1, 5, 95, {"row": 2})], 100)
        rows = tuple(dataclasses.replace(p, agreement=a) for p, a in zip(table.points, PROMISE))
        self.alpha_plans = AlphaPlans(dataclasses.replace(table, points=rows), self.plan_for_setting)

    def plan_for_setting(self, setting: dict) -> int:
        return setting["row"]

    def plan_for_alpha(self, alpha: float):
        plan = self.alpha_plans.plan(alpha)
        return plan.pick() if hasattr(plan, "pick") else plan

    def deepest_plan(self) -> str:
        return WHOLE

    def classify(self, image: np.ndarray, plan) -> SimpleNamespace:
        return SimpleNamespace(label=0 if plan == WHOLE or image[plan] else 1)


def images(rng: np.random.Generator, n: int, agreement: tuple[float, float, float]) -> np.ndarray:
    """``n`` stand-in images on which row r agrees with probability ``agreement[r]``, nested: a dearer row agrees
    wherever a cheaper one does, as exits deeper in a network do."""
    u = rng.random(n)
    return np.stack([u < a for a in agreement], axis=1).astype(np.int8)


def stream(runtime: StandIn, keeper: PromiseKeeper, audit: AgreementAudit, pictures: np.ndarray, alpha: float):
    """Run a stream as ``run`` does; the input index of each change and the audit rate before each input."""
    changes, rates = [], []
    for i, image in enumerate(pictures):
        rates.append(audit.current_rate)
        decision = runtime.classify(image, runtime.plan_for_alpha(alpha))
        if audit.due(1):  # the stand-in's answers and audits cost nothing the budget would count
            agrees = decision.label == 0
            audit.record(agrees, runtime.alpha_plans.expected_agreement(alpha), 0)
            if keeper.observe(image, 0, agrees, alpha):
                changes.append(i)
    return changes, rates


def test_a_broken_promise_moves_the_cap_after_the_evidence_and_no_sooner():
    runtime, audit = StandIn(), AgreementAudit(1.0)
    keeper = PromiseKeeper(runtime, audit, lambda line: None)
    pictures = images(np.random.default_rng(0), 400, (1.0, 0.99, 0.40))  # the cheapest row breaks its 95%
    changes, _ = stream(runtime, keeper, audit, pictures, 1.0)
    assert changes and MIN_AUDITED - 1 <= changes[0] < 20
    assert runtime.alpha_plans.cap == pytest.approx(runtime.alpha_plans.alphas[1])  # b keeps it, a is dearer


def test_a_row_that_agreed_on_a_few_inputs_by_luck_is_not_taken_for_one_that_keeps_the_promise():
    """α = 1 promises 95%. Row b agrees on 19 of 20 scored inputs, 95% exactly, but 20 cannot tell it from a row
    well under the promise (one standard error down, 19 of 20 is 87%): the keeper takes row a, which agreed on
    all 20, rather than b on that evidence."""
    runtime, audit = StandIn(), AgreementAudit(1.0)
    keeper = PromiseKeeper(runtime, audit, lambda line: None, min_audited=20)
    pictures = np.array([[1, i != 7, 0] for i in range(20)], dtype=np.int8)  # z never agrees
    changes, _ = stream(runtime, keeper, audit, pictures, 1.0)
    assert changes == [19] and runtime.alpha_plans.cap == 0.0


def test_the_audit_runs_faster_while_the_agreement_looks_low_and_while_a_change_is_checked():
    runtime, audit = StandIn(), AgreementAudit(0.02)
    keeper = PromiseKeeper(runtime, audit, lambda line: None)
    rng = np.random.default_rng(1)
    clean = images(rng, 2000, (1.0, 1.0, 0.99))
    drift = images(rng, 3000, (1.0, 0.995, 0.50))
    changes, rates = stream(runtime, keeper, audit, np.concatenate([clean, drift]), 1.0)
    assert set(rates[:2000]) == {0.02}  # clean: the asked rate
    boosted = [i for i, r in enumerate(rates) if r == pytest.approx(0.02 * BOOST)]
    assert boosted and min(boosted) > 2000 and changes and changes[0] > 2000
    assert changes[0] - 2000 < 30 / 0.02  # sooner than 30 inputs audited at the asked rate
    assert rates[-1] == 0.02  # back to the asked rate once the change is checked
    assert runtime.alpha_plans.cap < 1.0


def test_a_cap_that_is_lifted_and_breaks_again_waits_twice_as_long_to_be_lifted_again():
    runtime, audit = StandIn(), AgreementAudit(1.0)
    keeper = PromiseKeeper(runtime, audit, lambda line: None)
    rng = np.random.default_rng(2)
    drift, clean = images(rng, 60, (1.0, 1.0, 0.3)), images(rng, 80, (1.0, 1.0, 1.0))
    stream(runtime, keeper, audit, np.concatenate([drift, clean]), 1.0)
    assert runtime.alpha_plans.cap == 1.0 and keeper.recheck_after == RECHECK  # drift over: lifted
    stream(runtime, keeper, audit, images(rng, 60, (1.0, 1.0, 0.3)), 1.0)
    assert keeper.recheck_after == 2 * RECHECK and runtime.alpha_plans.cap < 1.0


def test_a_recheck_lifts_the_cap_only_when_a_cheaper_row_proves_the_promise():
    """At α = 0 the promise is 99%. A drift sends every input to the whole network; then the inputs are clean.
    20 or 40 inputs on which row a agreed every time do not prove 99% (one standard error down they are 95% and
    97.6%), so the cap stays; 60 do (98.4%), and it is lifted. Before, the first recheck lifted it on 20 inputs:
    a recheck that found no row proven lifted the cap whenever the whole network agreed no more than row a."""
    runtime, audit = StandIn(), AgreementAudit(1.0)
    keeper = PromiseKeeper(runtime, audit, lambda line: None, recheck=20)
    rng = np.random.default_rng(3)
    drift = images(rng, 40, (0.8, 0.8, 0.8))
    fed = 0
    while runtime.alpha_plans.cap != -1.0:  # the drift until no row keeps the promise: the whole network
        stream(runtime, keeper, audit, drift[fed:fed + 1], 0.0)
        fed += 1
    assert 10 <= fed < 40
    changes, _ = stream(runtime, keeper, audit, images(rng, 100, (1.0, 1.0, 1.0)), 0.0)
    assert changes[0] == 59 and runtime.alpha_plans.cap == 1.0  # lifted on the 60th clean input, not the 20th
