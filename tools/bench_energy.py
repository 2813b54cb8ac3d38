"""Measured energy (issue 12): profiling against an emulated board, per-exit joules beside MACs and latency,
and the α table fitted on joules beside the one fitted on MACs.

    python -m tools.bench_energy [BUNDLE] [--seconds 3] [--json]

Without BUNDLE it uses (and if needed builds) the demo bundle. The emulated board's power is
2.7 W idle plus 1.2 W per busy core of this very process (from /proc/PID/stat), seen 80 ms late. It
is read twice, through the two paths a user's INA219 takes: the Arduino sketch's text over a real
pseudo-terminal (``edge-runtime profile`` as typed), and the chip's registers over an emulated I2C
bus (the ``ina219-i2c`` profile, the same profiler). Then ``edge-runtime eval --energy`` compares the
two α tables on the digits test split.

What the figures can and cannot say: the emulator's joules are CPU time by construction, so their
agreement with latency shows the pipeline recovers what the monitor saw (idle, delay, per-point
joules), not a board's physics. Their agreement with MACs is the proxy question on this CPU.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
import threading
import time
from typing import Any

import numpy as np

from edge_runtime.cli.demo import demo_bundle
from edge_runtime.cli.main import main as runtime_main
from edge_runtime.cli.profile import random_images
from edge_runtime.energy.profiler import SampleLog, profile
from edge_runtime.power.profiles import load_profile
from edge_runtime.power.transports import Monitor
from edge_runtime.registry import FAMILIES, open_runtime
from edge_runtime.cli.arg_types import doc_summary
from edge_runtime.core.timing import cpu_model
from edge_sim.cpu_power import CpuFollowingPower
from edge_sim.ina_i2c import FakeBus, Ina219
from edge_sim.pty import PtyEmulator

IDLE_W, BUSY_W, VOLTS, DELAY_S = 2.7, 1.2, 5.1, 0.08


def spearman(a: list[float], b: list[float]) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def profile_over_pty(bundle: str, out: str, seconds: float) -> dict[str, Any]:
    sketch = load_profile("adafruit-ina219-sketch", "monitor")
    source = CpuFollowingPower(os.getpid(), IDLE_W, BUSY_W, VOLTS, delay_s=DELAY_S, window_s=0.04,
                               thread_id=threading.get_native_id())
    link = os.path.join(tempfile.mkdtemp(), "ttyINA")
    emulator = PtyEmulator(sketch, link, source, interval_s=0.01).open()
    emulator.start()
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            code = runtime_main(["profile", bundle, "--monitor", f"{sketch.name}@{link}", "--out", out,
                                 "--seconds", str(seconds), "--board", "emulated (CPU-following)"])
    finally:
        emulator.stop()
    if code != 0:
        raise SystemExit(f"edge-runtime profile failed ({code})")
    with open(out) as f:
        return json.load(f)


def profile_over_i2c(bundle: str, seconds: float) -> dict[str, Any]:
    source = CpuFollowingPower(os.getpid(), IDLE_W, BUSY_W, VOLTS, delay_s=DELAY_S, window_s=0.04,
                               thread_id=threading.get_native_id())
    chip = Ina219(lambda: (VOLTS, source.power_at(time.monotonic()) / VOLTS))
    bus = FakeBus({0x40: chip})
    log = SampleLog()
    monitor = Monitor(load_profile("ina219-i2c", "monitor"), "/dev/i2c-1", log, i2c_bus=bus.opener)
    monitor.start()
    runtime = open_runtime(bundle)
    try:
        result = profile(FAMILIES[runtime.bundle.family].energy_points(runtime), random_images(runtime.bundle), log,
                         bundle_path=bundle, family=runtime.bundle.family, monitor="ina219-i2c@emulated bus",
                         seconds=seconds)
    finally:
        monitor.stop()
    return {"idle_w": result.idle_w, "delay_s": result.delay_s, "sample_period_s": result.sample_period_s,
            "points": {name: {"joules": p.joules, "latency_us": p.latency_us} for name, p in result.points.items()}}


def eval_with_energy(bundle: str, energy: str) -> dict[str, Any]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = runtime_main(["eval", bundle, "--dataset", "digits", "--energy", energy, "--json"])
    if code != 0:
        raise SystemExit(f"edge-runtime eval failed ({code})")
    return json.loads(out.getvalue())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=doc_summary(__doc__))
    parser.add_argument("bundle", nargs="?", help="a multi-exit bundle (default: the demo bundle)")
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds per operating point (default 3)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    bundle = args.bundle or demo_bundle()
    runtime = open_runtime(bundle)
    energy_path = os.path.join(tempfile.mkdtemp(), "ENERGY.json")
    print("profiling through the INA219 sketch over a pseudo-terminal…", file=sys.stderr)
    pty = profile_over_pty(bundle, energy_path, args.seconds)
    print("profiling through the INA219's registers over an emulated I2C bus…", file=sys.stderr)
    i2c = profile_over_i2c(bundle, args.seconds)
    print("evaluating both α tables…", file=sys.stderr)
    report = eval_with_energy(bundle, energy_path)

    exits = [(ex.name, ex.macs) for ex in runtime.exits]
    joules = [pty["points"][n]["joules"] for n, _ in exits]
    latency = [pty["points"][n]["latency_us"] for n, _ in exits]
    macs = [float(m) for _, m in exits]
    by_joules = report["by_rule"]["frontier"]["rows"]
    by_macs = report["by_rule"]["frontier_macs"]["rows"]
    pick = [0.0, 0.25, 0.5, 0.75, 1.0]
    table = [{"alpha": a,
              "joules": next(r for r in by_joules if abs(r["alpha"] - a) < 1e-9),
              "macs": next(r for r in by_macs if abs(r["alpha"] - a) < 1e-9)} for a in pick]
    result = {
        "bundle": bundle,
        "idle_w": {"emulated": IDLE_W, "pty": pty["idle_w"], "i2c": i2c["idle_w"]},
        "delay_s": {"emulated": DELAY_S, "pty": pty["delay_s"], "i2c": i2c["delay_s"]},
        "per_exit": [{"exit": n, "macs": m, "latency_us": lat, "joules_uj": j * 1e6 if j is not None else None,
                      "joules_uj_i2c": (i2c["points"][n]["joules"] or 0) * 1e6}
                     for (n, m), lat, j in zip(exits, latency, joules)],
        "monolithic_uj": (pty["points"]["monolithic"]["joules"] or 0) * 1e6,
        "rank_agreement": {"joules_vs_latency": spearman(joules, latency), "joules_vs_macs": spearman(joules, macs)},
        "alpha_tables": [{"alpha": row["alpha"],
                          "energy_saving_by_joules": row["joules"]["energy_saving"],
                          "energy_saving_by_macs": row["macs"]["energy_saving"],
                          "accuracy_by_joules": row["joules"]["accuracy"], "accuracy_by_macs": row["macs"]["accuracy"],
                          "exits_by_joules": row["joules"]["exit_histogram"],
                          "exits_by_macs": row["macs"]["exit_histogram"]} for row in table],
    }
    if args.json:
        print(json.dumps({**result, "cpu": cpu_model()}))
        return 0
    print(f"CPU: {cpu_model()}")
    print(f"bundle {bundle}")
    print(f"idle power: emulated {IDLE_W:.3f} W; recovered {pty['idle_w']:.3f} W over the pty "
          f"({pty['idle_w'] / IDLE_W - 1:+.1%}), {i2c['idle_w']:.3f} W over I2C ({i2c['idle_w'] / IDLE_W - 1:+.1%})")
    print(f"monitor delay: emulated {DELAY_S * 1e3:.0f} ms (+ a 40 ms averaging window); estimated "
          f"{pty['delay_s'] * 1e3:.0f} ms (pty), {i2c['delay_s'] * 1e3:.0f} ms (I2C)")
    print(f"{'exit':<8} {'MACs':>10} {'µs':>7} {'µJ (pty)':>9} {'µJ (I2C)':>9}")
    for row in result["per_exit"]:
        print(f"{row['exit']:<8} {row['macs']:>10,} {row['latency_us']:7.2f} {row['joules_uj']:9.2f} "
              f"{row['joules_uj_i2c']:9.2f}")
    print(f"{'monolithic':<19} {pty['points']['monolithic']['latency_us']:7.2f} {result['monolithic_uj']:9.2f}")
    agreement = result["rank_agreement"]
    print(f"rank agreement (Spearman) of joules with latency {agreement['joules_vs_latency']:.2f}, "
          f"with MACs {agreement['joules_vs_macs']:.2f}")
    print(f"{'α':>5} {'saving (J table)':>17} {'saving (MAC table)':>19} {'acc J':>7} {'acc MAC':>8}")
    for row in result["alpha_tables"]:
        print(f"{row['alpha']:5.2f} {row['energy_saving_by_joules']:17.1%} {row['energy_saving_by_macs']:19.1%} "
              f"{row['accuracy_by_joules']:7.2%} {row['accuracy_by_macs']:8.2%}")
    print("(energy saving: measured joules per image against the monolithic model's, on the digits test split)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
