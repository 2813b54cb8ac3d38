"""The benchmarks under tools/ run on the session's bundles (one round): a renamed report key once
crashed bench_gated after its bundle had taken four minutes to build."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from tools import bench_gated, bench_pruned


def test_bench_gated_runs(gated_bundle, capsys):
    assert bench_gated.main([gated_bundle, "--rounds", "1", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert {"ungated", "at_equal_accuracy", "curve"} <= set(result)
    assert "cores" in result["cpu"]  # timings say which CPU they were taken on
    assert "modelled_energy_saving" in result["curve"][0]


def test_bench_pruned_runs(pruned_bundle, capsys):
    assert bench_pruned.main([pruned_bundle, "--rounds", "1", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["original"]["macs"] > 0 and "cores" in result["cpu"]


def test_bench_seeds_runs(digits_bundle, monkeypatch, capsys):
    from tools import bench_seeds

    built = []
    monkeypatch.setattr(bench_seeds, "cached_bundle", lambda *args, **kw: built.append(args) or digits_bundle)
    assert bench_seeds.main(["--seeds", "7", "--resplits", "3", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert built[0][2] == ["--seed", "7"] and row["seed"] == 7
    assert 0.0 < row["monolithic_accuracy"] <= 1.0 and 0.0 < row["alpha0_accuracy"] <= 1.0
    assert row["battery_images_ratio"] > 0.0 and -100.0 <= row["battery_accuracy_change_points"] <= 100.0
    assert -100.0 <= row["held_out_hindsight_on_test_points"] <= 100.0
    assert set(row["resplits"]) == {"blended", "logistic", "isotonic"}
    for splits in row["resplits"].values():
        median = splits["median_macs_vs_hindsight"]  # None: α = 0 fell short of the floor on most re-splits
        assert splits["count"] == 3 and (median > 0.0 if median is not None else splits["share_alpha0_short"] > 0.5)
        assert 0.0 <= splits["share_within_target"] <= 1.0 and 0.0 <= splits["share_alpha0_short"] <= 1.0


def test_the_least_cost_along_a_table_mixes_down_to_the_floor():
    """Worked by hand: three exits after blocks (blocks 10, heads 1); four inputs, exit 0 right on the first."""
    from edge_runtime.core.manifest import AlphaTable, OperatingPoint
    from edge_runtime.families.multi_exit.calibrate import ExitOutcomes, StageCosts
    from tools.bench_seeds import least_cost_within

    costs = StageCosts((True, True, True), {(None, 0): 11.0, (None, 1): 21.0, (None, 2): 31.0, (0, 1): 11.0,
                                            (0, 2): 21.0, (1, 2): 11.0})
    outcomes = ExitOutcomes(np.array([[0.9, 0.5, 0.9], [0.8, 0.5, 0.9], [0.3, 0.5, 0.9], [0.2, 0.5, 0.9]]),
                            np.array([[1, 0, 1], [0, 0, 1], [0, 0, 1], [0, 0, 1]], dtype=bool))
    rows = [(0.0, None), (0.3, 0.85), (1.0, 0.0)]  # all at exit 2 (31); one at exit 0 (26.75); all at exit 0 (11)
    table = AlphaTable("macs", 4, tuple(OperatingPoint(a, 1.0, 1.0, 1.0, {"thresholds": [t, None]}) for a, t in rows))
    assert least_cost_within(table, outcomes, costs, 0.75) == pytest.approx(21.5)  # a third of the way to exit 0
    assert least_cost_within(table, outcomes, costs, 0.25) == pytest.approx(11.0)
    assert least_cost_within(table, outcomes, costs, 1.0) == pytest.approx(26.75)
    assert least_cost_within(table, outcomes, costs, 1.01) is None


@pytest.mark.slow
def test_a_benchmark_bundle_is_built_without_writing_to_stdout(tmp_path, monkeypatch, capfd):
    """``--json`` output must be JSON alone: the converter's summary table once came out on stdout before it."""
    from tools.benchlib import cached_bundle

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    bundle = cached_bundle("multi-exit", "tiny", ["--epochs", "1", "--filters", "8", "--blocks", "2"], "seconds")
    captured = capfd.readouterr()
    assert os.path.isfile(os.path.join(bundle, "manifest.json")) and bundle.startswith(str(tmp_path))
    assert captured.out == "" and "exit_0" in captured.err


def test_bench_audit_sees_drift_without_labels(digits_bundle, capsys):
    """Blurred and noisy copies of the test split agree less with the monolithic network than clean ones, and
    with every input audited the audit's estimate is the delivered agreement."""
    from tools import bench_audit

    assert bench_audit.main([digits_bundle, "--points", "2", "--audit", "1", "--json"]) == 0
    shifts = json.loads(capsys.readouterr().out)["shifts"]
    assert set(shifts) == {"as captured", "sensor noise", "under-exposed, low contrast", "out of focus", "moved camera"}
    clean = shifts["as captured"]["rows"][-1]
    assert clean["audited"] == 359 and clean["expected_agreement"] is not None
    assert clean["estimated_agreement"] == pytest.approx(clean["agreement"])
    assert shifts["as captured"]["verdict"]["interval_holds_delivered"] == 2
    drifted = [shifts[name]["rows"][-1]["agreement"] for name in ("sensor noise", "out of focus", "moved camera")]
    assert min(drifted) < clean["agreement"]


def test_bench_architectures_measures_a_pruned_bundles_savings(pruned_bundle):
    from tools.bench_architectures import family_savings

    result = family_savings(pruned_bundle, "digits", 100)
    assert result["test_images"] == 100 and 0.0 < result["monolithic_accuracy"] <= 1.0
    assert 0.0 < result["alpha_0"]["mac_saving"] <= result["alpha_1"]["mac_saving"] < 1.0
    assert result["alpha_1"]["accuracy"] == pytest.approx(
        result["monolithic_accuracy"] + result["alpha_1"]["points_vs_monolithic"] / 100, abs=1e-4)


def test_bench_heads_times_both_poolings_and_keeps_stdout_for_data(capfd):
    from tools import bench_heads

    assert bench_heads.main(["--maps", "48x48x8", "--rounds", "1", "--json"]) == 0
    captured = capfd.readouterr()
    (row,) = json.loads(captured.out)["rows"]  # the converter's own prints went to stderr
    assert "AVERAGE_POOL_2D" in row["average_pool"]["ops"] and "AVERAGE_POOL_2D" not in row["tile_mean"]["ops"]
    assert "DEPTHWISE_CONV_2D" in row["depthwise"]["ops"] and "AVERAGE_POOL_2D" not in row["depthwise"]["ops"]
    for pooling in ("tile_mean", "depthwise"):
        assert row[pooling]["us"] > 0 and 0 <= row[pooling]["probs_error"] < 0.05


@pytest.mark.parametrize("maps, says", [("48x48", "expected H×W×C"), ("50x50x8", "must divide both sides")])
def test_bench_heads_refuses_a_map_it_cannot_tile_in_one_line(maps, says, capsys):
    from tools import bench_heads

    with pytest.raises(SystemExit) as exit_info:
        bench_heads.main(["--maps", maps])
    assert exit_info.value.code == 2 and says in capsys.readouterr().err


def test_chain_latencies_time_every_exit_and_every_other_exit(digits_bundle):
    """bench_multi_exit and bench_architectures print these: the chain through every exit, through every other
    exit (fewer invocations), and the whole network as one."""
    from edge_runtime.registry import open_runtime
    from tools.bench_multi_exit import chain_latencies

    runtime = open_runtime(digits_bundle)
    images = [np.zeros(runtime.bundle.input.image_shape, np.int8) for _ in range(4)]
    result = chain_latencies(runtime, images, rounds=1)
    last = len(runtime.exits) - 1
    assert result["every_joint_invocations"] == last + 1 and result["plan_invocations_alpha0"] == 1
    assert result["every_other_joint_invocations"] == len(range(1, last, 2)) + 1
    assert all(result[k] > 0 for k in ("monolithic", "plan_alpha0", "every_joint", "every_other_joint"))


@pytest.mark.parametrize("kind", ["digits", "squares"])
def test_make_dataset_writes_a_folder_of_photos_the_converter_reads(tmp_path, kind):
    from edge_runtime.core.datasets import load_dataset
    from tools import make_dataset

    out = str(tmp_path / "photos")
    assert make_dataset.main(["--out", out, "--photos", "--kind", kind, "--size", "16", "--train", "40",
                              "--test", "10"]) == 0
    files = [os.path.join(root, name) for root, _, names in os.walk(out) for name in names]
    assert len(files) == 50 and not os.path.exists(out + ".partial")
    assert {os.path.splitext(f)[1] for f in files} == {".png", ".jpg"}
    from PIL import Image

    sides = set()
    for f in files:
        with Image.open(f) as photo:
            sides.add(photo.size[0])
    assert min(sides) >= 12 and max(sides) <= 24 and len(sides) > 3  # mixed sizes around --size
    data = load_dataset(out, size=(16, 16))
    assert len(data.y_train) + len(data.y_test) == 50 and data.image_shape[:2] == (16, 16)
    assert len(data.labels) == (4 if kind == "squares" else len(set(os.listdir(out))))
    with pytest.raises(SystemExit):
        make_dataset.main(["--out", out, "--photos", "--size", "16", "--train", "4", "--test", "1"])  # exists
