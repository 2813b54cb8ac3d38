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

from .errors import EdgeRuntimeError


def default_workdir() -> str:
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "edge-adaptive", "demo")


def _ensure_bundle(bundle: str, retrain: bool) -> None:
    if os.path.isfile(os.path.join(bundle, "manifest.json")) and not retrain:
        print(f"using the cached bundle {bundle} (--retrain to rebuild it)", file=sys.stderr)
        return
    print("training and converting Merkel's 6-exit CNN on digits (once; about a minute)", file=sys.stderr)
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
    from PIL import Image

    from .datasets import load_digits_dataset

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
    from .cli import cmd_eval

    workdir = os.path.abspath(args.workdir or default_workdir())
    os.makedirs(workdir, exist_ok=True)
    bundle = os.path.join(workdir, "digits-multi-exit")
    _ensure_bundle(bundle, args.retrain)
    if args.battery:
        return _battery_demo(args, bundle, workdir)
    plot = os.path.join(workdir, "digits-multi-exit.png")
    reports: list[dict] = []
    eval_args = argparse.Namespace(bundle=bundle, backend=None, threads=args.threads, delegate=[], beta1=None,
                                   beta2=None, json=args.json, dataset="digits", plot=plot, points=21, limit=None)
    cmd_eval(eval_args, report_sink=reports.append)
    report = reports[0]
    samples = _write_samples(workdir)
    mono = report["monolithic"]
    best = report["at_monolithic_accuracy"]
    lines = ["", "What adaptive exits save on this machine (digits test split, int8, "
             f"{report['threads']} thread, {report['backend']}):"]
    if best:
        lines.append(f"  at the monolithic model's accuracy ({mono['accuracy']:.1%}, within 0.5 points): "
                     f"{best['mac_saving']:.0%} fewer MACs and {best['latency_saving']:.0%} less time per image "
                     f"(α = {best['alpha']}, accuracy {best['accuracy']:.1%})")
    else:
        lines.append("  no operating point reached the monolithic model's accuracy within 0.5 points")
    oracle = report["oracle"]
    lines.append(f"  the oracle (each image at its earliest correct exit) would save {oracle['mac_saving']:.0%} of MACs")
    lines.append(f"  plot: {plot}")
    lines.append(f"  try:  edge-runtime run {bundle} {' '.join(samples[:3])} --alpha 0.8")
    print("\n".join(lines), file=sys.stderr if args.json else sys.stdout)
    return 0


def _battery_demo(args: argparse.Namespace, bundle: str, workdir: str) -> int:
    from .battery_demo import format_battery_report, plot_battery, run_battery_demo
    from .cli import _load_test_split
    from .multi_exit import open_runtime

    runtime = open_runtime(bundle, num_threads=args.threads)
    images, labels = _load_test_split("digits", runtime, None)
    report = run_battery_demo(runtime, images, labels, policy_spec=args.policy, monitor_name=args.monitor_profile,
                              battery_name=args.battery_profile, board_name=args.board, charge_s=args.charge_seconds)
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
