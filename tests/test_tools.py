"""The benchmarks under tools/ run on the session's bundles (one round): a renamed report key once
crashed bench_gated after its bundle had taken four minutes to build."""

from __future__ import annotations

import json

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
