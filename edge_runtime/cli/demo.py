"""``edge-runtime demo``: the reference model on digits, end to end, in one command.

Training and conversion run in a child process (``python -m converters``), so this
process — like the device — never imports TensorFlow; the bundle is cached in the
work folder and reused on the next run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from typing import Any

from ..core.datasets import load_dataset, load_digits_dataset
from ..core.preprocess import Preprocessor
from ..errors import EdgeRuntimeError
from ..core.timing import cpu_model
from ..registry import FAMILIES, calibrate_bundle, load_bundle, open_runtime
from .arg_types import positive_float, positive_int
from ..families.multi_exit.runtime import RULES
from .common import load_split
from .evaluate import run_eval


def add_parser(sub: Any) -> None:
    demo = sub.add_parser("demo", help="train, convert and evaluate the reference model on digits",
                          description="Train and convert Merkel's multi-exit CNN on scikit-learn's digits (cached "
                                      "after the first run), evaluate it, write the plot and say what adaptive exits save.")
    demo.add_argument("--workdir", help="where the bundle, plot and sample images go (default: ~/.cache/edge-adaptive/demo)")
    demo.add_argument("--retrain", action="store_true", help="train and convert again even if a bundle is cached")
    demo.add_argument("--threads", type=positive_int, default=1, help="interpreter threads (default 1)")
    demo.add_argument("--json", action="store_true", help="print the report as JSON")
    demo.add_argument("--battery", action="store_true", help="drain a simulated battery through an emulated power "
                      "monitor: adaptive vs the fixed full model, images per charge and accuracy")
    demo.add_argument("--policy", default="linear", metavar="SPEC", help="with --battery: the α policy (default linear: "
                      "α rises as the charge falls, to where the α table expects half a point lost, less the "
                      "standard error of its held-out count; linear:hi=1 for "
                      "α = 1 − state of charge; see edge-runtime run --help)")
    demo.add_argument("--rule", choices=RULES, default="frontier", help="how α sets the exits: frontier (the bundle's "
                      "α table, default) or merkel (eq. 7 + eq. 10)")
    demo.add_argument("--monitor-profile", default="adafruit-ina219-sketch", metavar="NAME",
                      help="with --battery: the firmware the emulator speaks (default adafruit-ina219-sketch)")
    demo.add_argument("--battery-profile", default="liion-1s-pisugar", metavar="NAME",
                      help="with --battery: the cell (default liion-1s-pisugar, scaled down)")
    demo.add_argument("--board", default="raspberry-pi-4", metavar="NAME", help="with --battery: the board's power "
                      "profile (default raspberry-pi-4)")
    demo.add_argument("--charge-seconds", type=positive_float, default=4.0, metavar="S", help="with --battery: one "
                      "charge lasts S seconds of the fixed model's compute (default 4)")
    demo.add_argument("--energy", metavar="ENERGY.json", help="measured joules of the demo bundle (edge-runtime profile "
                      "BUNDLE …): the α table is fitted on them instead of MACs, and eval reports energy_saving")
    demo.add_argument("--shift", choices=("none", "noise", "dark", "blur", "moved"), default="none",
                      help="with --battery: drain it on shifted test images (sensor noise, under-exposed, out of focus, a "
                           "moved camera) to see the audit and the policy under drift (default none)")
    demo.add_argument("--no-adapt", dest="adapt", action="store_false",
                      help="with --battery: audit without keeping the promise (default: adapt, as run --adapt)")
    demo.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    demo.set_defaults(handler=cmd_demo)


def default_workdir() -> str:
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "edge-adaptive", "demo")


def demo_bundle(workdir: str | None = None, retrain: bool = False) -> str:
    """The demo bundle's folder under ``workdir`` (default :func:`default_workdir`), converted first if missing:
    what ``edge-runtime demo`` and the benchmarks run on when no bundle is named."""
    bundle = os.path.join(workdir or default_workdir(), "digits-multi-exit")
    ensure_bundle(bundle, retrain)
    return bundle


def ensure_bundle(bundle: str, retrain: bool) -> None:
    """The demo bundle at ``bundle``: converted once (in a child process), then reused."""
    if os.path.isfile(os.path.join(bundle, "manifest.json")) and not retrain:
        print(f"using the cached bundle {bundle} (--retrain to rebuild it)", file=sys.stderr)
        cached = load_bundle(bundle)
        table = cached.header.alpha_table
        if table is None or table.points[0].agreement is None:
            print(f"the cached bundle predates {'α tables' if table is None else 'agreement promises'}: fitting "
                  "its α table on the held-out split", file=sys.stderr)
            images, labels = load_split("digits", cached, "held-out")
            calibrate_bundle(bundle, images, labels)
        return
    print("training and converting Merkel's 6-exit CNN on digits (once; about a minute)", file=sys.stderr)
    os.makedirs(os.path.dirname(os.path.abspath(bundle)), exist_ok=True)
    command = [sys.executable, "-m", "converters", "multi-exit", "--dataset", "digits", "--out", bundle, "--force"]
    try:
        completed = subprocess.run(command, stdout=subprocess.DEVNULL)
    except OSError as exc:
        raise EdgeRuntimeError(f"cannot start the converter ({exc})") from exc
    if completed.returncode != 0:
        raise EdgeRuntimeError("the converter failed (see its message above); the demo needs the 'convert' extra: "
                               "pip install 'edge-adaptive[convert]'")


def _write_samples(workdir: str, count: int = 5) -> list[str]:
    """A few test digits as PNG files, for trying ``edge-runtime run``."""
    from PIL import Image  # only the demo writes images

    data = load_digits_dataset()
    folder = os.path.join(workdir, "samples")
    os.makedirs(folder, exist_ok=True)
    paths = []
    for i in range(count):
        path = os.path.join(folder, f"test{i}_label{data.labels[data.y_test[i]]}.png")
        if not os.path.exists(path):
            partial = path + ".partial.png"
            Image.fromarray(data.x_test[i][..., 0], mode="L").save(partial)
            os.replace(partial, path)
        paths.append(path)
    return paths


def cmd_demo(args: argparse.Namespace) -> int:
    workdir = os.path.abspath(args.workdir or default_workdir())
    os.makedirs(workdir, exist_ok=True)
    bundle = demo_bundle(workdir, args.retrain)
    if args.battery:
        return _battery_demo(args, bundle, workdir)
    plot = os.path.join(workdir, "digits-multi-exit.png")
    say = lambda m: print(m, file=sys.stderr)  # noqa: E731
    report = run_eval(open_runtime(bundle, num_threads=args.threads, rule=args.rule, energy=args.energy), "digits",
                      plot=plot, say=say)
    if args.json:
        print(json.dumps(report))
    else:
        print(FAMILIES["multi_exit"].format_report(report))
    samples = _write_samples(workdir)
    lines = summary_lines(report, plot, bundle, samples)
    print("\n".join(lines), file=sys.stderr if args.json else sys.stdout)
    return 0


def summary_lines(report: dict[str, Any], plot: str, bundle: str, samples: list[str]) -> list[str]:
    """The demo's summary under the eval table: for each rule the table shows, what it saves at the monolithic
    accuracy (it once said no point reached it under a Merkel table listing one that did)."""
    mono = report["monolithic"]
    best = report["at_monolithic_accuracy"]
    lines = ["", "What adaptive exits save on this machine (digits test split, int8, "
             f"{report['threads']} thread, {report['backend']}, {cpu_model()}):"]
    rules = [(report["rule"], best)] + [(name, entry.get("at_monolithic_accuracy"))
                                        for name, entry in report.get("by_rule", {}).items() if name != report["rule"]]
    for rule, at in rules:
        where = f"{'the α table' if rule == 'frontier' else 'Merkel’s rule (--rule merkel)'}"
        if at:
            lines.append(f"  {where}, at the monolithic model's accuracy ({mono['accuracy']:.1%}, within 0.5 points): "
                         f"{at['mac_saving']:.0%} fewer MACs and {at['latency_saving']:.0%} less time per image "
                         f"(α = {at['alpha']}, accuracy {at['accuracy']:.1%})")
        else:
            lines.append(f"  {where}: no operating point reached the monolithic model's accuracy within 0.5 points")
    first = report["rows"][0]
    lines.append(f"  at α = 0 ({report['rule']} rule): accuracy {first['accuracy']:.1%}, {first['mac_saving']:.0%} fewer "
                 f"MACs, {first['latency_saving']:.0%} less time; at α = 1: accuracy {report['rows'][-1]['accuracy']:.1%}, "
                 f"{report['rows'][-1]['mac_saving']:.0%} fewer MACs")
    if report.get("energy"):
        saving = f"{best['energy_saving']:.0%} less measured energy at the monolithic model's accuracy, " if best else ""
        lines.append(f"  measured with {report['energy']['monitor']}: {saving}{first['energy_saving']:.0%} at α = 0, "
                     f"{report['rows'][-1]['energy_saving']:.0%} at α = 1 (joules above idle per image)")
    oracle = report["oracle"]
    lines.append(f"  the oracle (each image at its earliest correct exit) would save {oracle['mac_saving']:.0%} of MACs")
    if report.get("hindsight"):
        lines.append(f"  per-exit thresholds fitted on the test split itself (hindsight) would save "
                     f"{report['hindsight']['mac_saving']:.0%} within 0.5 points")
    lines.append(f"  plot: {plot}")
    lines.append(f"  try:  edge-runtime run {bundle} {' '.join(samples[:3])} --alpha 0.8")
    return lines


def _battery_demo(args: argparse.Namespace, bundle: str, workdir: str) -> int:
    from edge_sim.battery_demo import format_battery_report, plot_battery, run_battery_demo  # the simulator

    from edge_sim.shifts import shifted

    runtime = open_runtime(bundle, num_threads=args.threads, rule=args.rule, energy=args.energy)
    data = load_dataset("digits", (runtime.bundle.input.height, runtime.bundle.input.width))
    pre = Preprocessor(runtime.bundle.input, runtime.input_quantization)
    images, labels = [pre.from_pixels(p) for p in shifted(data.x_test, args.shift)], data.y_test
    report = run_battery_demo(runtime, images, labels, policy_spec=args.policy, monitor_name=args.monitor_profile,
                              battery_name=args.battery_profile, board_name=args.board, charge_s=args.charge_seconds,
                              adapt=args.adapt)
    plot = os.path.join(workdir, "battery.png")
    plot_battery(report, plot)
    report["plot"] = plot
    if args.json:
        for result in (report["adaptive"], report["fixed"]):
            result.pop("trace", None)
        print(json.dumps(report))
    else:
        print(format_battery_report(report))
        print(f"  plot: {plot}")
    return 0
