"""--strategy and streamed datasets through edge-convert, as users type them."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from converters.cli.main import main
from edge_runtime.registry import load_bundle
from tools.bench_strategies import run_workers

TINY = ["--epochs", "2", "--filters", "4", "--blocks", "2", "--quiet", "--json"]


def _convert(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "converters", *args], capture_output=True, text=True, timeout=900)


def test_multiworker_without_tf_config_is_refused_in_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert main(["multi-exit", "--out", str(tmp_path / "b"), "--strategy", "multiworker"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Error: --strategy multiworker: TF_CONFIG is not set") and err.count("\n") == 1
    assert main(["multi-exit", "--out", str(tmp_path / "b"), "--cpu-devices", "2"]) == 1
    assert "with --strategy mirrored" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "b")


def test_mirrored_over_two_logical_cpus_writes_a_bundle(tmp_path):
    done = _convert("multi-exit", "--out", str(tmp_path / "b"), "--strategy", "mirrored", "--cpu-devices", "2", *TINY)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert len(summary["exits"]) == 3 and summary["exits"][-1]["accuracy"] > 0.5  # chance is 0.1
    assert load_bundle(str(tmp_path / "b")).family == "multi_exit"


def test_two_workers_on_localhost_write_one_bundle(tmp_path):
    out = str(tmp_path / "b")
    chief, other = run_workers(["multi-exit", *TINY], out, timeout=900)
    assert chief.returncode == 0 and other.returncode == 0, chief.stderr[-2000:] + other.stderr[-2000:]
    summary = json.loads(chief.stdout)
    assert summary["exits"][-1]["accuracy"] > 0.5 and other.stdout == ""
    assert load_bundle(out).family == "multi_exit" and not os.path.exists(out + ".worker-1")


def test_a_streamed_folder_converts_and_eval_reads_the_same_test_split(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "photos"
    for label in range(3):
        (folder / f"c{label}").mkdir(parents=True)
        for i in range(40):
            pixels = rng.integers(0, 60, (12, 12, 3), dtype=np.uint8)
            pixels[2:8, 2:8, label] = 230  # one colour per class
            Image.fromarray(pixels, "RGB").save(folder / f"c{label}" / f"{i}.png")
    out = str(tmp_path / "b")
    done = _convert("multi-exit", "--dataset", str(folder), "--stream", "--out", out, "--epochs", "3", "--json")
    assert done.returncode == 0, done.stderr
    assert "read batch by batch" in done.stderr
    ev = subprocess.run([sys.executable, "-m", "edge_runtime", "eval", out, "--dataset", str(folder), "--json",
                         "--points", "2"], capture_output=True, text=True, timeout=600)
    assert ev.returncode == 0, ev.stderr
    report = json.loads(ev.stdout)
    assert report["test_samples"] == 24  # 20% of each class of 40
    assert report["rows"][0]["accuracy"] > 0.6
