#!/usr/bin/env python3
"""Benchmark of the pruned family (issue #4): energy saving vs the original network, in MACs and in
measured time, at ≤ 2 points accuracy loss, with Maleki et al.'s Table 2 columns.

    python -m tools.bench_pruned.py [BUNDLE] [--rounds 3] [--threads 1] [--json]

Without BUNDLE it uses (and if needed builds, about 4 minutes) the benchmark bundle:
``edge-convert pruned --dataset digits`` (the defaults a user types) in
~/.cache/edge-adaptive/pruned/digits-default. Each round runs ``eval`` (the α sweep interleaved with
passes of the original int8 network); the figures are medians over rounds.
"""

from __future__ import annotations

import json
import statistics
import sys


from tools.benchlib import cached_bundle, open_with_test_split, parse_bench_args

from edge_runtime.families.pruned.evaluate import evaluate as evaluate_pruned
from edge_runtime.core.timing import cpu_model


def default_bundle() -> str:
    return cached_bundle("pruned", "digits-default", [], "about 4 minutes")  # the defaults a user types


def main(argv: list[str] | None = None) -> int:
    args = parse_bench_args("Issue #4's figures, measured side by side.", "pruned", argv)
    bundle = args.bundle or default_bundle()
    runtime, images, labels = open_with_test_split(bundle, args.threads)
    reports = [evaluate_pruned(runtime, images, labels) for _ in range(args.rounds)]
    first = reports[0]
    mono_acc = first["monolithic"]["accuracy"]
    # the operating point: the cheapest α (in MACs, deterministic) within 2 points in every round
    alphas = [r["alpha"] for r in first["rows"]]
    ok = [a for i, a in enumerate(alphas)
          if all(rep["rows"][i]["accuracy"] >= rep["monolithic"]["accuracy"] - 0.02 for rep in reports)]
    pick = max(ok, key=lambda a: first["rows"][alphas.index(a)]["mac_saving"]) if ok else None
    point = None
    if pick is not None:
        i = alphas.index(pick)
        point = {"alpha": pick, "accuracy": first["rows"][i]["accuracy"],
                 "mac_saving": first["rows"][i]["mac_saving"],
                 "latency_saving": statistics.median(rep["rows"][i]["latency_saving"] for rep in reports),
                 "hci_fraction": first["rows"][i]["hci_fraction"]}
    result = {
        "bundle": bundle, "threads": args.threads, "rounds": args.rounds, "test_samples": len(images),
        "original": {"accuracy": mono_acc, "macs": first["monolithic"]["macs"],
                     "latency_us": statistics.median(rep["monolithic"]["latency_us"] for rep in reports)},
        "within_2_points": point,
        "table_2": {k: v for k, v in first["pruned"].items() if k not in ("sweep",)},
        "ap_only": first["ap_only"], "mp_only": first["mp_only"],
    }
    if args.json:
        print(json.dumps({**result, "cpu": cpu_model()}))
        return 0
    o = result["original"]
    print(f"CPU: {cpu_model()}")
    print(f"original int8         : accuracy {o['accuracy']:.4f}, {o['macs']:,d} MACs, {o['latency_us']:.1f} µs")
    if point:
        print(f"within 2 points (α={point['alpha']}): accuracy {point['accuracy']:.4f}, {point['mac_saving']:.1%} fewer MACs, "
              f"{point['latency_saving']:.1%} less time (median of {args.rounds}), {point['hci_fraction']:.1%} to MP")
    else:
        print("no α stays within 2 points of the original")
    t = result["table_2"]
    print(f"Table 2 (trained threshold): acc_O {t['acc_original']:.4f}, φ_MP {t['phi_mp']}, acc_MP {t['acc_mp']:.4f}, "
          f"φ_AP {t['phi_ap']}, AP MAC reduction {t['ap_mac_reduction']:.1%}, acc_AP {t['acc_ap']:.4f}, "
          f"acc {t['acc_system']:.4f}, saving vs original {t['saving_vs_original']:.1%}, vs MP {t['saving_vs_mp']:.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
