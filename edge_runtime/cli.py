"""``edge-runtime``: run bundles on the device.

    edge-runtime run BUNDLE IMAGE… [--alpha A | --accuracy Ã] [--json]
    edge-runtime eval BUNDLE --dataset D [--threads N] [--json] [--plot FILE.png]
    edge-runtime info BUNDLE [--json]
    edge-runtime demo [--json]

Data goes to stdout, progress and diagnostics to stderr; errors are one ``Error: …`` line
(exit 1; usage errors exit 2), with a traceback only under ``--debug``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from typing import Any, Callable

from .arg_types import positive_float, positive_int, unit_interval
from .cli_errors import run_guarded
from .errors import EdgeRuntimeError, InputError
from .power.options import add_monitor_options, start_live_alpha

log = logging.getLogger("edge_runtime")
DEFAULT_ALPHA = 0.5


def _add_runtime_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bundle", help="bundle folder (made by edge-convert)")
    parser.add_argument("--backend", choices=("ai_edge_litert", "tflite_runtime", "tensorflow"),
                        help="interpreter package (default: the first installed, in this order)")
    parser.add_argument("--threads", type=positive_int, default=1,
                        help="interpreter threads (default 1: fastest for small models)")
    parser.add_argument("--delegate", action="append", choices=("edgetpu",), default=[],
                        help="load a hardware delegate (Coral Edge TPU: libedgetpu.so.1)")
    parser.add_argument("--beta1", type=float, help="eq. 10's β1 (default: the bundle's, 0.8)")
    parser.add_argument("--beta2", type=float, help="eq. 10's β2 (default: the bundle's, 1.1)")
    parser.add_argument("--json", action="store_true", help="machine-readable output on stdout")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edge-runtime", description="Energy-adaptive early-exit inference on the device.",
                                     epilog="Run 'edge-runtime COMMAND --help' for each command's options.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = sub.add_parser("run", help="classify image files", description="Classify JPEG/PNG files; each image leaves "
                         "the network at the first exit good enough for α (or for the desired accuracy).")
    _add_runtime_options(run)
    run.add_argument("images", nargs="+", metavar="IMAGE", help="JPEG or PNG files")
    choice = run.add_mutually_exclusive_group()
    choice.add_argument("--alpha", type=unit_interval, help=f"trade-off α in [0, 1]: 0 = most accurate, "
                        f"1 = least energy (default {DEFAULT_ALPHA})")
    choice.add_argument("--accuracy", type=unit_interval, help="desired accuracy Ã in [0, 1] instead of α")
    add_monitor_options(run)
    run.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)

    ev = sub.add_parser("eval", help="sweep α over a test split and compare with the monolithic model",
                        description="Run the test split at α from 0 to 1, each fixed-depth exit, the oracle and the "
                                    "monolithic int8 model, all in one run.")
    _add_runtime_options(ev)
    ev.add_argument("--dataset", required=True, help="'digits', a .npz (x_test, y_test used) or an image folder")
    ev.add_argument("--plot", metavar="FILE.png", help="draw Merkel's Fig. 9 and Fig. 10 to this PNG")
    ev.add_argument("--points", type=positive_int, default=21, help="evenly spaced α values in the sweep, plus half as many placed by eq. 7 (default 21)")
    ev.add_argument("--limit", type=positive_int, help="use only the first N test images")
    add_monitor_options(ev)
    ev.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)

    info = sub.add_parser("info", help="summarise a bundle")
    info.add_argument("bundle", help="bundle folder")
    info.add_argument("--json", action="store_true", help="print the manifest as JSON")
    info.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)

    demo = sub.add_parser("demo", help="train, convert and evaluate the reference model on digits",
                          description="Train and convert Merkel's multi-exit CNN on scikit-learn's digits (cached "
                                      "after the first run), evaluate it, write the plot and say what adaptive exits save.")
    demo.add_argument("--workdir", help="where the bundle, plot and sample images go (default: ~/.cache/edge-adaptive/demo)")
    demo.add_argument("--retrain", action="store_true", help="train and convert again even if a bundle is cached")
    demo.add_argument("--threads", type=positive_int, default=1, help="interpreter threads (default 1)")
    demo.add_argument("--json", action="store_true", help="print the report as JSON")
    demo.add_argument("--battery", action="store_true", help="drain a simulated battery through an emulated power "
                      "monitor: adaptive vs the fixed full model, images per charge and accuracy")
    demo.add_argument("--policy", default="auto", metavar="SPEC", help="with --battery: the α policy (default auto: a "
                      "table whose steps start at the α where this bundle's exits begin to fire)")
    demo.add_argument("--monitor-profile", default="adafruit-ina219-sketch", metavar="NAME",
                      help="with --battery: the firmware the emulator speaks (default adafruit-ina219-sketch)")
    demo.add_argument("--battery-profile", default="liion-1s-pisugar", metavar="NAME",
                      help="with --battery: the cell (default liion-1s-pisugar, scaled down)")
    demo.add_argument("--board", default="raspberry-pi-4", metavar="NAME", help="with --battery: the board's power "
                      "profile (default raspberry-pi-4)")
    demo.add_argument("--charge-seconds", type=positive_float, default=4.0, metavar="S", help="with --battery: one charge lasts "
                      "S seconds of the fixed model's compute (default 4)")
    demo.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return parser


def _open(args: argparse.Namespace):
    from .multi_exit import open_runtime

    return open_runtime(args.bundle, args.backend, args.threads, args.delegate, beta1=args.beta1, beta2=args.beta2)


def cmd_run(args: argparse.Namespace) -> int:
    runtime = _open(args)
    live = start_live_alpha(args, runtime.plan_for_alpha)
    try:
        return _run_images(args, runtime, live)
    finally:
        if live is not None:
            live.stop()


def _run_images(args: argparse.Namespace, runtime, live) -> int:
    from .preprocess import Preprocessor

    bundle = runtime.bundle
    multi_exit = bundle.family == "multi_exit"
    if args.accuracy is not None and not multi_exit:
        raise EdgeRuntimeError(f"{bundle.path}: --accuracy applies to multi-exit bundles; a {bundle.family} bundle "
                               "takes --alpha")
    if args.accuracy is not None:
        alpha, desired = None, args.accuracy
        plan = runtime.plan(desired)
    else:
        alpha = DEFAULT_ALPHA if args.alpha is None else args.alpha
        desired = runtime.desired_accuracy(alpha) if multi_exit else None
        plan = runtime.plan_for_alpha(alpha)
    pre = Preprocessor(bundle.input, runtime.input_quantization)
    failures = 0
    if not args.json:
        alpha_text = f"α from {args.monitor} ({args.policy})" if live else (
            "given Ã" if alpha is None else f"α = {alpha:g}" + (f" → desired accuracy {desired:.4f}" if multi_exit else ""))
        print(f"# {alpha_text}; routes {', '.join(runtime.route_names)}", file=sys.stderr)
    for path in args.images:
        try:
            image = pre.load(path)
        except InputError as exc:
            failures += 1
            print(f"Error: {exc}", file=sys.stderr)
            continue
        extra: dict[str, Any] = {}
        start = time.perf_counter_ns()
        if live is not None:
            point = live.current
            decision = runtime.classify(image, point.plan)
        else:
            decision = runtime.classify(image, plan)
        latency_us = (time.perf_counter_ns() - start) / 1000.0
        if live is not None:
            alpha = round(point.alpha, 6)
            desired = runtime.desired_accuracy(point.alpha) if multi_exit else None
            extra = {"soc": None if point.soc != point.soc else round(point.soc, 4), "alpha_source": point.source}
        record = {
            "image": path, "label": bundle.labels[decision.label], "class_index": decision.label,
            "confidence": round(decision.confidence, 6), "exit": decision.exit_index,
            "exit_name": runtime.route_names[decision.exit_index], "macs": decision.macs,
            "latency_us": round(latency_us, 2), "alpha": alpha,
            "desired_accuracy": None if desired is None else round(desired, 6), **extra,
        }
        if bundle.family == "gated":
            record["blocks_run"] = list(decision.blocks)
        if args.json:
            print(json.dumps(record), flush=True)
        else:
            battery = f"\tα {alpha:.3f} (SoC {extra['soc']}, {extra['alpha_source']})" if live else ""
            print(f"{path}\t{record['label']}\tconfidence {decision.confidence:.3f}\t{record['exit_name']}"
                  f"\t{decision.macs:,d} MACs\t{latency_us:.1f} µs{battery}", flush=True)
    return 1 if failures else 0


def _load_test_split(spec: str, runtime, limit: int | None):
    from .datasets import load_dataset
    from .preprocess import Preprocessor

    dataset = load_dataset(spec)
    bundle = runtime.bundle
    shape = (bundle.input.height, bundle.input.width, bundle.input.channels)
    if dataset.image_shape != shape:
        raise InputError(spec, f"images are {dataset.image_shape}, the bundle takes {shape}")
    if len(dataset.labels) != len(bundle.labels):
        raise InputError(spec, f"has {len(dataset.labels)} classes, the bundle has {len(bundle.labels)}")
    pre = Preprocessor(bundle.input, runtime.input_quantization)
    pixels, labels = dataset.x_test, dataset.y_test
    if limit:
        pixels, labels = pixels[:limit], labels[:limit]
    return [pre.from_pixels(p) for p in pixels], labels


def cmd_eval(args: argparse.Namespace, report_sink: Callable[[dict[str, Any]], None] | None = None) -> int:
    from .evaluate import evaluate, sweep_alphas

    if args.plot:
        folder = os.path.dirname(os.path.abspath(args.plot))
        if not os.path.isdir(folder):
            raise InputError(args.plot, f"cannot write the plot: the folder {folder} does not exist")
    runtime = _open(args)
    images, labels = _load_test_split(args.dataset, runtime, args.limit)
    if runtime.bundle.family == "pruned":
        return _eval_pruned(args, runtime, images, labels)
    if runtime.bundle.family == "gated":
        return _eval_gated(args, runtime, images, labels)
    print(f"evaluating {len(labels)} test images at {args.points} operating points ({args.threads} thread(s))",
          file=sys.stderr)
    report = evaluate(runtime, images, labels, sweep_alphas(runtime, args.points),
                      progress=lambda m: print(m, file=sys.stderr))
    report["dataset"] = args.dataset
    _add_live(args, runtime, images, labels, report)
    if args.plot:
        from .plots import plot_multi_exit

        plot_multi_exit(report, args.plot)
        print(f"wrote {args.plot}", file=sys.stderr)
    if report_sink:
        report_sink(report)
    if args.json:
        print(json.dumps(report))
    else:
        print(format_report(report))
    return 0


def _add_live(args: argparse.Namespace, runtime, images, labels, report: dict[str, Any]) -> None:
    """With --monitor: one more pass over the test split with α read live from the monitor."""
    from .evaluate import evaluate_live

    live = start_live_alpha(args, runtime.plan_for_alpha)
    if live is not None:
        try:
            report["live"] = evaluate_live(runtime, images, labels, live)
        finally:
            live.stop()


def _eval_gated(args: argparse.Namespace, runtime, images, labels) -> int:
    from .evaluate_gated import evaluate_gated, format_gated_report, plot_gated

    print(f"evaluating {len(labels)} test images over the gates' α table ({args.threads} thread(s))", file=sys.stderr)
    return _eval_family(args, runtime, images, labels, evaluate_gated, format_gated_report, plot_gated)


def _eval_pruned(args: argparse.Namespace, runtime, images, labels) -> int:
    from .evaluate_pruned import evaluate_pruned, format_pruned_report, plot_pruned

    print(f"evaluating {len(labels)} test images over the selector's α table ({args.threads} thread(s))",
          file=sys.stderr)
    return _eval_family(args, runtime, images, labels, evaluate_pruned, format_pruned_report, plot_pruned)


def _eval_family(args: argparse.Namespace, runtime, images, labels, evaluate_fn, format_fn, plot_fn) -> int:
    """The α-table sweep of a pruned or gated bundle, the live pass, the plot and the output."""
    report = evaluate_fn(runtime, images, labels, progress=lambda m: print(m, file=sys.stderr))
    report["dataset"] = args.dataset
    _add_live(args, runtime, images, labels, report)
    if args.plot:
        plot_fn(report, args.plot)
        print(f"wrote {args.plot}", file=sys.stderr)
    if args.json:
        print(json.dumps(report))
    else:
        print(format_fn(report))
        if report.get("live"):
            print(format_live(report["live"]))
    return 0


def format_live(live: dict[str, Any]) -> str:
    def soc(value: float | None) -> str:
        return "?" if value is None else f"{value:.1%}"

    return (f"live α from the monitor: mean α {live['mean_alpha']:.3f}, SoC {soc(live['soc_first'])} → "
            f"{soc(live['soc_last'])}, "
            f"accuracy {live['accuracy']:.4f}, {live['mac_saving']:.1%} fewer MACs, exits {live['exit_histogram']}, "
            f"α sources {live['alpha_sources']}")


def format_report(report: dict[str, Any]) -> str:
    """The eval report as a table for people."""
    mono = report["monolithic"]
    lines = [f"{'alpha':>6} {'Ã':>7} {'accuracy':>9} {'MACs':>11} {'MAC save':>9} {'µs':>8} {'time save':>10}  exits"]
    for r in report["rows"]:
        alpha = "-" if r["alpha"] is None else f"{r['alpha']:.2f}"
        lines.append(f"{alpha:>6} {r['desired_accuracy']:7.4f} {r['accuracy']:9.4f} {r['mean_macs']:11,.0f} "
                     f"{r['mac_saving']:8.1%} {r['mean_latency_us']:8.1f} {r['latency_saving']:9.1%}  {r['exit_histogram']}")
    lines.append("")
    for f in report["fixed_depth"]:
        lines.append(f"fixed depth {f['exit']:>8}: accuracy {f['accuracy']:.4f}  {f['macs']:>11,d} MACs  {f['latency_us']:8.1f} µs")
    lines.append(f"monolithic int8     : accuracy {mono['accuracy']:.4f}  {mono['macs']:>11,d} MACs  {mono['latency_us']:8.1f} µs")
    full = report["full_model"]
    lines.append(f"chain to last exit  : accuracy {full['accuracy']:.4f}  {full['macs']:>11,d} MACs  {full['latency_us']:8.1f} µs "
                 f"({full['latency_us'] / mono['latency_us']:.3f}× monolithic)")
    oracle = report["oracle"]
    lines.append(f"oracle              : accuracy {oracle['accuracy']:.4f}  {oracle['mean_macs']:>11,.0f} MACs "
                 f"({oracle['mac_saving']:.1%} saved)")
    if report.get("live"):
        lines.append(format_live(report["live"]))
    best = report["at_monolithic_accuracy"]
    if best:
        lines.append(f"at the monolithic accuracy (−{best['tolerance'] * 100:.1f} points): α = {best['alpha']}, accuracy "
                     f"{best['accuracy']:.4f}, {best['mac_saving']:.1%} fewer MACs, {best['latency_saving']:.1%} less time")
    return "\n".join(lines)


def cmd_info(args: argparse.Namespace) -> int:
    from .bundle import load_bundle

    bundle = load_bundle(args.bundle)
    if args.json:
        print(json.dumps(bundle.manifest))
        return 0
    spec = bundle.input
    producer = bundle.manifest.get("producer", {})
    print(f"bundle      {bundle.path}")
    print(f"family      {bundle.family}   (made by {producer.get('tool', '?')} {producer.get('version', '')}, "
          f"model {producer.get('model', '?')})")
    print(f"input       {spec.width}×{spec.height} {spec.color_mode}, real = pixel × {spec.pixel_scale:.6g} + "
          f"{spec.pixel_offset:g}, resize {spec.resize}")
    print(f"labels      {', '.join(bundle.labels[:12])}{' …' if len(bundle.labels) > 12 else ''}")
    if bundle.family == "pruned":
        _info_pruned(bundle)
        return 0
    if bundle.family == "gated":
        _info_gated(bundle)
        return 0
    fit = bundle.energy_fit
    print(f"calibration β1 = {bundle.beta1}, β2 = {bundle.beta2}, "
          + (f"C_D = {fit.a:.4g}·e^({fit.b:.4g}·A)" if fit else "no energy–accuracy fit"))
    print(f"monolithic  {bundle.monolithic.macs:,d} MACs, held-out accuracy "
          f"{bundle.calibration.get('monolithic_accuracy', float('nan')):.4f}")
    print(f"{'exit':>8} {'MACs':>12} {'int8 acc':>9} {'float acc':>10}")
    for ex in bundle.exits:
        print(f"{ex.name:>8} {ex.macs:>12,d} {ex.accuracy:9.4f} {ex.float_accuracy:10.4f}")
    for name, info in bundle.manifest["files"].items():
        print(f"file        {name}  {info['bytes']:,d} bytes  sha256 {info['sha256'][:16]}…")
    return 0


def _info_gated(bundle) -> None:
    spec = bundle.gated
    cal = bundle.calibration
    print(f"ungated     {bundle.monolithic.macs:,d} MACs, held-out int8 accuracy {cal.get('monolithic_accuracy', float('nan')):.4f}; "
          f"device gates agree with Keras on {cal.get('gate_agreement_with_keras', float('nan')):.1%} of decisions")
    print(f"stem        segment {spec.stem}: {bundle.segments[spec.stem].macs:,d} MACs (with gate 1)")
    for b in spec.blocks:
        print(f"{b.name:<11} run {b.run} ({bundle.segments[b.run].macs:,d} MACs) | skip {b.skip} "
              f"({bundle.segments[b.skip].macs:,d} MACs{', projection' if b.projection else ''}) | energy share {b.energy:.1%}")
    for name, info in bundle.manifest["files"].items():
        print(f"file        {name}  {info['bytes']:,d} bytes  sha256 {info['sha256'][:16]}…")


def _info_pruned(bundle) -> None:
    spec = bundle.pruned
    f = spec.figures
    cal = bundle.calibration
    print(f"original    {bundle.monolithic.macs:,d} MACs, held-out int8 accuracy {cal.get('monolithic_accuracy', float('nan')):.4f}")
    print(f"pruning     φ_MP {f.get('phi_mp')}, φ_AP {f.get('phi_ap')} (AP has {f.get('ap_mac_reduction', 0):.1%} fewer MACs)")
    print(f"held-out    AP {cal.get('acc_ap', float('nan')):.4f}, MP {cal.get('acc_mp', float('nan')):.4f}, system "
          f"{cal.get('acc_system', float('nan')):.4f} at the trained threshold ({cal.get('hci_fraction', 0):.1%} to MP)")
    for role in ("trunk", "icnn_head", "ap_head", "mp", "selector"):
        name = getattr(spec, role)
        if name:
            print(f"{role:<11} segment {name}: {bundle.segments[name].macs:,d} MACs")
    for name, info in bundle.manifest["files"].items():
        print(f"file        {name}  {info['bytes']:,d} bytes  sha256 {info['sha256'][:16]}…")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    if args.command == "run" and args.monitor and (args.alpha is not None or args.accuracy is not None):
        parser.error("--monitor sets α from the battery: drop --alpha/--accuracy")
    if getattr(args, "baud", None) is not None and args.baud <= 0:
        parser.error(f"--baud must be a positive rate, got {args.baud}")
    if getattr(args, "beta1", None) is not None and not args.beta1 > 0:
        parser.error(f"--beta1 must be positive, got {args.beta1}")
    if getattr(args, "beta2", None) is not None and not args.beta2 > 0:
        parser.error(f"--beta2 must be positive, got {args.beta2}")
    handlers = {"run": cmd_run, "eval": cmd_eval, "info": cmd_info}

    def handle() -> int:
        if args.command == "demo":
            from .demo import cmd_demo

            return cmd_demo(args)
        return handlers[args.command](args)

    return run_guarded(handle, args.debug)

if __name__ == "__main__":
    sys.exit(main())
