#!/usr/bin/env python3
"""Benchmark of the battery-driven α (issue #3): the figures it asks for, measured side by side.

    python -m tools.bench_power.py [--lines 500000] [--capture-seconds 60] [--json]

Prints:
* parsing: CSV lines/s fed to the parser in bulk, and end to end through a pyserial port
  (``replay://`` at full speed) read in bulk (``in_waiting``) against pyserial's ``readline()``;
* capture: the emulator (a separate process) writes the pattern profile over a pseudo-terminal
  as fast as it can for --capture-seconds while edge-capture (another process) records it; every
  row is checked against the pattern: records lost, records corrupted, rate;
* α read cost: a decision with the plan read from a live monitor's ``current`` against the
  same decision with a fixed plan, interleaved in rounds;
* the battery demo: images per charge and accuracy, adaptive vs the fixed full model, for the
  default ``linear`` (an accuracy budget of half a point), ``linear:loss=1`` and ``linear:hi=1``
  (α = 1 − SoC, to the cheapest point), and ``linear:hi=1`` once more on a copy of the bundle whose
  α table was fitted on the test split itself: what the best table of per-exit thresholds could do
  when a linear policy runs to the cheapest point.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time


from edge_sim.wire import encode_record, header, pattern_check, pattern_values
from edge_runtime.power.parsers import make_parser
from edge_runtime.power.profiles import load_profile
from edge_runtime.power.transports import open_port
from edge_runtime.core.timing import cpu_model

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def csv_stream(lines: int) -> bytes:
    profile = load_profile("csv", "monitor")
    body = b"".join(encode_record(profile, pattern_values(i, 0.0)) for i in range(lines))
    return header(profile) + body


def parse_rate(data: bytes, lines: int, chunk: int = 65536) -> float:
    parser = make_parser(load_profile("csv", "monitor"))
    start = time.perf_counter()
    count = 0
    for i in range(0, len(data), chunk):
        count += len(parser.feed(data[i:i + chunk], 0.0, 0.0))
    elapsed = time.perf_counter() - start
    assert count == lines, (count, lines)
    return lines / elapsed


def port_rates(data: bytes, lines: int) -> dict[str, float]:
    """Lines/s through replay:// read in bulk with the parser, and with pyserial's readline()."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "stream.raw")
        with open(path, "wb") as file:
            file.write(data)
        url = f"replay://{path}?speed=0"
        parser = make_parser(load_profile("csv", "monitor"))
        port = open_port(url, 115200, timeout=0.05)
        start = time.perf_counter()
        count = 0
        while True:
            chunk = port.read(port.in_waiting or 1)
            if not chunk and getattr(port, "finished", False):
                break
            count += len(parser.feed(chunk, time.monotonic(), time.time()))
        bulk = count / (time.perf_counter() - start)
        port.close()
        assert count == lines, (count, lines)
        port = open_port(url, 115200, timeout=0.05)
        limit = min(lines, 50_000)
        start = time.perf_counter()
        for _ in range(limit):
            port.readline()
        readline = limit / (time.perf_counter() - start)
        port.close()
    return {"bulk_lines_per_s": bulk, "readline_lines_per_s": readline}


def capture_check(seconds: float) -> dict[str, float]:
    """Emulator and edge-capture in two processes over a pty; check every row against the pattern."""
    with tempfile.TemporaryDirectory() as folder:
        link = os.path.join(folder, "tty")
        out = os.path.join(folder, "capture.csv")
        emulator = subprocess.Popen([sys.executable, "-m", "tools.power_emulator", "--profile",
                                     "csv", "--link", link, "--pattern", "--interval", "0", "--start-after",
                                     "1.5", "--duration", str(seconds)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                    cwd=ROOT)
        while not os.path.exists(link):
            time.sleep(0.01)
        capture = subprocess.run([sys.executable, "-m", "edge_runtime.cli.capture", "--port", link, "--profile",
                                  "csv", "--out", out, "--duration", str(seconds + 3.5), "--json", "--quiet"],
                                 stdout=subprocess.PIPE, text=True, check=True)
        written = json.loads(emulator.communicate()[0])["written"]
        summary = json.loads(capture.stdout)
        with open(out, newline="") as file:
            rows = [r for r in csv.DictReader(file) if not r["event"]]
        corrupted = sum(not pattern_check(i, float(r["voltage_v"]), float(r["current_a"])) for i, r in enumerate(rows))
        first, last = float(rows[0]["t_monotonic"]), float(rows[-1]["t_monotonic"])
    return {"written": written, "captured": len(rows), "lost": written - len(rows), "corrupted": corrupted,
            "gaps": summary["gaps"], "records_per_s": len(rows) / (last - first), "seconds": last - first}


def alpha_read_cost(rounds: int) -> dict[str, float]:
    from edge_runtime.core.datasets import load_digits_dataset
    from edge_runtime.cli.demo import demo_bundle
    from edge_runtime.registry import open_runtime
    from edge_runtime.power.live import LiveAlpha
    from edge_runtime.power.policies import Linear
    from edge_runtime.core.preprocess import Preprocessor

    bundle = demo_bundle()
    runtime = open_runtime(bundle)
    data = load_digits_dataset()
    pre = Preprocessor(runtime.bundle.input, runtime.input_quantization)
    images = [pre.from_pixels(p) for p in data.x_test]
    monitor = load_profile("adafruit-ina219-sketch", "monitor")
    live = LiveAlpha(monitor, "loop://", load_profile("liion-1s-pisugar", "battery"), Linear(),
                     runtime.plan_for_alpha, safe_alpha=0.95)
    fixed_plan = runtime.plan_for_alpha(0.95)
    clock = time.perf_counter_ns

    def fixed() -> float:
        start = clock()
        for image in images:
            runtime.classify(image, fixed_plan)
        return (clock() - start) / len(images) / 1000

    def from_live() -> float:
        start = clock()
        for image in images:
            runtime.classify(image, live.current.plan)
        return (clock() - start) / len(images) / 1000

    fixed()
    from_live()
    pairs = [(fixed(), from_live()) for _ in range(rounds)]
    diffs = [b - a for a, b in pairs]
    start = clock()
    for _ in range(1_000_000):
        live.current.plan
    read_ns = (clock() - start) / 1_000_000
    return {"fixed_plan_us": statistics.median(a for a, _ in pairs), "live_plan_us": statistics.median(b for _, b in pairs),
            "difference_us": statistics.median(diffs), "attribute_read_ns": read_ns}


DEMO_POLICIES = ("linear", "linear:loss=1", "linear:hi=1")


def battery_demo(policy: str, workdir: str | None = None) -> dict[str, float]:
    command = [sys.executable, "-m", "edge_runtime", "demo", "--battery", "--json", "--policy", policy]
    if workdir:
        command += ["--workdir", workdir]
    out = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, check=True)
    report = json.loads(out.stdout)
    return {"policy": policy, "adaptive_images": report["adaptive"]["images"],
            "adaptive_accuracy": report["adaptive"]["accuracy"],
            "fixed_images": report["fixed"]["images"], "fixed_accuracy": report["fixed"]["accuracy"],
            "images_ratio": report["images_ratio"], "accuracy_change_points": report["accuracy_change_points"]}


def battery_demos() -> list[dict[str, float]]:
    """The demo under each of :data:`DEMO_POLICIES`, then ``linear:hi=1`` with a table fitted on the test split."""
    import shutil

    from edge_runtime.cli.common import load_split
    from edge_runtime.cli.demo import demo_bundle
    from edge_runtime.registry import calibrate_bundle, load_bundle

    results = [battery_demo(policy) for policy in DEMO_POLICIES]
    bundle = demo_bundle()
    with tempfile.TemporaryDirectory(prefix="bench-power-") as folder:
        copy = os.path.join(folder, "digits-multi-exit")
        shutil.copytree(bundle, copy)
        images, labels = load_split("digits", load_bundle(copy), "test")
        calibrate_bundle(copy, images, labels)
        fitted = battery_demo("linear:hi=1", folder)
    results.append({**fitted, "policy": "linear:hi=1, table fitted on the test split"})
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Issue #3's figures, measured side by side.")
    parser.add_argument("--lines", type=int, default=500_000, help="CSV lines for the parsing figures")
    parser.add_argument("--capture-seconds", type=float, default=60.0, help="length of the pty capture check")
    parser.add_argument("--rounds", type=int, default=7, help="rounds of the α read comparison")
    parser.add_argument("--skip", action="append", default=[], choices=("parse", "capture", "alpha", "demo"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result: dict[str, dict] = {}
    say = (lambda m: print(m, file=sys.stderr, flush=True))
    if "parse" not in args.skip:
        say(f"parsing {args.lines:,d} CSV lines …")
        data = csv_stream(args.lines)
        result["parse"] = {"parser_lines_per_s": parse_rate(data, args.lines), **port_rates(data, args.lines)}
    if "capture" not in args.skip:
        say(f"capturing over a pseudo-terminal for {args.capture_seconds:g} s …")
        result["capture"] = capture_check(args.capture_seconds)
    if "alpha" not in args.skip:
        say("timing decisions with a fixed plan and with the live α …")
        result["alpha"] = alpha_read_cost(args.rounds)
    if "demo" not in args.skip:
        say(f"running edge-runtime demo --battery with {', '.join(DEMO_POLICIES)} and a table fitted on the test "
            "split …")
        result["demo"] = battery_demos()
    if args.json:
        print(json.dumps({**result, "cpu": cpu_model()}))
        return 0
    print(f"CPU: {cpu_model()}")
    if "parse" in result:
        p = result["parse"]
        print(f"parser, bulk chunks         : {p['parser_lines_per_s']:>12,.0f} lines/s")
        print(f"replay:// port, in_waiting  : {p['bulk_lines_per_s']:>12,.0f} lines/s")
        print(f"replay:// port, readline()  : {p['readline_lines_per_s']:>12,.0f} lines/s")
    if "capture" in result:
        c = result["capture"]
        print(f"pty capture {c['seconds']:.0f} s           : {c['captured']:,d} of {c['written']:,d} records "
              f"({c['records_per_s']:,.0f}/s), lost {c['lost']}, corrupted {c['corrupted']}, gap rows {c['gaps']}")
    if "alpha" in result:
        a = result["alpha"]
        print(f"decision, fixed plan        : {a['fixed_plan_us']:8.2f} µs")
        print(f"decision, live α's plan     : {a['live_plan_us']:8.2f} µs  (difference {a['difference_us']:+.2f} µs; "
              f"the read alone {a['attribute_read_ns']:.0f} ns)")
    for d in result.get("demo", []):
        print(f"battery demo, --policy {d['policy']}: adaptive {d['adaptive_images']:,d} images at "
              f"{d['adaptive_accuracy']:.2%}, fixed {d['fixed_images']:,d} at {d['fixed_accuracy']:.2%} → "
              f"{d['images_ratio']:.2f}× per charge, {d['accuracy_change_points']:+.2f} points")
    return 0


if __name__ == "__main__":
    sys.exit(main())
