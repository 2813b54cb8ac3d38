"""``edge-runtime run``: classify image files, α fixed or following the battery."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, Iterator

from ..core.adapt import PromiseKeeper
from ..core.audit import AgreementAudit, describe_audit
from ..core.jsonl import JsonLines
from ..core.preprocess import Preprocessor
from ..errors import EdgeRuntimeError, InputError
from .arg_types import unit_interval
from .common import DEFAULT_ALPHA, add_audit_options, add_runtime_options, check_audit_options, open_from_args
from .monitor_options import add_monitor_options, start_live_alpha



def add_parser(sub: Any) -> None:
    run = sub.add_parser("run", help="classify image files", description="Classify JPEG/PNG files; each image leaves "
                         "the network at the first exit good enough for α (or for the desired accuracy).")
    add_runtime_options(run)
    run.add_argument("images", nargs="+", metavar="IMAGE", help="JPEG or PNG files, or folders of them (their "
                     "images and their sub-folders', by name)")
    choice = run.add_mutually_exclusive_group()
    choice.add_argument("--alpha", type=unit_interval, help=f"trade-off α in [0, 1]: 0 = most accurate, "
                        f"1 = least energy at the accuracy floor (default {DEFAULT_ALPHA})")
    choice.add_argument("--accuracy", type=unit_interval, help="the accuracy to aim at instead of α: the cheapest point "
                        "of the α table reaching it on held-out data (with --rule merkel: eq. 10's Ã)")
    add_audit_options(run)
    run.add_argument("--trace", metavar="FILE.jsonl", help="append an event per inference (monotonic and wall "
                     "time, exit or route, α, state of charge) to draw over a power capture (edge-capture --events)")
    add_monitor_options(run)
    run.set_defaults(handler=cmd_run, check=check)


def check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.monitor and (args.alpha is not None or args.accuracy is not None):
        parser.error("--monitor sets α from the battery: drop --alpha/--accuracy")
    check_audit_options(parser, args)


def cmd_run(args: argparse.Namespace) -> int:
    runtime = open_from_args(args)
    live = start_live_alpha(args, runtime)
    try:
        return run_images(args, runtime, live)
    finally:
        if live is not None:
            live.stop()


def run_images(args: argparse.Namespace, runtime: Any, live: Any) -> int:
    """Classify ``args.images`` one by one; a file that cannot be read is an error line, the rest go on."""
    bundle = runtime.bundle
    multi_exit = bundle.family == "multi_exit"
    if args.accuracy is not None and not multi_exit:
        raise EdgeRuntimeError(f"{bundle.path}: --accuracy applies to multi-exit bundles; a {bundle.family} bundle "
                               "takes --alpha")
    plans = getattr(runtime, "alpha_plans", None)
    if args.accuracy is not None:
        # along the α table: the largest α expected to reach it (records carry that α and its expectation)
        alpha = None if plans is None else plans.alpha_for_accuracy(args.accuracy)
        desired = args.accuracy if alpha is None else runtime.expected_accuracy(alpha)
        plan = runtime.plan_for_accuracy(args.accuracy) if alpha is None else runtime.plan_for_alpha(alpha)
    else:
        alpha = DEFAULT_ALPHA if args.alpha is None else args.alpha
        desired = runtime.expected_accuracy(alpha)
        plan = runtime.plan_for_alpha(alpha)
    pre = Preprocessor(bundle.input, runtime.input_quantization, args.max_pixels)
    trace = JsonLines(args.trace, "--trace") if args.trace else None
    audit = AgreementAudit(args.audit, budget=args.audit_budget)
    keeper = None
    if args.adapt and plans is not None:
        keeper = PromiseKeeper(runtime, audit, lambda line: print(f"warning: {line}", file=sys.stderr))
    failures = 0
    if not args.json:
        print(f"# {_aim_text(args, runtime, live, alpha, desired)}; routes {', '.join(runtime.route_names)}",
              file=sys.stderr)
    for path in _expand_folders(args.images):
        if isinstance(path, InputError):
            failures += 1
            print(f"Error: {path}", file=sys.stderr)
            continue
        try:
            image = pre.load(path)
        except InputError as exc:
            failures += 1
            print(f"Error: {exc}", file=sys.stderr)
            continue
        extra: dict[str, Any] = {}
        started_mono, started_wall = time.monotonic(), time.time()
        start = time.perf_counter_ns()
        if live is not None:
            point = live.current
            current = point.plan if keeper is None else keeper.plan(point.alpha, point.plan)
        else:
            current = plan if keeper is None else keeper.plan(alpha, plan)
        decision = runtime.classify(image, current)
        latency_us = (time.perf_counter_ns() - start) / 1000.0
        if live is not None:
            alpha = round(point.alpha, 6)
            desired = runtime.expected_accuracy(point.alpha)
            extra = {"soc": None if point.soc != point.soc else round(point.soc, 4), "alpha_source": point.source}
        where = runtime.describe(decision)
        macs = decision.macs
        checked = audit.check(runtime, image, decision, alpha)
        if checked is not None:  # the monolithic network's answer too: its MACs are this input's
            macs += checked.macs
            extra["audit"] = {"agrees": checked.agrees, **audit.snapshot()}
            if keeper is not None:
                keeper.observe(image, checked.reference, checked.agrees, alpha)
                extra["audit"]["cap"] = plans.cap
        record = {
            "image": path, "label": bundle.labels[decision.label], "class_index": decision.label,
            "confidence": round(decision.confidence, 6), "exit": where["exit"], "exit_name": where["exit_name"],
            "macs": macs, "latency_us": round(latency_us, 2), "alpha": alpha,
            "desired_accuracy": None if desired is None else round(desired, 6), **extra,
            **{k: v for k, v in where.items() if k not in ("exit", "exit_name")},
        }
        if trace is not None:
            trace.append({"t_monotonic": round(started_mono, 6), "t_wall": round(started_wall, 6),
                          "duration_us": record["latency_us"], "image": path, "exit": record["exit"],
                          "exit_name": record["exit_name"], "macs": macs, "alpha": alpha, "audit": extra.get("audit"),
                          "soc": extra.get("soc")})
        if args.json:
            print(json.dumps(record), flush=True)
        else:
            battery = f"\tα {alpha:.3f} (SoC {extra['soc']}, {extra['alpha_source']})" if live else ""
            print(f"{path}\t{record['label']}\tconfidence {decision.confidence:.3f}\t{record['exit_name']}"
                  f"\t{macs:,d} MACs\t{latency_us:.1f} µs{battery}", flush=True)
    if trace is not None:
        trace.close()
    if audit.audited and not args.json:
        print(f"# {describe_audit(audit.snapshot())}", file=sys.stderr)
    return 1 if failures else 0


def _expand_folders(paths: list[str]) -> Iterator[str | InputError]:
    """Each path, a folder replaced by the images in it (an error in its place when it holds none)."""
    from ..core.image_folder import IMAGE_SUFFIXES, image_files

    for path in paths:
        if not os.path.isdir(path):
            yield path
            continue
        found = image_files(path)
        if not found:
            yield InputError(path, f"a folder with no images in it or its sub-folders ({', '.join(IMAGE_SUFFIXES)})")
        yield from found


def _aim_text(args: argparse.Namespace, runtime: Any, live: Any, alpha: float | None, desired: float | None) -> str:
    """The header line's account of what the images will be run at."""
    if live:
        return f"α from {args.monitor} ({args.policy})"
    if args.accuracy is not None and alpha is None:
        return f"desired accuracy {args.accuracy:g} (eq. 10)"
    aim = "desired accuracy" if getattr(runtime, "rule", "frontier") == "merkel" else "expected accuracy"
    text = f"α = {alpha:.4g}" + (f" → {aim} {desired:.4f}" if desired else "")
    if args.accuracy is not None:
        text = f"accuracy {args.accuracy:g}: " + text
        if desired is not None and desired < args.accuracy:
            text += " (no operating point is expected to reach it: this is the most accurate)"
    return text
