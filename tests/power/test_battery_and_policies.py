"""State of charge and α policies, with numbers worked by hand."""

from __future__ import annotations

import dataclasses
import datetime
import math

import pytest

from edge_runtime.core.floor import Floor
from edge_runtime.core.frontier import Candidate, build_table
from edge_runtime.core.operating import AlphaPlans
from edge_runtime.power.battery import BatteryState, SocEstimator
from edge_runtime.power.policies import Lifetime, Linear, PolicyError, Table, parse_policy
from edge_runtime.power.profiles import load_profile
from edge_runtime.power.samples import NAN, Sample


@pytest.fixture
def cell():
    # 1000 mAh = 3600 C; 0.1 Ω
    return dataclasses.replace(load_profile("liion-1s-pisugar", "battery"), capacity_mah=1000.0,
                               internal_resistance_ohm=0.1)


def sample(t, volts=NAN, amps=NAN, percent=NAN):
    return Sample(t, 1e9 + t, volts, amps, NAN if math.isnan(volts) or math.isnan(amps) else volts * amps, percent)


def state(soc, drain=0.0, t=0.0):
    return BatteryState(t, 1e9 + t, soc, 3.8, 0.5, 1.9, drain, "coulomb")


def test_device_percentage_is_used_and_smoothed():
    est = SocEstimator(None, smoothing_s=10.0)
    assert est.update(sample(0.0, percent=80.0)).soc == pytest.approx(0.80)
    # a jump to 60 % is followed at dt/(τ+dt) = 10/20 per step, not at once
    assert est.update(sample(10.0, percent=60.0)).soc == pytest.approx(0.70)
    assert est.update(sample(10.0, volts=3.8)).source == "device"  # no percentage, no battery: keep the state


def test_start_from_the_ocv_with_the_ir_drop_added_back(cell):
    est = SocEstimator(cell)
    # 3.92 V is 65 % at rest; under 1 A through 0.1 Ω the terminals read 3.82 V
    assert est.update(sample(0.0, 3.82, 1.0)).soc == pytest.approx(0.65)


def test_coulomb_counting(cell):
    est = SocEstimator(cell, ocv_under_load_s=1e12)
    est.update(sample(0.0, 3.82, 1.0))  # 65 %
    for t in (12.0, 24.0, 36.0):
        s = est.update(sample(t, 3.82, 1.0))  # 1 A · 36 s = 36 C = 1 % of 3600 C
    assert s.soc == pytest.approx(0.64, abs=1e-6) and s.source == "coulomb"
    assert s.drain_per_s > 0 and s.time_to_empty_s < math.inf


def test_rest_pulls_the_estimate_to_the_ocv(cell):
    est = SocEstimator(cell, rest_s=30.0, smoothing_s=10.0, ocv_under_load_s=1e12)
    est.update(sample(0.0, 3.82, 1.0))  # 65 %
    v_40 = 3.86  # 40 % on the curve: the cell really is emptier than counted
    for t in range(1, 200):
        s = est.update(sample(float(t), v_40, 0.0))
    assert s.soc == pytest.approx(0.40, abs=0.01)
    under_load = SocEstimator(cell, rest_s=30.0, ocv_under_load_s=1e12)
    under_load.update(sample(0.0, 3.82, 1.0))
    for t in range(1, 20):  # 19 s at rest: not yet trusted
        s = under_load.update(sample(float(t), v_40, 0.0))
    assert s.soc == pytest.approx(0.65, abs=0.001)


def test_a_long_silence_restarts_from_the_ocv(cell):
    est = SocEstimator(cell, max_step_s=30.0)
    est.update(sample(0.0, 3.82, 1.0))
    assert est.update(sample(100.0, 3.86 - 0.1, 1.0)).soc == pytest.approx(0.40)


def test_linear():
    assert Linear()(state(0.3), 0, 0, 1) == pytest.approx(0.7)
    assert Linear(0.9, 1.0)(state(0.5), 0, 0, 1) == pytest.approx(0.95)


def test_table_with_hysteresis():
    table = Table(((0.5, 0.0), (0.2, 0.8), (0.0, 1.0)), hysteresis=0.05)
    assert table(state(0.6), 0, 0.0, 1) == 0.0
    assert table(state(0.49), 0, 0.0, 1) == 0.8      # falling: switches at the threshold
    assert table(state(0.52), 0, 0.8, 1) == 0.8      # rising: not until 0.55
    assert table(state(0.56), 0, 0.8, 1) == 0.0
    assert table(state(0.1), 0, 0.8, 1) == 1.0


def test_lifetime_raises_alpha_when_life_falls_short():
    policy = Lifetime(deadline=1000.0 + 3600.0, response_s=60.0)
    short = state(0.5, drain=0.5 / 1800)  # 30 min left, 60 needed: error 0.5
    assert policy(short, 1000.0, 0.2, 6.0) == pytest.approx(0.2 + 0.5 * 6 / 60)
    long = state(0.5, drain=0.5 / 7200)  # 2 h left: error −1
    assert policy(long, 1000.0, 0.2, 6.0) == pytest.approx(0.2 - 6 / 60)
    assert policy(state(0.5), 1000.0, 0.0, 6.0) == 0.0  # not discharging: nothing to save
    assert policy(short, 9999.0, 0.3, 6.0) == 0.3  # past the deadline: hold


def table_plans(floor=Floor(points=2.0), held_out=10_000):
    """α = 0 expects 99%, table α 0.375 expects 98%, the cheapest (table α 1) 90%; costs 9, 6, 1."""
    n = held_out
    table = build_table([Candidate(9, n / 100, n * 0.99, {"k": "a"}), Candidate(6, n / 50, n * 0.98, {"k": "b"}),
                         Candidate(1, n / 10, n * 0.9, {"k": "z"})], n)
    return AlphaPlans(table, lambda setting: setting["k"], floor)


def test_linear_runs_alpha_to_the_accuracy_floor():
    plans = table_plans()
    assert plans.floor_accuracy == pytest.approx(0.97) and plans.end == pytest.approx(0.453125)

    # the stricter of the bundle's −2 and half a point less the standard error of 99% on 10,000 images:
    # 0.5 − 100·√(0.99·0.01/10,000) = 0.40050 points; the table falls 1 point over 0.375 of α
    plain = parse_policy("linear", 0, plans)
    assert plain == Linear(0.0, 1.0) and "0.40 point under α = 0" in plain.basis and "10,000 held-out" in plain.basis
    assert plans.floor_accuracy == pytest.approx(0.99 - 0.0040050, abs=1e-6)
    assert plans.end == pytest.approx(0.375 * 0.40050, abs=1e-4)

    assert parse_policy("linear:loss=5", 0, plans) == Linear(0.0, 1.0)
    assert plans.floor_accuracy == pytest.approx(0.94) and plans.end == pytest.approx(0.6875)
    assert "linear:loss=5 sets the accuracy floor" in parse_policy("linear:loss=5", 0, plans).basis
    assert plans.plan(1.0).share == pytest.approx(0.5)  # halfway from b to z: the floor, not the cheapest point

    parse_policy("linear:loss=0", 0, plans)
    assert plans.end == 0.0 and plans.plan(1.0) == "a"

    few = table_plans(held_out=100)  # 99% on 100 images: a standard error of 0.99 points, over the half point
    assert "0.00 point under α = 0" in parse_policy("linear", 0, few).basis and few.end == 0.0

    strict = table_plans(Floor(accuracy=0.989))
    parse_policy("linear", 0, strict)  # a floor stricter than half a point stays
    assert strict.floor_accuracy == 0.989

    kept = table_plans()
    assert parse_policy("linear:hi=0.5", 0, kept) == Linear(0.0, 0.5) and kept.floor_accuracy == pytest.approx(0.97)
    assert parse_policy("linear:lo=0.3", 0, kept) == Linear(0.3, 1.0)
    assert parse_policy("linear", 0, None) == Linear(0.0, 1.0)  # no table: α = 1 − SoC
    assert "no α table" in parse_policy("linear", 0, None).basis
    for bad in ("linear:loss=-1", "linear:loss=x", "linear:loss=1,hi=0.5", "linear:loss=inf", "linear:top=1"):
        with pytest.raises(PolicyError, match="expected"):
            parse_policy(bad, 0.0, plans)


def test_policy_specs():
    assert parse_policy("linear:lo=0.9,hi=1", 0) == Linear(0.9, 1.0)
    table = parse_policy("table:80%=0,50%=0.9,0%=1,hysteresis=0.01", 0)
    assert table.steps == ((0.8, 0.0), (0.5, 0.9), (0.0, 1.0)) and table.hysteresis == 0.01
    assert parse_policy("lifetime:2h30m", 100.0).deadline == 100.0 + 9000.0
    noon = datetime.datetime(2026, 11, 27, 12, 0).timestamp()  # local time, as the policy reads clocks
    assert parse_policy("lifetime:until=18:00", noon).deadline == datetime.datetime(2026, 11, 27, 18, 0).timestamp()
    assert parse_policy("lifetime:until=09:30", noon).deadline == datetime.datetime(2026, 11, 28, 9, 30).timestamp()
    for bad in ("fast", "linear:lo=2", "table:50%=0.5", "lifetime:soon", "lifetime:until=25:00", "table:x=1,0=1"):
        with pytest.raises(PolicyError, match="expected"):
            parse_policy(bad, 0.0)
