"""The label-free audit on drifted inputs, streamed as a board sees them: delivered accuracy and agreement
beside the table's promises and the audit's estimate (``eval --stream``'s rows), per shift of the test split.

    python -m tools.bench_audit [BUNDLE] [--dataset digits] [--points 11] [--audit 0.02] [--audit-budget 0.03]
                                [--adapt] [--seeds 1] [--json]

Shifted copies of the test split, made here: sensor noise (σ = 40 grey levels), under-exposed and low
contrast (×0.4, −20), out of focus (3×3 box blur), a moved camera (shifted by an eighth of the image).
Per shift, the issue's targets: delivered agreement ≥ the promise − 1 point at every α; the audit's 95%
interval holding the delivered agreement at all but one α; the audit's share of the MACs. With ``--seeds N``
each shift is streamed N times with the audited inputs placed by a different seed (the α of one run share
their places, so one unlucky draw shows at every α), and the checks count over every (α, seed).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


from edge_runtime.cli.arg_types import budget_share, doc_summary, positive_int, unit_interval
from edge_runtime.core.audit import DEFAULT_AUDIT_RATE, default_budget
from edge_runtime.core.stream_eval import format_stream, stream_rows
from edge_runtime.core.timing import cpu_model
from edge_runtime.core.datasets import load_dataset
from edge_runtime.core.preprocess import Preprocessor
from edge_runtime.registry import open_runtime
from edge_sim.shifts import SHIFTS, shifted


def verdict(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The issue's three checks over one shift's rows."""
    promised = [r for r in rows if r["expected_agreement"] is not None]
    below = [r["alpha"] for r in promised if r["agreement"] < r["expected_agreement"] - 0.01]
    # the audit restarts at each --adapt change: it estimates what was delivered since then
    inside = sum(r["estimated_agreement_interval"][0] <= r["agreement_since_change"]
                 <= r["estimated_agreement_interval"][1] for r in rows if r["audited"] and r["agreement_since_change"])
    return {"alphas_below_promise": below, "interval_holds_delivered": inside, "alphas": len(rows),
            "max_audit_mac_share": max(r["audit_mac_share"] for r in rows),
            "max_audit_network_share": max(r["audit_network_share"] for r in rows)}


def seeds_verdict(runs: list[list[dict[str, Any]]], budget: float) -> dict[str, Any]:
    """The checks counted over every (α, seed) of one shift's runs."""
    rows = [row for run in runs for row in run]
    checks = [verdict([row]) for row in rows]
    shares = [row["audit_mac_share"] for row in rows]
    return {"runs": len(rows), "below_promise": sum(bool(c["alphas_below_promise"]) for c in checks),
            "interval_holds": sum(c["interval_holds_delivered"] for c in checks),
            "over_budget": sum(share > budget for share in shares), "max_audit_mac_share": max(shares),
            "mean_audit_mac_share": sum(shares) / len(shares),
            "mean_macs": sum(row["mean_macs"] for row in rows) / len(rows)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=doc_summary(__doc__))
    parser.add_argument("bundle", nargs="?", help="bundle folder (default: the demo bundle, built if missing)")
    parser.add_argument("--dataset", default="digits", help="its test split is shifted (default digits)")
    parser.add_argument("--points", type=positive_int, default=11, help="evenly spaced α from 0 to 1 (default 11)")
    parser.add_argument("--audit", type=unit_interval, default=DEFAULT_AUDIT_RATE, help="audit rate (default 0.02)")
    parser.add_argument("--audit-budget", type=budget_share,
                        help="the audit's largest share of the MACs (default 1.5 × the rate; 1: no limit)")
    parser.add_argument("--adapt", action="store_true", help="keep the promise as run --adapt does")
    parser.add_argument("--limit", type=positive_int, help="only the first N test images")
    parser.add_argument("--seeds", type=positive_int, default=1,
                        help="stream each shift this many times, the audit placed by seeds 0 … N−1 (default 1)")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args(argv)
    bundle = args.bundle
    if bundle is None:
        from edge_runtime.cli.demo import demo_bundle

        bundle = demo_bundle()
    runtime = open_runtime(bundle)
    data = load_dataset(args.dataset, (runtime.bundle.input.height, runtime.bundle.input.width))
    x_test, y_test = data.x_test[:args.limit], data.y_test[:args.limit]
    pre = Preprocessor(runtime.bundle.input, runtime.input_quantization)
    alphas = [round(i / max(args.points - 1, 1), 4) for i in range(args.points)]
    budget = default_budget(args.audit) if args.audit_budget is None else args.audit_budget
    report: dict[str, Any] = {"bundle": bundle, "cpu": cpu_model(), "test_images": len(y_test),
                              "floor": str(runtime.alpha_plans.floor), "audit_rate": args.audit,
                              "audit_budget": budget, "adapt": args.adapt, "shifts": {}}
    for key, (name, _) in SHIFTS.items():
        print(f"{name}: streaming {len(y_test)} images at {len(alphas)} α", file=sys.stderr)
        images = [pre.from_pixels(p) for p in shifted(x_test, key)]
        runs = [stream_rows(runtime, images, y_test, alphas, args.audit, args.adapt, audit_budget=budget, seed=seed)
                for seed in range(args.seeds)]
        report["shifts"][name] = {"rows": runs[0], "verdict": verdict(runs[0])}
        if args.seeds > 1:
            report["shifts"][name]["seeds"] = seeds_verdict(runs, budget)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"{bundle}: {len(y_test)} test images, floor {runtime.alpha_plans.floor.describe()}; {report['cpu']}")
    for name, shift_report in report["shifts"].items():
        print(f"\n{name}")
        print(format_stream({"audit_rate": args.audit, "audit_budget": budget, "adapt": args.adapt,
                             "floor": report["floor"], "rows": shift_report["rows"]}))
        v = shift_report["verdict"]
        print(f"  agreement under the promise − 1 point at α {v['alphas_below_promise'] or 'none'}; the audit's interval "
              f"holds the delivered agreement at {v['interval_holds_delivered']} of {v['alphas']} α; the audit took "
              f"at most {v['max_audit_mac_share']:.1%} of the MACs spent, {v['max_audit_network_share']:.1%} of the whole "
              "network's per input")
        if "seeds" in shift_report:
            w = shift_report["seeds"]
            print(f"  over {w['runs']} runs (seeds 0–{args.seeds - 1} × {len(alphas)} α): agreement under the promise − 1 "
                  f"point in {w['below_promise']}; the interval holds the delivered agreement in {w['interval_holds']}; "
                  f"the audit over its budget in {w['over_budget']} (at most {w['max_audit_mac_share']:.1%}, mean "
                  f"{w['mean_audit_mac_share']:.1%}); mean MACs {w['mean_macs']:,.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
