"""The accuracy floor: its text forms, and α ending at it along an α table."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, strategies as st

from edge_runtime.core.floor import Floor, is_floor, parse_floor
from edge_runtime.core.frontier import Candidate, build_table
from edge_runtime.core.operating import AlphaPlans, describe_ends


def test_the_three_forms():
    assert parse_floor("0.95") == Floor(accuracy=0.95)
    assert parse_floor("-2") == Floor(points=2.0)
    assert parse_floor(" None ") == Floor()
    assert parse_floor("-0") == Floor(points=0.0)
    assert Floor(points=2.0).level(0.99) == pytest.approx(0.97)
    assert Floor(accuracy=0.9).level(0.99) == 0.9 and Floor().level(0.99) == 0.0
    for bad, says in (("95", "fraction"), ("0", "expected"), ("-101", "100 points"), ("two", "expected"),
                      ("", "expected"), ("1.5", "fraction")):
        with pytest.raises(ValueError, match=says):
            parse_floor(bad)


@given(st.one_of(st.floats(min_value=0.0, max_value=1.0, exclude_min=True).map(lambda v: f"{v:g}"),
                 st.floats(min_value=0.0, max_value=100.0).map(lambda v: f"-{v:g}"),
                 st.just("none")))
def test_a_floor_reads_back_as_itself(text):
    floor = parse_floor(text)
    assert parse_floor(str(floor)) == floor


@given(st.text(max_size=12))
def test_any_text_is_a_floor_or_a_value_error(text):
    try:
        floor = parse_floor(text)
    except ValueError as error:
        assert "expected" in str(error) and not is_floor(text)
    else:
        assert is_floor(text) and isinstance(floor, Floor)


def plans(floor):
    """α = 0 expects 99% at cost 9, the table's α 0.375 98% at 6, its cheapest point 90% at 1."""
    table = build_table([Candidate(9, 1, 99, "a"), Candidate(6, 2, 98, "b"), Candidate(1, 10, 90, "z")], 100)
    return AlphaPlans(table, lambda setting: setting, floor)


def test_alpha_one_is_the_cheapest_mix_at_the_floor():
    at = plans(Floor(points=2.0))  # 97%: a quarter of the way from b (98%) to z (90%)
    cost, accuracy = at.expected(1.0)
    assert accuracy == pytest.approx(0.97) and cost == pytest.approx(5.375)
    mix = at.plan(1.0)
    assert (mix.dear, mix.cheap, mix.share) == ("b", "z", pytest.approx(0.125))
    assert at.plan(0.0) == "a"
    # cost stays linear in α between α = 0 and the floor
    for alpha in (0.25, 0.5, 0.75):
        assert at.expected(alpha)[0] == pytest.approx(9 - alpha * (9 - 5.375))
    assert at.alpha_for_accuracy(0.5) == 1.0  # no α goes under the floor
    assert at.alpha_for_accuracy(0.98) == pytest.approx(0.375 / 0.453125)


def test_no_floor_and_a_floor_above_alpha_zero():
    assert plans(Floor()).plan(1.0) == "z" and plans(Floor()).end == 1.0
    assert plans(Floor(accuracy=0.5)).plan(1.0) == "z"  # under the cheapest point: the cheapest point
    above = plans(Floor(accuracy=0.995))
    assert above.end == 0.0 and above.plan(1.0) == "a" and above.alpha_for_accuracy(0.9) == 0.0


def test_both_ends_are_said():
    text = describe_ends(plans(Floor(points=2.0)).table, Floor(points=2.0), 9.0)
    assert "α = 0 expects 99.00% at 100.0% of the cost" in text
    assert "α = 1 expects 97.00% at 59.7% of the cost, the floor (2 point(s) under" in text
    assert "the cheapest point, under it, expects 90.00% at 11.1% of the cost" in text
    assert "α = 1 expects 90.00% at 11.1% of the cost, the cheapest point (floor: none" in describe_ends(
        plans(Floor()).table, Floor(), 9.0)


def test_the_sweep_states_the_held_out_interval_and_the_promise_line_counts_it():
    from edge_runtime.core.sweep import promise_line

    rows = [fields for fields, _ in plans(Floor(points=2.0)).sweep(3)]
    first = rows[0]
    assert first["held_out_accuracy"] == pytest.approx(0.99)  # counted: 99 of 100
    assert first["held_out_low"] < 0.99 < first["held_out_high"] and first["held_out_low"] == pytest.approx(0.9455, abs=1e-3)
    assert first["expected_agreement"] is None  # a table made without agreement
    measured = [dict(r, accuracy=a) for r, a in zip(rows, (0.985, 0.90, 0.975))]
    assert promise_line(measured).startswith("test accuracy inside the held-out count's 95% interval at 2 of 3 α")
    assert promise_line([{"alpha": 0.0, "accuracy": 0.9}]) is None


def test_a_cap_holds_alpha_at_a_dearer_row_and_a_negative_one_runs_the_whole_network():
    at = plans(Floor())
    at.set_cap(0.375)
    assert at.plan(1.0) == "b" and at.plan(0.0) == "a" and at.expected(1.0)[0] == 6
    assert at.expected_agreement(1.0) is None  # the promise is the table's at α, not the cap's
    at.set_cap(-1.0, "whole network")
    assert at.plan(0.0) == at.plan(1.0) == "whole network"
    at.set_cap(1.0)
    assert at.plan(1.0) == "z" and at.deepest is None


def test_expected_macs_are_the_tables_cost_in_macs_and_none_in_joules():
    """What the audit's free drift sign compares answers' MACs with: a table refitted on joules has none."""
    at = plans(Floor(points=2.0))
    assert at.expected_macs(1.0) == pytest.approx(5.375) and at.expected_macs(0.0) == pytest.approx(9.0)
    at.set_cap(0.0)  # --adapt's cap: every α at the table's α = 0, and its cost (not a cached one)
    assert at.expected_macs(1.0) == pytest.approx(9.0)
    at.set_cap(1.0)
    assert at.expected_macs(1.0) == pytest.approx(5.375)
    table = build_table([Candidate(9, 1, 99, "a"), Candidate(1, 10, 90, "z")], 100, unit="joules")
    assert AlphaPlans(table, lambda setting: setting).expected_macs(0.5) is None


def test_held_out_error_is_the_binomial_standard_error():
    from edge_runtime.core.floor import held_out_error

    assert held_out_error(0.99, 10_000) == pytest.approx(0.000995, abs=1e-6)  # √(0.99·0.01/10,000)
    assert held_out_error(1.0, 200) == 0.0
    assert held_out_error(1.0, 200, least_variance=1e-4) == pytest.approx(math.sqrt(1e-4 / 200))
    assert held_out_error(1.2, 0) == 0.0  # clamped to [0, 1]; no images counts as one
