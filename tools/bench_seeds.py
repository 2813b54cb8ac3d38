#!/usr/bin/env python3
"""Issue #10's multi-exit targets over several training seeds: how much of each figure is the seed.

    python -m tools.bench_seeds [--seeds 0,1,2,3] [--json]

For each seed, the default multi-exit bundle (``edge-convert multi-exit --dataset digits --seed N``,
cached under ~/.cache/edge-adaptive/seeds/) is evaluated with ``edge-runtime eval`` and drained
with ``edge-runtime demo --battery`` (default policy ``linear``). Prints, per seed: α = 0's
accuracy against the monolithic model's, the mean MACs at the monolithic accuracy − 0.5 points
÷ the hindsight bound, the knob's largest 0.1 step, and the battery demo's images per charge and
accuracy change. The digits test split has 359 images: half a point is under two of them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from typing import Any

from tools.benchlib import cached_bundle


def _json_of(command: list[str]) -> dict[str, Any]:
    out = subprocess.run([sys.executable, *command], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                         check=True)
    return json.loads(out.stdout)


def measure(seed: int) -> dict[str, Any]:
    """The issue's figures for the bundle trained with ``seed``."""
    bundle = cached_bundle("multi-exit", f"digits-seed{seed}", ["--seed", str(seed)], "about a minute",
                           folder="seeds")
    report = _json_of(["-m", "edge_runtime", "eval", bundle, "--dataset", "digits", "--json"])
    mono = report["monolithic"]["accuracy"]
    best = report["at_monolithic_accuracy"]
    with tempfile.TemporaryDirectory(prefix="bench-seeds-") as workdir:
        os.symlink(bundle, os.path.join(workdir, "digits-multi-exit"))
        battery = _json_of(["-m", "edge_runtime", "demo", "--battery", "--json", "--workdir", workdir])
    return {
        "seed": seed,
        "monolithic_accuracy": mono,
        "alpha0_accuracy": report["rows"][0]["accuracy"],
        "alpha0_mac_saving": report["rows"][0]["mac_saving"],
        "macs_vs_hindsight": None if best is None else best["macs_vs_hindsight"],
        "largest_step_of_range": report["by_rule"]["frontier"]["knob"]["max_step_of_range"],
        "battery_images_ratio": battery["images_ratio"],
        "battery_accuracy_change_points": battery["accuracy_change_points"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Issue #10's multi-exit figures over several training seeds.")
    parser.add_argument("--seeds", default="0,1,2,3", help="comma-separated training seeds (default 0,1,2,3)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        parser.error(f"--seeds: expected integers separated by commas, got {args.seeds!r}")
    rows = []
    for seed in seeds:
        print(f"seed {seed} …", file=sys.stderr, flush=True)
        rows.append(measure(seed))
    if args.json:
        print(json.dumps(rows))
        return 0
    print("seed  monolithic  α = 0 (Δ points, MAC saving)   at −0.5 points ÷ hindsight  largest 0.1 step  "
          "battery (linear)")
    for r in rows:
        ratio = "not reached" if r["macs_vs_hindsight"] is None else f"{r['macs_vs_hindsight']:.2f}×"
        print(f"{r['seed']:>4}  {r['monolithic_accuracy']:>9.2%}  {r['alpha0_accuracy']:.2%} "
              f"({100 * (r['alpha0_accuracy'] - r['monolithic_accuracy']):+.2f}, {r['alpha0_mac_saving']:.1%})"
              f"{'':>8}{ratio:>12}{'':>16}{r['largest_step_of_range']:>6.0%}{'':>12}"
              f"{r['battery_images_ratio']:.2f}× at {r['battery_accuracy_change_points']:+.2f} points")
    return 0


if __name__ == "__main__":
    sys.exit(main())
