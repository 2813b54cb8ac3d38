"""``edge-runtime eval``: the α sweep over a test split beside the monolithic model, any family."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Callable

import numpy as np

from ..core.live_pass import evaluate_live, format_live
from ..core.preprocess import DEFAULT_MAX_PIXELS
from ..errors import InputError
from ..registry import FAMILIES
from .arg_types import positive_int
from .common import add_runtime_options, load_test_split, open_from_args
from .monitor_options import add_monitor_options, start_live_alpha


def add_parser(sub: Any) -> None:
    ev = sub.add_parser("eval", help="sweep α over a test split and compare with the monolithic model",
                        description="Run the test split at α from 0 to 1, each fixed-depth exit, the oracle and the "
                                    "monolithic int8 model, all in one run.")
    add_runtime_options(ev)
    ev.add_argument("--dataset", required=True, help="'digits', a .npz (x_test, y_test used) or an image folder")
    ev.add_argument("--plot", metavar="FILE.png", help="draw the family's figures to this PNG")
    ev.add_argument("--points", type=positive_int, default=21,
                    help="evenly spaced α values in each rule's sweep (default 21: every 0.05); the merkel sweep adds "
                         "half as many placed by eq. 7")
    ev.add_argument("--limit", type=positive_int, help="use only the first N test images")
    add_monitor_options(ev)
    ev.set_defaults(handler=cmd_eval)


def cmd_eval(args: argparse.Namespace) -> int:
    runtime = open_from_args(args)
    report = run_eval(runtime, args.dataset, points=args.points, limit=args.limit, plot=args.plot, monitor_args=args,
                      max_pixels=args.max_pixels, say=lambda m: print(m, file=sys.stderr))
    family = FAMILIES[report["family"]]
    if args.json:
        print(json.dumps(report))
    else:
        print(family.format_report(report))
        if report.get("live") and report["family"] != "multi_exit":
            print(format_live(report["live"]))
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
