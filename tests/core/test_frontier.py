"""The frontier and α along it, with numbers worked by hand."""

from __future__ import annotations

import pytest

from edge_runtime.core.frontier import Candidate, alpha_table, build_table, hull, locate, most_accurate
from edge_runtime.core.operating import AlphaPlans, Mix


def c(cost, errors, name):
    return Candidate(cost, errors, 100 - round(errors), name)


def test_the_hull_keeps_the_points_that_buy_accuracy_with_energy():
    points = [c(10, 1.0, "full"), c(5, 1.2, "a"), c(3, 2, "b"), c(4, 5, "under"), c(1, 20, "cheap"), c(2, 6, "c")]
    # 'full' is within half an error of 'a' but dearer: work that buys no accuracy. 'under' lies above the
    # segment b → a: mixing b and a reaches its cost with fewer errors.
    assert [p.setting for p in hull(points)] == ["a", "b", "c", "cheap"]
    assert most_accurate(points).setting == "a"
    assert most_accurate(points, tie=0.1).setting == "full"


def test_a_free_first_step_makes_the_full_network_leave_the_frontier():
    # dropping from 10 to 6 costs no accuracy (a free step): α = 0 is the cheaper point
    points = [c(10, 2, "full"), c(6, 2, "free"), c(2, 8, "cheap")]
    front = hull(points)
    assert [p.setting for p in front] == ["free", "cheap"]
    table = alpha_table(front, 100)
    assert [(p.alpha, p.setting) for p in table] == [(0.0, "free"), (1.0, "cheap")]


def test_ties_in_cost_keep_the_more_accurate_point():
    points = [c(8, 3, "worse"), c(8, 2, "better"), c(4, 4, "mid"), c(1, 9, "cheap")]
    assert [p.setting for p in hull(points)] == ["better", "mid", "cheap"]


def test_alpha_is_the_share_of_the_cost_range_saved():
    table = alpha_table([c(9, 1, "a"), c(6, 2, "b"), c(1, 10, "z")], 100)
    assert [p.alpha for p in table] == [0.0, 0.375, 1.0]  # (9 − 6) / (9 − 1)
    assert [p.accuracy for p in table] == [0.99, 0.98, 0.9]
    only = alpha_table([c(5, 1, "only")], 100)
    assert [(p.alpha, p.setting) for p in only] == [(0.0, "only"), (1.0, "only")]


def test_locate():
    assert locate([0.0, 0.25, 1.0], 0.0) == (0, 0.0)
    assert locate([0.0, 0.25, 1.0], 0.25) == (1, 0.0)
    assert locate([0.0, 0.25, 1.0], 0.625) == (1, 0.5)
    assert locate([0.0, 0.25, 1.0], 1.0) == (2, 0.0)


def test_a_mix_sends_exactly_its_share_evenly():
    mix = Mix("dear", "cheap", 0.25)
    picks = [mix.pick() for _ in range(400)]
    assert picks.count("cheap") == 100
    assert max(len(run) for run in "".join("c" if p == "cheap" else "d" for p in picks).split("c")) == 3


def test_alpha_plans_interpolate_cost_and_accuracy():
    table = build_table([c(9, 1, {"k": "a"}), c(6, 2, {"k": "b"}), c(1, 10, {"k": "z"})], 100)
    plans = AlphaPlans(table, lambda setting: setting["k"])
    assert plans.plan(0.0) == "a" and plans.plan(0.375) == "b" and plans.plan(1.0) == "z"
    mixed = plans.plan(0.6875)  # halfway from b (0.375) to z (1)
    assert isinstance(mixed, Mix) and (mixed.dear, mixed.cheap, mixed.share) == ("b", "z", 0.5)
    assert plans.plan(0.6875) is mixed  # asked for per input, the same α still mixes evenly
    assert plans.expected(0.6875) == pytest.approx((3.5, 0.94))
    assert plans.alpha_for_accuracy(0.98) == 0.375 and plans.alpha_for_accuracy(0.999) == 0.0
    assert plans.alpha_for_accuracy(0.94) == pytest.approx(0.6875)


def test_alpha_plans_build_a_row_only_when_it_is_first_used():
    table = build_table([c(9, 1, {"k": "a"}), c(6, 2, {"k": "b"}), c(1, 10, {"k": "z"})], 100)
    built: list[str] = []
    plans = AlphaPlans(table, lambda setting: built.append(setting["k"]) or setting["k"].upper())
    assert built == []
    assert plans.plan(0.0) == "A" and plans.plan(0.0) == "A"
    assert built == ["a"]
    mixed = plans.plan(0.6875)
    assert (mixed.dear, mixed.cheap) == ("B", "Z") and built == ["a", "b", "z"]


def test_alpha_within_an_accuracy_budget():
    """α = 0 expects 99%, 0.375 expects 98%, 1 expects 90%: the budget is points below α = 0's."""
    table = build_table([c(9, 1, {"k": "a"}), c(6, 2, {"k": "b"}), c(1, 10, {"k": "z"})], 100)
    plans = AlphaPlans(table, lambda setting: setting["k"])
    assert plans.alpha_within_loss(0.0) == 0.0
    assert plans.alpha_within_loss(1.0) == pytest.approx(0.375)
    assert plans.alpha_within_loss(0.5) == pytest.approx(0.1875)
    assert plans.alpha_within_loss(5.0) == pytest.approx(0.6875)
    assert plans.alpha_within_loss(9.0) == pytest.approx(1.0) and plans.alpha_within_loss(50.0) == 1.0
