"""``edge-runtime demo --battery``: the closed loop, battery → monitor → α → exits → energy → battery.

A simulated Li-ion cell, scaled down so that one charge lasts seconds, is drained by the energy
each inference actually costs: its measured wall time × the board profile's power (idle plus
one busy core). A firmware emulator prints the cell's voltage and current on a real
pseudo-terminal in the monitor profile's own format; the runtime reads it back through pyserial
and the profile's parser, estimates the state of charge by coulomb counting, and lets the policy
set α for each image. The same cell is then drained again by the fixed full model (the
monolithic int8 model); the report compares images per charge and accuracy.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import tempfile
import time
from typing import Any, Callable

import numpy as np

from edge_runtime.core.adapt import PromiseKeeper
from edge_runtime.core.audit import DEFAULT_AUDIT_RATE, AgreementAudit, describe_audit
from edge_runtime.core.plots import pyplot, save_atomic
from edge_runtime.power.live import LiveAlpha
from edge_runtime.power.policies import Linear, policy_for_runtime
from edge_runtime.power.profiles import BatteryProfile, BoardProfile, load_profile

from .battery import SimulatedBattery, battery_values
from .pty import PtyEmulator

BANDS = ((1.0, 0.75), (0.75, 0.5), (0.5, 0.25), (0.25, 0.0))


def _scaled_battery(profile: BatteryProfile, capacity_j: float) -> BatteryProfile:
    """The same chemistry and curve with a capacity of ``capacity_j`` joules."""
    mah = capacity_j / profile.nominal_voltage_v / 3.6
    return dataclasses.replace(profile, name=f"{profile.name} (scaled to {mah:.3g} mAh)", capacity_mah=mah)


def _drain(battery: SimulatedBattery, power_w: float, images: list[np.ndarray], labels: np.ndarray,
           classify: Callable[[int, np.ndarray], Any], say: Callable[[str], None], name: str) -> dict[str, Any]:
    """Classify the test images in a loop until the battery is empty; charge each inference's measured time."""
    n = len(images)
    correct = []
    exits = []
    alphas = []
    socs = []
    count = 0
    last_wall = time.perf_counter()
    next_report = last_wall + 1.0
    while not battery.empty:
        i = count % n
        soc = battery.soc
        start = time.perf_counter_ns()
        label, exit_index, alpha = classify(i, images[i])
        spent_s = (time.perf_counter_ns() - start) * 1e-9
        now = time.perf_counter()
        battery.consume(power_w * spent_s, now - last_wall)
        last_wall = now
        correct.append(label == labels[i])
        exits.append(exit_index)
        alphas.append(alpha)
        socs.append(soc)
        count += 1
        if now >= next_report:
            say(f"  {name}: {count:,d} images, battery {battery.soc:6.1%}, α {alpha:.3f}, "
                f"mean exit of the last 1000 {np.mean(exits[-1000:]):.2f}")
            next_report = now + 1.0
    correct_a = np.array(correct)
    socs_a = np.array(socs)
    bands = []
    for hi, lo in BANDS:
        mask = (socs_a <= hi) & (socs_a > lo) if lo > 0 else (socs_a <= hi)
        if mask.any():
            bands.append({"soc_from": hi, "soc_to": lo, "images": int(mask.sum()),
                          "accuracy": float(correct_a[mask].mean()),
                          "mean_alpha": float(np.mean(np.array(alphas)[mask])),
                          "mean_exit": float(np.mean(np.array(exits)[mask]))})
    return {"images": count, "accuracy": float(correct_a.mean()) if count else 0.0, "bands": bands,
            "trace": {"soc": socs_a[::max(1, count // 400)].tolist(),
                      "alpha": alphas[::max(1, count // 400)], "exit": exits[::max(1, count // 400)]}}


def run_battery_demo(runtime: Any, images: list[np.ndarray], labels: np.ndarray, *,
                     policy_spec: str = "linear", monitor_name: str = "adafruit-ina219-sketch",
                     battery_name: str = "liion-1s-pisugar", board_name: str = "raspberry-pi-4",
                     charge_s: float = 4.0, interval_s: float = 0.02, audit_rate: float = DEFAULT_AUDIT_RATE,
                     adapt: bool = True,
                     say: Callable[[str], None] = lambda m: print(m, file=sys.stderr)) -> dict[str, Any]:
    """Drain the same simulated battery with the adaptive runtime and with the fixed full model.

    ``charge_s`` sets the capacity: the energy the fixed model's inferences spend in that many
    seconds of compute. ``audit_rate`` of the adaptive run's images also run the monolithic network (the
    label-free audit, :mod:`edge_runtime.core.audit`), and their time is charged to the battery; with
    ``adapt`` the runtime keeps the audited promise (:mod:`edge_runtime.core.adapt`), as ``run --adapt`` does.
    """
    monitor = load_profile(monitor_name, "monitor")
    board: BoardProfile = load_profile(board_name, "board")
    power_w = board.idle_power_w + board.active_power_w
    capacity_j = power_w * charge_s
    battery_profile = _scaled_battery(load_profile(battery_name, "battery"), capacity_j)
    say(f"battery: {battery_profile.name}, {capacity_j:.1f} J; board {board.name} at {power_w:.2f} W while computing; "
        f"monitor {monitor.name} on a pseudo-terminal; policy {policy_spec}")

    say("fixed full model (the monolithic int8 model):")
    fixed_battery = SimulatedBattery(battery_profile, capacity_j=capacity_j)

    def fixed(i: int, image: np.ndarray) -> tuple[int, int, float]:
        return runtime.classify_monolithic(image), len(runtime.exits) - 1, 0.0

    fixed_result = _drain(fixed_battery, power_w, images, labels, fixed, say, "fixed")

    say("adaptive (α from the battery, read back through the monitor):")
    audit = AgreementAudit(audit_rate)
    battery = SimulatedBattery(battery_profile, capacity_j=capacity_j)
    with tempfile.TemporaryDirectory(prefix="edge-demo-") as folder:
        link = os.path.join(folder, "ttyMONITOR")
        emulator = PtyEmulator(monitor, link, battery_values(battery), interval_s=interval_s).open()
        policy = policy_for_runtime(policy_spec, runtime, time.time())
        if isinstance(policy, Linear):
            say(f"policy {policy_spec}: {policy.basis}")
        live = LiveAlpha(monitor, link, battery_profile, policy, runtime.plan_for_alpha, grace_s=5.0, safe_alpha=0.0)
        live.start()
        emulator.start()
        try:
            if not live.wait_first(5.0):
                say("  warning: no reading from the emulated monitor yet")

            plans = getattr(runtime, "alpha_plans", None)
            keeper = PromiseKeeper(runtime, audit, lambda line: say(f"  {line}")) if adapt and plans else None

            def adaptive(i: int, image: np.ndarray) -> tuple[int, int, float]:
                point = live.current
                plan = point.plan if keeper is None else keeper.plan(point.alpha, point.plan)
                decision = runtime.classify(image, plan)
                checked = audit.check(runtime, image, decision, point.alpha)  # its time is charged by _drain
                if checked is not None and keeper is not None:
                    keeper.observe(image, checked.reference, checked.agrees, point.alpha)
                return decision.label, runtime.route_names.index(decision.answered_by), point.alpha

            adaptive_result = _drain(battery, power_w, images, labels, adaptive, say, "adaptive")
        finally:
            live.stop()
            emulator.stop()
    ratio = adaptive_result["images"] / max(fixed_result["images"], 1)
    return {
        "adaptive": {**adaptive_result, "monitor_samples": live.samples, "monitor_gaps": dict(live.gaps),
                     "audit": audit.snapshot()},
        "fixed": fixed_result,
        "images_ratio": ratio,
        "accuracy_change_points": 100.0 * (adaptive_result["accuracy"] - fixed_result["accuracy"]),
        "policy": policy_spec, "monitor": monitor.name, "battery": battery_profile.name, "board": board.name,
        "capacity_j": capacity_j, "power_w": power_w,
    }


def format_battery_report(report: dict[str, Any]) -> str:
    a, f = report["adaptive"], report["fixed"]
    lines = ["", f"One charge of the same battery ({report['capacity_j']:.1f} J, policy {report['policy']}):",
             f"  fixed full model : {f['images']:>9,d} images, accuracy {f['accuracy']:.2%}",
             f"  adaptive         : {a['images']:>9,d} images, accuracy {a['accuracy']:.2%}",
             f"  → {report['images_ratio']:.2f}× the images per charge, accuracy {report['accuracy_change_points']:+.2f} "
             f"points; the monitor gave {a['monitor_samples']} readings",
             f"  {describe_audit(a['audit'])}" if "audit" in a else "",
             "", f"  {'charge':>11} {'images':>9} {'mean α':>7} {'mean exit':>9} {'accuracy':>9}"]
    for band in a["bands"]:
        lines.append(f"  {band['soc_from']:>4.0%} → {band['soc_to']:<4.0%} {band['images']:>9,d} {band['mean_alpha']:7.3f} "
                     f"{band['mean_exit']:9.2f} {band['accuracy']:9.2%}")
    return "\n".join(lines)


def plot_battery(report: dict[str, Any], path: str) -> None:
    """State of charge, α and the exit taken over one charge (atomic PNG)."""
    plt = pyplot()
    trace = report["adaptive"]["trace"]
    soc = np.array(trace["soc"])
    fig, ax = plt.subplots(figsize=(9, 4))
    x = 100 * (1 - soc)
    ax.plot(x, trace["alpha"], label="α (from the monitor)", color="tab:red")
    ax.set_xlabel("charge used (%)")
    ax.set_ylabel("α")
    ax.set_ylim(-0.02, 1.02)
    ax2 = ax.twinx()
    exits = np.array(trace["exit"], dtype=float)
    window = max(1, len(exits) // 40)
    smooth = np.convolve(exits, np.ones(window) / window, mode="valid")
    ax2.plot(x[window - 1:], smooth, label="exit taken (moving mean)", color="tab:blue")
    ax2.set_ylabel("exit")
    ax.set_title(f"adaptive: {report['adaptive']['images']:,d} images per charge vs "
                 f"{report['fixed']['images']:,d} for the fixed model ({report['images_ratio']:.2f}×)")
    fig.legend(loc="center left", bbox_to_anchor=(0.08, 0.5))
    save_atomic(fig, path)
