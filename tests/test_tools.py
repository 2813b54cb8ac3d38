"""The benchmarks under tools/ run on the session's bundles (one round): a renamed report key once
crashed bench_gated after its bundle had taken four minutes to build."""

from __future__ import annotations

import json
import os

import pytest

from tools import bench_gated, bench_pruned


def test_bench_gated_runs(gated_bundle, capsys):
    assert bench_gated.main([gated_bundle, "--rounds", "1", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert {"ungated", "at_equal_accuracy", "curve"} <= set(result)
    assert "modelled_energy_saving" in result["curve"][0]


def test_bench_pruned_runs(pruned_bundle, capsys):
    assert bench_pruned.main([pruned_bundle, "--rounds", "1", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["original"]["macs"] > 0


def test_bench_seeds_runs(digits_bundle, monkeypatch, capsys):
    from tools import bench_seeds

    built = []
    monkeypatch.setattr(bench_seeds, "cached_bundle", lambda *args, **kw: built.append(args) or digits_bundle)
    assert bench_seeds.main(["--seeds", "7", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert built[0][2] == ["--seed", "7"] and row["seed"] == 7
    assert 0.0 < row["monolithic_accuracy"] <= 1.0 and 0.0 < row["alpha0_accuracy"] <= 1.0
    assert row["battery_images_ratio"] > 0.0 and -100.0 <= row["battery_accuracy_change_points"] <= 100.0


@pytest.mark.slow
def test_a_benchmark_bundle_is_built_without_writing_to_stdout(tmp_path, monkeypatch, capfd):
    """``--json`` output must be JSON alone: the converter's summary table once came out on stdout before it."""
    from tools.benchlib import cached_bundle

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    bundle = cached_bundle("multi-exit", "tiny", ["--epochs", "1", "--filters", "8", "--blocks", "2"], "seconds")
    captured = capfd.readouterr()
    assert os.path.isfile(os.path.join(bundle, "manifest.json")) and bundle.startswith(str(tmp_path))
    assert captured.out == "" and "exit_0" in captured.err
