"""Per-exit threshold fitting on outcomes worked by hand (no model: arrays stand for what the exits said)."""

from __future__ import annotations

import numpy as np
import pytest

from edge_runtime.families.multi_exit.calibrate import ExitOutcomes, StageCosts, descend, fit_table, hindsight, simulate

# Three exits, each after a block. Stage (source, target) costs: blocks cost 10 each, heads 1 each.
HAS_BLOCK = (True, True, True)
STAGES = {(None, 0): 11.0, (None, 1): 21.0, (None, 2): 31.0, (0, 1): 11.0, (0, 2): 21.0, (1, 2): 11.0}


def outcomes(rows):
    """rows: (confidence at exit 0, 1, 2; correct at exit 0, 1, 2) per input."""
    return ExitOutcomes(np.array([r[0] for r in rows], dtype=float), np.array([r[1] for r in rows], dtype=bool))


def test_answer_costs_follow_the_stages_that_run():
    costs = StageCosts(HAS_BLOCK, STAGES)
    assert costs.answer((False, False, True)).tolist() == [np.inf, np.inf, 31.0]  # one fused invocation
    assert costs.answer((True, False, True)).tolist() == [11.0, np.inf, 32.0]  # exit 0's head is extra work
    assert costs.answer((True, True, True)).tolist() == [11.0, 22.0, 33.0]


def test_simulate_takes_the_first_exit_whose_confidence_reaches_its_threshold():
    data = outcomes([((0.9, 0.9, 0.9), (1, 1, 1)), ((0.5, 0.8, 0.9), (0, 1, 1)), ((0.2, 0.3, 0.9), (0, 0, 1))])
    taken, cost = simulate((0.6, 0.7), data, StageCosts(HAS_BLOCK, STAGES))
    assert taken.tolist() == [0, 1, 2] and cost.tolist() == [11.0, 22.0, 33.0]
    taken, cost = simulate((None, 0.0), data, StageCosts(HAS_BLOCK, STAGES))
    assert taken.tolist() == [1, 1, 1] and cost.tolist() == [21.0, 21.0, 21.0]  # exit 1 always answers


def test_the_free_step_comes_first_and_the_path_ends_at_the_cheapest_exit():
    # Exit 1 is right on every input where it is confident, so sending those there costs no accuracy
    # (a free step); exit 0 is right only on the most confident input.
    data = outcomes([((0.95, 0.99, 0.99), (1, 1, 1)),
                     ((0.40, 0.97, 0.99), (0, 1, 1)),
                     ((0.30, 0.96, 0.99), (0, 1, 1)),
                     ((0.20, 0.40, 0.99), (0, 0, 1))])
    wrong = (~data.correct).astype(float)
    path = descend(data, StageCosts(HAS_BLOCK, STAGES), wrong)
    assert path[0].setting["thresholds"] == [None, None] and path[0].cost == 31.0 and path[0].errors == 0
    # the free step: exit 1 at 0.96 sends three inputs there (21) and one on (32): no error added
    assert path[1].setting["thresholds"] == [None, 0.96] and path[1].cost == pytest.approx((3 * 21 + 32) / 4)
    assert path[1].errors == 0
    errors = [p.errors for p in path]
    costs = [p.cost for p in path]
    assert costs == sorted(costs, reverse=True) and errors == sorted(errors)
    assert path[-1].setting["thresholds"] == [0.0, None] and path[-1].cost == 11.0  # exit 0 answers everything


def test_equal_confidences_move_together():
    data = outcomes([((0.9, 0.9, 0.9), (1, 1, 1)), ((0.9, 0.9, 0.9), (0, 1, 1)), ((0.1, 0.1, 0.9), (0, 0, 1))])
    path = descend(data, StageCosts(HAS_BLOCK, STAGES), (~data.correct).astype(float))
    for point in path:
        taken, _ = simulate(tuple(point.setting["thresholds"]), data, StageCosts(HAS_BLOCK, STAGES))
        assert taken[0] == taken[1]  # the two inputs at 0.9 are never split


def test_the_table_runs_from_the_most_accurate_point_to_the_cheapest():
    rng = np.random.default_rng(3)
    n = 200
    conf = np.sort(rng.uniform(0.2, 1.0, size=(n, 3)), axis=1)
    correct = rng.uniform(size=(n, 3)) < np.array([0.6, 0.8, 0.97]) * (0.5 + conf / 2)
    data = ExitOutcomes(conf, correct)
    table = fit_table(data, StageCosts(HAS_BLOCK, STAGES))
    alphas = [p.alpha for p in table.points]
    assert alphas[0] == 0.0 and alphas[-1] == 1.0 and alphas == sorted(alphas)
    assert [p.cost for p in table.points] == sorted((p.cost for p in table.points), reverse=True)
    expected = [p.expected_accuracy for p in table.points]
    assert expected == sorted(expected, reverse=True)
    assert table.points[-1].setting["thresholds"] == [0.0, None]


def test_hindsight_is_the_cheapest_setting_meeting_the_floor():
    data = outcomes([((0.9, 0.9, 0.9), (1, 1, 1)), ((0.8, 0.9, 0.9), (0, 1, 1)), ((0.2, 0.3, 0.9), (0, 0, 1)),
                     ((0.7, 0.95, 0.9), (1, 1, 0))])
    costs = StageCosts(HAS_BLOCK, STAGES)
    bound = hindsight(data, costs, floor=1.0)
    # every input right: exit 0 may take only input 0 (0.9 > 0.8); exit 1 takes input 1 and 3; input 2 runs on
    taken, cost = simulate(tuple(bound["thresholds"]), data, costs)
    assert bound["accuracy"] == 1.0 and bound["mean_macs"] == pytest.approx(cost.mean())
    assert bound["mean_macs"] == pytest.approx((11 + 22 + 33 + 22) / 4)
    assert hindsight(data, costs, floor=0.75)["mean_macs"] < bound["mean_macs"]


def test_an_invocation_charge_keeps_an_exit_off_that_answers_too_few_to_pay_for_it():
    """Exit 1 is sure and right on one input of ten. In MACs its head (1 a stage) costs the nine others 9 and
    sending that one input there saves 10, so the plain search turns it on; charged 2 more per invocation,
    the nine others would pay 27 (its head and one more invocation, 3 each) for the same 10, so it stays off. The table's rows still state plain MACs."""
    rows = [((0.1, 0.97, 0.99), (0, 1, 1))] + [((0.1, 0.30, 0.99), (0, 0, 1))] * 9
    data = outcomes(rows)
    wrong = (~data.correct).astype(float)
    costs = StageCosts(HAS_BLOCK, STAGES)
    plain = descend(data, costs, wrong)
    assert plain[1].setting["thresholds"] == [None, 0.97] and plain[1].cost == pytest.approx((21 + 9 * 32) / 10)
    charged_costs = costs.charging(2.0)
    assert charged_costs.answer((False, True, True)).tolist() == [np.inf, 23.0, 36.0]
    charged = descend(data, charged_costs, wrong)
    assert [None, 0.97] not in [c.setting["thresholds"] for c in charged]
    table = fit_table(data, costs, per_invocation=2.0)
    assert table.figures["invocation_cost"] == 2.0 and "an invocation charged 2 macs" in table.figures["search"]
    assert [None, 0.97] not in [p.setting["thresholds"] for p in table.points]
    for point in table.points:  # plain MACs, as the runtime counts them
        _, cost = simulate(tuple(point.setting["thresholds"]), data, costs)
        assert point.cost == pytest.approx(cost.mean(), abs=1e-3)
    assert "invocation_cost" not in fit_table(data, costs).figures


def test_an_invocation_is_worth_the_chains_extra_time_in_the_networks_macs():
    from edge_runtime.families.multi_exit.invocation import invocation_macs

    # 100 µs for 1 M MACs: 10,000 MACs a µs. The chain takes 20 µs more, 200,000 MACs' worth, of which its heads
    # are 10,000 MACs; four more invocations share the rest.
    timing = {"one_us": 100.0, "every_us": 120.0, "one_macs": 1e6, "every_macs": 1.01e6, "extra_invocations": 4.0}
    assert invocation_macs(timing) == pytest.approx(47_500.0)
    assert invocation_macs({**timing, "every_us": 100.5}) == 0.0  # faster than its heads' MACs: noise, never < 0
    assert invocation_macs(None) == 0.0
