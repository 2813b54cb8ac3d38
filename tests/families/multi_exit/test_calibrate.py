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
