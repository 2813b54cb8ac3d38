#!/usr/bin/env python3
"""Benchmark of the gated family (issue #5): savings vs the same network without gates — modelled
energy (EnergyNet eq. 2), MACs and measured time — at equal accuracy, and the 4× point.

    python -m tools.bench_gated.py [BUNDLE] [--rounds 3] [--threads 1] [--json]

Without BUNDLE it uses (and if needed builds, about 4 minutes) the benchmark bundle:
``edge-convert gated --dataset digits`` (the defaults: widths 64,128,256 for 8×8 inputs) in
~/.cache/edge-adaptive/gated/digits-default.
Each round runs ``eval`` (the α sweep interleaved with passes of the ungated int8 network);
time savings are medians over rounds; the operating point is picked on accuracy, which does not vary.
"""

from __future__ import annotations

import json
import statistics
import sys


from tools.benchlib import cached_bundle, open_with_test_split, parse_bench_args

from edge_runtime.core.sweep import EQUAL_ACCURACY_TOLERANCE
from edge_runtime.families.gated.evaluate import evaluate as evaluate_gated
from edge_runtime.core.timing import cpu_model


def default_bundle() -> str:
    return cached_bundle("gated", "digits-default", [], "about 4 minutes")  # the defaults a user types


def _point(reports: list[dict], index: int) -> dict:
    row = reports[0]["rows"][index]
    return {"alpha": row["alpha"], "accuracy": row["accuracy"], "blocks_run": row["blocks_run"],
            "modelled_energy_saving": row["modelled_energy_saving"], "mac_saving": row["mac_saving"],
            "latency_saving": statistics.median(r["rows"][index]["latency_saving"] for r in reports)}


def main(argv: list[str] | None = None) -> int:
    args = parse_bench_args("Issue #5's figures, measured side by side.", "gated", argv)
    bundle = args.bundle or default_bundle()
    runtime, images, labels = open_with_test_split(bundle, args.threads)
    reports = [evaluate_gated(runtime, images, labels) for _ in range(args.rounds)]
    first = reports[0]
    mono = first["monolithic"]
    rows = first["rows"]
    equal = [i for i, r in enumerate(rows) if r["accuracy"] >= mono["accuracy"] - EQUAL_ACCURACY_TOLERANCE]
    best = max(equal, key=lambda i: rows[i]["modelled_energy_saving"]) if equal else None
    four = [i for i, r in enumerate(rows) if r["mac_saving"] >= 0.75]
    four_best = max(four, key=lambda i: rows[i]["accuracy"]) if four else None
    result = {
        "bundle": bundle, "threads": args.threads, "rounds": args.rounds, "test_samples": len(images),
        "ungated": {"accuracy": mono["accuracy"], "macs": mono["macs"],
                    "latency_us": statistics.median(r["monolithic"]["latency_us"] for r in reports)},
        "every_block_latency_us": statistics.median(r["every_block"]["latency_us"] for r in reports),
        "every_block_chain_latency_us": statistics.median(r["every_block"]["chain_latency_us"] for r in reports),
        "at_equal_accuracy": None if best is None else _point(reports, best),
        "at_4x_mac_saving": None if four_best is None else _point(reports, four_best),
        "gate_agreement_with_keras_test_split": runtime.bundle.part.calibration.get("gate_agreement_with_keras_test_split"),
        "curve": [{k: r[k] for k in ("alpha", "accuracy", "blocks_run", "modelled_energy_saving", "mac_saving", "latency_saving")}
                  for r in rows],
    }
    if args.json:
        print(json.dumps({**result, "cpu": cpu_model()}))
        return 0
    u = result["ungated"]
    print(f"CPU: {cpu_model()}")
    print(f"ungated int8 network  : accuracy {u['accuracy']:.4f}, {u['macs']:,d} MACs, {u['latency_us']:.1f} µs; "
          f"α = 0 (every block) {result['every_block_latency_us']:.1f} µs; every block through the gated chain "
          f"{result['every_block_chain_latency_us']:.1f} µs")
    for key, title in (("at_equal_accuracy", "at equal accuracy"), ("at_4x_mac_saving", "at 4× fewer MACs")):
        p = result[key]
        if p:
            print(f"{title:<22}: α = {p['alpha']}, accuracy {p['accuracy']:.4f}, {p['blocks_run']:.2f} blocks, modelled "
                  f"energy saving (eq. 2) {p['modelled_energy_saving']:.1%}, {p['mac_saving']:.1%} fewer MACs, {p['latency_saving']:.1%} less "
                  f"time (median of {args.rounds})")
        else:
            print(f"{title:<22}: none")
    agreement = result["gate_agreement_with_keras_test_split"]
    if agreement is not None:
        print(f"device gates vs Keras : {agreement:.2%} of decisions agree (test split)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
