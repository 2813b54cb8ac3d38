"""``edge-runtime eval``: the α sweep over a test split beside the monolithic model, any family."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Callable

import numpy as np

from ..core.audit import DEFAULT_AUDIT_RATE, default_budget
from ..core.live_pass import evaluate_live, format_live
from ..core.stream_eval import format_stream, stream_rows
from ..core.preprocess import DEFAULT_MAX_PIXELS
from ..errors import EdgeRuntimeError, InputError
from ..registry import FAMILIES
from .arg_types import positive_int
from .common import add_audit_options, add_runtime_options, check_audit_options, load_test_split, open_from_args
from .monitor_options import add_monitor_options, start_live_alpha


def add_parser(sub: Any) -> None:
    ev = sub.add_parser("eval", help="sweep α over a test split and compare with the monolithic model",
                        description="Run the test split at α from 0 to 1, each fixed-depth exit, the oracle and the "
                                    "monolithic int8 model, all in one run.")
    add_runtime_options(ev)
    ev.add_argument("--dataset", required=True, help="'digits', a .npz (x_test, y_test used) or a folder of such .npy "
                    "files, an image folder, or TFRecord shards; one too large to hold is read image by image")
    ev.add_argument("--plot", metavar="FILE.png", help="draw the family's figures to this PNG")
    ev.add_argument("--points", type=positive_int,
                    help="evenly spaced α values in each rule's sweep (default 21: every 0.05; with --stream 11); the "
                         "merkel sweep adds half as many placed by eq. 7")
    ev.add_argument("--stream", action="store_true",
                    help="replay the test split in order at each α as a board would see it, with the label-free audit "
                         "(--audit, --adapt) running: delivered accuracy and agreement beside the table's promises and "
                         "the audit's estimate")
    add_audit_options(ev, "with --stream: ")
    ev.add_argument("--limit", type=positive_int, help="use only the first N test images")
    add_monitor_options(ev)
    ev.set_defaults(handler=cmd_eval, check=check)


def check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if (args.adapt or args.audit != DEFAULT_AUDIT_RATE or args.audit_budget is not None) and not args.stream:
        parser.error("--audit, --audit-budget and --adapt apply to --stream (the sweep runs every α over the whole "
                     "split)")
    check_audit_options(parser, args)


def cmd_eval(args: argparse.Namespace) -> int:
    runtime = open_from_args(args)
    if args.stream:
        return _stream(args, runtime)
    report = run_eval(runtime, args.dataset, points=args.points or 21, limit=args.limit, plot=args.plot, monitor_args=args,
                      max_pixels=args.max_pixels, say=lambda m: print(m, file=sys.stderr))
    family = FAMILIES[report["family"]]
    if args.json:
        print(json.dumps(report))
    else:
        print(family.format_report(report))
        if report.get("live") and report["family"] != "multi_exit":
            print(format_live(report["live"]))
    return 0


def _stream(args: argparse.Namespace, runtime: Any) -> int:
    """``eval --stream``: the stream table (or JSON) instead of the sweep."""
    if getattr(runtime, "alpha_plans", None) is None:
        raise EdgeRuntimeError(f"{runtime.bundle.path}: --stream follows the bundle's α table, and this runtime has "
                               "none (an older bundle: 'edge-runtime calibrate' adds one; or --rule merkel)")
    images, labels = load_test_split(args.dataset, runtime, args.limit, args.max_pixels)
    count = args.points or 11
    alphas = [round(i / max(count - 1, 1), 4) for i in range(count)]
    say = (lambda m: print(m, file=sys.stderr))
    say(f"streaming {len(labels)} test images in order at {count} α, audit {args.audit:g}"
        f"{', adapt' if args.adapt else ''}")
    budget = default_budget(args.audit) if args.audit_budget is None else args.audit_budget
    stream = {"audit_rate": args.audit, "audit_budget": budget, "adapt": args.adapt,
              "floor": str(runtime.alpha_plans.floor),
              "rows": stream_rows(runtime, images, labels, alphas, args.audit, args.adapt, say, budget)}
    report = {"family": runtime.bundle.family, "bundle": runtime.bundle.path, "dataset": args.dataset,
              "floor": stream["floor"], "stream": stream}
    print(json.dumps(report) if args.json else format_stream(stream))
    return 0


def run_eval(runtime: Any, dataset: str, *, points: int = 21, limit: int | None = None, plot: str | None = None,
             monitor_args: argparse.Namespace | None = None, say: Callable[[str], None] = lambda m: None,
             max_pixels: int = DEFAULT_MAX_PIXELS
             ) -> dict[str, Any]:
    """The eval report of ``runtime`` on ``dataset``'s test split, with the live pass when ``monitor_args``
    name a monitor and the family's figures drawn to ``plot``."""
    if plot:
        folder = os.path.dirname(os.path.abspath(plot))
        if not os.path.isdir(folder):
            raise InputError(plot, f"cannot write the plot: the folder {folder} does not exist")
    images, labels = load_test_split(dataset, runtime, limit, max_pixels)
    family = FAMILIES[runtime.bundle.family]
    say(f"evaluating {len(labels)} test images, {family.title} ({runtime.num_threads} thread(s))")
    report = family.evaluate(runtime, images, labels, points, progress=say)
    report["dataset"] = dataset
    if getattr(runtime, "alpha_plans", None) is not None:
        report["floor"] = str(runtime.alpha_plans.floor)
    add_live(monitor_args, runtime, images, labels, report)
    if plot:
        family.plot(report, plot)
        say(f"wrote {plot}")
    return report


def add_live(args: argparse.Namespace | None, runtime: Any, images: list[np.ndarray], labels: np.ndarray,
             report: dict[str, Any]) -> None:
    """With --monitor: one more pass over the test split with α read live from the monitor."""
    live = start_live_alpha(args, runtime)
    if live is not None:
        try:
            report["live"] = evaluate_live(runtime, images, labels, live)
        finally:
            live.stop()
