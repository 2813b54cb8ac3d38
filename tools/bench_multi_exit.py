#!/usr/bin/env python3
"""Benchmark of the multi-exit runtime: the figures issue #2 asks for, measured side by side.

    python -m tools.bench_multi_exit.py [BUNDLE] [--rounds 7] [--json]

Without BUNDLE it uses (and if needed builds) the demo bundle of ``edge-runtime demo``.
Prints, for 1 and 2 interpreter threads:
* full-depth latency of the runtime's plan at α = 0, of a chain through every segment
  (every joint, every head), and of the monolithic int8 model, interleaved in rounds in
  one process; ratios are to the monolithic model of the same round set;
* the α sweep's savings at the monolithic accuracy minus 0.5 points (MACs and time);
* int8 vs float accuracy of every exit (held-out data, from the manifest);
* ``import edge_runtime`` + loading the bundle, in a fresh process (median of 5), and
  whether TensorFlow got imported.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any


from edge_runtime.core.datasets import load_digits_dataset
from edge_runtime.families.multi_exit.evaluate import evaluate
from edge_runtime.families.multi_exit.runtime import ExitPlan, MultiExitRuntime
from edge_runtime.registry import open_runtime
from edge_runtime.core.operating import Mix
from edge_runtime.core.preprocess import Preprocessor
from edge_runtime.cli.arg_types import doc_summary
from edge_runtime.core.timing import cpu_model


def _mean_us(run, images) -> float:
    clock = time.perf_counter_ns
    start = clock()
    for image in images:
        run(image)
    return (clock() - start) / len(images) / 1000.0


def chain_at(runtime: MultiExitRuntime, alpha: float) -> ExitPlan:
    """The chain an input that no exit takes runs at ``alpha``: the heads of every exit the α table's plan there
    keeps on (both rows' when α mixes two), then the last exit."""
    plan = runtime.plan_for_alpha(alpha)
    plans = (plan.dear, plan.cheap) if isinstance(plan, Mix) else (plan,)
    on = {i for p in plans for i, t in enumerate(p.thresholds) if t is not None}
    return runtime.exits_plan(sorted(on))


def chain_latencies(runtime: MultiExitRuntime, images, rounds: int) -> dict[str, float]:
    """Median over rounds of the mean µs per image of each variant, variants interleaved per round."""
    full_plan = runtime.fixed_plan(len(runtime.exits) - 1)  # the whole network as one fused invocation
    every_joint = runtime.every_exit_plan()  # consecutive stages: every joint and every head runs
    # every other exit's head (the 2nd, 4th …) and the last: half the invocations, to say what each costs
    every_other = runtime.exits_plan(range(1, len(runtime.exits) - 1, 2))
    at = {alpha: chain_at(runtime, alpha) for alpha in (0.0, 0.5, 1.0)}
    variants = {
        "monolithic": runtime.classify_monolithic,
        "plan_alpha0": lambda im: runtime.classify(im, full_plan),
        "every_joint": lambda im: runtime.classify(im, every_joint),
        "every_other_joint": lambda im: runtime.classify(im, every_other),
        **{f"chain_at_{alpha:g}": (lambda im, plan=plan: runtime.classify(im, plan)) for alpha, plan in at.items()},
    }
    assert isinstance(every_joint, ExitPlan)
    for run in variants.values():
        _mean_us(run, images[:64])
    samples: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(rounds):
        for name, run in variants.items():
            samples[name].append(_mean_us(run, images))
    result = {name: statistics.median(v) for name, v in samples.items()}
    result["plan_invocations_alpha0"] = full_plan.invocations
    result["every_joint_invocations"] = every_joint.invocations
    result["every_other_joint_invocations"] = every_other.invocations
    for alpha, plan in at.items():
        result[f"chain_at_{alpha:g}_invocations"] = plan.invocations
    return result


#: what ``run`` on a CPU multi-exit bundle does not need: the service, the profiler, plots, the other families, the TPU
RUN_UNNEEDED = ("edge_runtime.serve", "edge_runtime.energy.profiler", "matplotlib", "edge_runtime.families.gated",
                "edge_runtime.families.pruned", "edge_runtime.core.edgetpu")
RUN_START = (
    "import time, sys; t0 = time.perf_counter()\n"
    "from edge_runtime.cli.main import build_parser, typed_command\n"
    "argv = ['run', {bundle!r}, 'image.png']\n"
    "args = build_parser(typed_command(argv)).parse_args(argv)\n"
    "from edge_runtime.cli.common import open_from_args\n"
    "r = open_from_args(args)\n"
    "heavy = [m for m in {unneeded!r} if m in sys.modules]\n"
    "print(round((time.perf_counter() - t0) * 1000, 1), 'tensorflow' in sys.modules, ','.join(heavy) or '-')"
)


def _fresh_process(code: str) -> list[str]:
    """``code``'s printed words, run in a new interpreter that may cache bytecode, as an installed package does
    on a board (PYTHONDONTWRITEBYTECODE would make every start compile the project's modules again)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env=env).stdout.split()


def run_start_time(bundle: str, repeats: int = 5) -> dict[str, Any]:
    """``edge-runtime run``'s start: import its command, parse, load the bundle, in fresh processes (median ms,
    after one untimed start that writes the bytecode caches), and what it imported that it does not need."""
    times, extra = [], set()
    _fresh_process(RUN_START.format(bundle=bundle, unneeded=RUN_UNNEEDED))
    for _ in range(repeats):
        out = _fresh_process(RUN_START.format(bundle=bundle, unneeded=RUN_UNNEEDED))
        times.append(float(out[0]))
        extra |= {m for m in out[2].split(",") if m != "-"} | ({"tensorflow"} if out[1] == "True" else set())
    return {"run_import_and_load_ms": statistics.median(times), "run_imported_needlessly": sorted(extra)}


def load_time(bundle: str, repeats: int = 5) -> dict[str, float | bool]:
    code = (
        "import time, sys; t0 = time.perf_counter()\n"
        "from edge_runtime.registry import open_runtime\n"
        f"r = open_runtime({bundle!r})\n"
        "print(round((time.perf_counter() - t0) * 1000, 1), 'tensorflow' in sys.modules)"
    )
    times, tf_imported = [], False
    _fresh_process(code)
    for _ in range(repeats):
        out = _fresh_process(code)
        times.append(float(out[0]))
        tf_imported |= out[1] == "True"
    return {"import_and_load_ms": statistics.median(times), "tensorflow_imported": tf_imported}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=doc_summary(__doc__))
    parser.add_argument("bundle", nargs="?", help="bundle folder (default: the demo bundle, built if missing)")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved timing rounds (default 7)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    bundle = args.bundle
    if bundle is None:
        from edge_runtime.cli.demo import demo_bundle

        bundle = demo_bundle()
    data = load_digits_dataset()
    report: dict = {"bundle": bundle, "threads": {}}
    for threads in (1, 2):
        runtime = open_runtime(bundle, num_threads=threads)
        pre = Preprocessor(runtime.bundle.input, runtime.input_quantization)
        images = [pre.from_pixels(p) for p in data.x_test]
        lat = chain_latencies(runtime, images, args.rounds)
        ev = evaluate(runtime, images, data.y_test, count=101)
        frontier = ev["by_rule"].get("frontier")
        report["threads"][threads] = {
            "alpha_0": frontier and {k: frontier["rows"][0][k] for k in ("accuracy", "mac_saving", "latency_saving")},
            "knob": frontier and frontier["knob"],
            "merkel_at_monolithic_accuracy": ev["by_rule"]["merkel"]["at_monolithic_accuracy"],
            "hindsight": ev["hindsight"],
            "latency_us": {k: round(v, 2) for k, v in lat.items() if not k.endswith("invocations")},
            "invocations": {"plan_alpha0": lat["plan_invocations_alpha0"], "every_joint": lat["every_joint_invocations"]},
            "ratio_plan_alpha0": round(lat["plan_alpha0"] / lat["monolithic"], 3),
            "ratio_every_joint": round(lat["every_joint"] / lat["monolithic"], 3),
            "monolithic_accuracy": ev["monolithic"]["accuracy"],
            "at_monolithic_accuracy": ev["at_monolithic_accuracy"],
            "oracle_mac_saving": ev["oracle"]["mac_saving"],
        }
    exits = open_runtime(bundle).exits
    report["int8_vs_float"] = [{"exit": e.name, "int8": e.accuracy, "float": e.float_accuracy,
                                "difference_points": round(100 * (e.accuracy - e.float_accuracy), 2)} for e in exits]
    report["load"] = {**load_time(bundle), **run_start_time(bundle)}
    if args.json:
        print(json.dumps({**report, "cpu": cpu_model()}))
        return 0
    print(f"bundle {bundle}; CPU: {cpu_model()}")
    for threads, r in report["threads"].items():
        lat = r["latency_us"]
        best = r["at_monolithic_accuracy"] or {}
        print(f"\n{threads} thread(s): monolithic {lat['monolithic']:.1f} µs | full depth {lat['plan_alpha0']:.1f} µs "
              f"({r['ratio_plan_alpha0']:.3f}×, {r['invocations']['plan_alpha0']} invocation) | every joint "
              f"{lat['every_joint']:.1f} µs ({r['ratio_every_joint']:.3f}×, {r['invocations']['every_joint']} invocations)")
        if r["alpha_0"]:
            a0 = r["alpha_0"]
            print(f"  α table, α = 0: accuracy {a0['accuracy']:.4f} (monolithic {r['monolithic_accuracy']:.4f}), "
                  f"mac_saving {a0['mac_saving']:.1%}, latency_saving {a0['latency_saving']:.1%}")
            knob = r["knob"]
            print(f"  α table over α = 0, 0.1 … 1: largest MAC rise {knob['max_rise_of_monolithic']:.2%} of the "
                  f"monolithic, largest 0.1 step {knob['max_step_of_range']:.0%} of the range")
        for name, at in (("α table", best), ("merkel", r["merkel_at_monolithic_accuracy"])):
            if at:
                print(f"  {name} at monolithic accuracy − 0.5 points: accuracy {at['accuracy']:.4f}, mac_saving "
                      f"{at['mac_saving']:.1%}, latency_saving {at['latency_saving']:.1%} (α = {at['alpha']}), "
                      f"{at['macs_vs_hindsight']:.2f}× the hindsight MACs")
        if r["hindsight"]:
            print(f"  hindsight (per-exit thresholds fitted on the test split): accuracy {r['hindsight']['accuracy']:.4f}, "
                  f"mac_saving {r['hindsight']['mac_saving']:.1%}")
        print(f"  oracle mac_saving {r['oracle_mac_saving']:.1%}")
    worst = max(abs(e["difference_points"]) for e in report["int8_vs_float"])
    print("\nint8 − float accuracy per exit (points, held-out): "
          + " ".join(f"{e['exit']} {e['difference_points']:+.2f}" for e in report["int8_vs_float"])
          + f"  (worst {worst:.2f})")
    print(f"edge-runtime run's start (import its command, parse, load the bundle): "
          f"{report['load']['run_import_and_load_ms']:.0f} ms (median of 5 fresh processes); imported needlessly: "
          f"{', '.join(report['load']['run_imported_needlessly']) or 'nothing'}")
    print(f"import edge_runtime + load bundle: {report['load']['import_and_load_ms']:.0f} ms (median of 5 fresh "
          f"processes); TensorFlow imported: {report['load']['tensorflow_imported']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
