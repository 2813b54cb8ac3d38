"""``edge-runtime profile``: measure what each operating point of a bundle costs on this board, in joules,
with the board's power monitor; writes ENERGY.json for ``run``, ``eval``, ``demo`` and ``serve --energy``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

import numpy as np

from ..core.bundle import Bundle
from ..core.preprocess import Preprocessor
from ..energy.profiler import SampleLog, profile
from ..energy.record import write_energy
from ..errors import InputError
from ..power.profiles import load_profile
from ..power.transports import Monitor, parse_monitor_spec
from ..registry import FAMILIES, open_runtime
from ..schema import dump
from .arg_types import positive_float, positive_int
from .common import load_split

SYNTHETIC_IMAGES = 64


def add_parser(sub: Any) -> None:
    pr = sub.add_parser("profile", help="measure each operating point's joules with the power monitor",
                        description="Measure idle power, then run bursts of each operating point of the bundle (each "
                                    "exit, route, or block) and integrate the monitor's power over them, minus idle, "
                                    "on one monotonic clock, with the monitor's delay estimated from the bursts.")
    pr.add_argument("bundle", help="bundle folder")
    pr.add_argument("--monitor", required=True, metavar="PROFILE@URL",
                    help="the power monitor measuring the board, e.g. adafruit-ina219-sketch@/dev/ttyACM0")
    pr.add_argument("--out", required=True, metavar="ENERGY.json", help="where to write the measurements")
    pr.add_argument("--dataset", help="images to run (its test split). Default: random pixels of the bundle's input "
                                      "size, since a fixed operating point costs the same whatever the image")
    pr.add_argument("--seconds", type=positive_float, default=3.0, metavar="S",
                    help="seconds given to each operating point, bursts and gaps (default 3)")
    pr.add_argument("--repeats", type=positive_int, default=3, help="bursts per operating point (default 3)")
    pr.add_argument("--board", default="", help="the board's name, recorded in ENERGY.json")
    pr.add_argument("--baud", type=int, help="override the monitor profile's baud rate")
    pr.add_argument("--threads", type=positive_int, default=1, help="interpreter threads (default 1)")
    pr.add_argument("--delegate", action="append", choices=("edgetpu",), default=[],
                    help="profile the bundle's Edge TPU build (edge-convert edgetpu) through libedgetpu.so.1")
    pr.add_argument("--edgetpu-device", metavar="DEVICE", help="with --delegate edgetpu: usb, pci, usb:0, :1…")
    pr.add_argument("--json", action="store_true", help="print ENERGY.json on stdout too")
    pr.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    pr.set_defaults(handler=cmd_profile)


def random_images(bundle: Bundle, count: int = SYNTHETIC_IMAGES, seed: int = 0) -> list[np.ndarray]:
    """``count`` images of uniformly random pixels, as the bundle's int8 inputs."""
    spec = bundle.input
    pixels = np.random.default_rng(seed).integers(0, 256, (count, spec.height, spec.width, spec.channels), np.uint8)
    pre = Preprocessor(spec, bundle.monolithic.inputs["x"].quantization)
    return [pre.from_pixels(p) for p in pixels]


def cmd_profile(args: argparse.Namespace) -> int:
    folder = os.path.dirname(os.path.abspath(args.out))
    if not os.path.isdir(folder):
        raise InputError(args.out, f"cannot write it: the folder {folder} does not exist")
    runtime = open_runtime(args.bundle, num_threads=args.threads, delegate_names=args.delegate,
                           edgetpu_device=args.edgetpu_device)
    if runtime.placement_note:
        print(f"warning: {runtime.placement_note}", file=sys.stderr)
    images = load_split(args.dataset, runtime.bundle, "test", 256)[0] if args.dataset else random_images(runtime.bundle)
    name, url = parse_monitor_spec(args.monitor)
    monitor_profile = load_profile(name, "monitor")
    log = SampleLog()
    monitor = Monitor(monitor_profile, url, log, baud=args.baud)
    monitor.open()
    monitor.start()
    say = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    points = FAMILIES[runtime.bundle.family].energy_points(runtime)
    say(f"profiling {len(points)} operating points of {runtime.bundle.path} with {args.monitor}")
    try:
        result = profile(points, images, log, bundle_path=os.path.abspath(args.bundle), family=runtime.bundle.family,
                         monitor=args.monitor, board=args.board, seconds=args.seconds, repeats=args.repeats, say=say)
    finally:
        monitor.stop()
    write_energy(args.out, result)
    say(f"idle {result.idle_w:.3f} W (±{result.idle_spread_w:.3f}), monitor delay {result.delay_s * 1e3:.0f} ms, "
        f"period {result.sample_period_s * 1e3:.1f} ms; wrote {args.out}")
    if args.json:
        print(json.dumps(dump(result)))
    else:
        print(f"{'point':<22} {'mJ/inference':>13} {'± mJ':>8} {'µs':>9} {'bursts':>7} {'samples':>8}")
        for point_name, point in result.points.items():
            joules = "missing" if point.joules is None else f"{point.joules * 1e3:13.4f}"
            spread = "" if point.spread_j is None else f"{point.spread_j * 1e3:8.4f}"
            print(f"{point_name:<22} {joules:>13} {spread:>8} {point.latency_us:9.1f} {point.bursts:7d} "
                  f"{point.samples:8d}" + (f"  ({point.missing})" if point.missing else ""))
    return 0
