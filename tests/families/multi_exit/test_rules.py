"""The two rules on a real bundle: the α table (default) and Merkel's eq. 7 + eq. 10, and bundles without a table."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from edge_runtime.cli.main import main
from edge_runtime.families.multi_exit.exit_rule import choose_exit
from edge_runtime.families.multi_exit.invocation import invocation_macs
from edge_runtime.registry import load_bundle, open_runtime


def test_the_table_runs_from_accurate_to_cheap_and_alpha_moves_cost_steadily(runtime, test_images):
    table = runtime.bundle.header.alpha_table
    points = table.points
    assert runtime.rule == "frontier" and table.held_out_samples > 100
    assert [p.alpha for p in points] == sorted(p.alpha for p in points) and points[-1].alpha == 1.0
    assert [p.cost for p in points] == sorted((p.cost for p in points), reverse=True)
    assert [p.expected_accuracy for p in points] == sorted((p.expected_accuracy for p in points), reverse=True)
    assert points[0].cost < runtime.bundle.full_macs  # α = 0 already skips work that buys no accuracy
    images, _ = test_images
    macs = [np.mean([runtime.classify(im, runtime.plan_for_alpha(a)).macs for im in images])
            for a in np.linspace(0, 1, 11)]
    span = macs[0] - macs[-1]
    steps = np.diff(macs)
    assert steps.max() <= 0.01 * runtime.bundle.full_macs and -steps.min() <= 0.3 * span


def test_rule_merkel_is_eq_7_then_eq_10(digits_bundle, test_images):
    merkel = open_runtime(digits_bundle, rule="merkel")
    images, _ = test_images
    for alpha in (0.0, 0.5, 0.9, 0.99, 1.0):
        desired = merkel.desired_accuracy(alpha)
        plan = merkel.plan_for_alpha(alpha)
        for image in images[:60]:
            labels, confidences = merkel.exit_scores(image)
            expected = choose_exit(confidences, merkel.accuracies, desired, merkel.beta1, merkel.beta2)
            decision = merkel.classify(image, plan)
            assert merkel.route_names.index(decision.answered_by) == expected
            assert decision.label == labels[expected]


def test_a_bundle_without_a_table_says_which_rule_it_uses_and_calibrate_adds_one(bundle_copy, capsys):
    path = os.path.join(bundle_copy, "manifest.json")
    with open(path) as f:
        manifest = json.load(f)
    original = manifest.pop("alpha_table")
    with open(path, "w") as f:
        json.dump(manifest, f)
    old = open_runtime(bundle_copy)
    assert old.rule == "merkel" and "has no α table" in old.rule_note
    assert main(["eval", bundle_copy, "--dataset", "digits", "--limit", "30", "--points", "3", "--json"]) == 0
    captured = capsys.readouterr()
    assert "warning: " in captured.err and "'edge-runtime calibrate' adds a table" in captured.err
    assert json.loads(captured.out)["rule"] == "merkel"
    from tests.conftest import FIXTURE_INVOCATION_COST

    assert original["invocation_cost"] == float(FIXTURE_INVOCATION_COST)
    assert main(["calibrate", bundle_copy, "--dataset", "digits", "--json", "--invocation-cost",
                 FIXTURE_INVOCATION_COST]) == 0
    assert json.loads(capsys.readouterr().out) == original  # the converter's table, fitted again on the device
    # without --invocation-cost, calibrate times an invocation on this machine and records what it timed
    assert main(["calibrate", bundle_copy, "--dataset", "digits", "--json"]) == 0
    timed = json.loads(capsys.readouterr().out)
    timing = timed["invocation_timing"]
    assert timing["one_us"] > 0 and timing["every_us"] > 0 and timing["extra_invocations"] == 3
    assert timed.get("invocation_cost", 0.0) == pytest.approx(invocation_macs(timing), abs=1e-3)
    assert load_bundle(bundle_copy).header.alpha_table is not None and open_runtime(bundle_copy).rule_note is None
    # --unseen: photos labelled on the board, all of them new to the model, all fit the table
    assert main(["calibrate", bundle_copy, "--dataset", "digits", "--unseen", "--json", "--invocation-cost",
                 FIXTURE_INVOCATION_COST]) == 0
    captured = capsys.readouterr()
    assert "fitting the α table on 1797 images of digits (all of them: --unseen)" in captured.err
    assert json.loads(captured.out)["held_out_samples"] == 1797


def test_accuracy_picks_the_cheapest_point_reaching_it(runtime):
    plans = runtime.alpha_plans
    above_floor = [p for p in plans.table.points if p.expected_accuracy >= plans.floor_accuracy]
    middle = above_floor[len(above_floor) // 2]
    plan = runtime.plan_for_accuracy(middle.expected_accuracy)
    alpha = middle.alpha / plans.end  # the table's α, as a share of the way to the floor
    cheaper = runtime.plan_for_alpha(min(1.0, alpha + 0.05))
    assert 0 < alpha < 1 and plans.alpha_for_accuracy(middle.expected_accuracy) == pytest.approx(alpha)
    assert plan is runtime.plan_for_setting(middle.setting) and cheaper is not plan


def test_the_merkel_sweep_shows_each_alpha_once(runtime):
    """eq. 7's own α points were added beside the evenly spaced ones unrounded: 0.15 and 0.150004 both
    printed as 0.15."""
    from edge_runtime.families.multi_exit.evaluate import sweep_alphas

    alphas = sweep_alphas(runtime, 21)
    shown = [f"{a:.2f}" for a in alphas]
    assert len(shown) == len(set(shown))
    assert len(alphas) > 21  # eq. 7's points are still there where they add something
