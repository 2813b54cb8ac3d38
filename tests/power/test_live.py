"""The live α: a real monitor on a pseudo-terminal drives the runtime; silence falls back safely."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from edge_sim.battery import SimulatedBattery, battery_values
from edge_sim.pty import PtyEmulator
from edge_runtime.power.live import LiveAlpha
from edge_runtime.power.policies import Linear
from edge_runtime.power.profiles import load_profile
from edge_runtime.power.samples import Sample

INA219 = load_profile("adafruit-ina219-sketch", "monitor")
CELL = load_profile("liion-1s-pisugar", "battery")


def make_live(policy=Linear(), **kw):
    return LiveAlpha(INA219, "loop://", CELL, policy, lambda alpha: ("plan", alpha), **kw)


def test_alpha_follows_the_charge_and_the_plan_is_ready():
    live = make_live()
    assert live.current.source == "start" and live.current.alpha == 0.5
    live.feed(Sample(0.0, 0.0, CELL.ocv_volts(0.3), 0.0, 0.0))
    point = live.current
    assert point.source == "monitor" and point.soc == pytest.approx(0.3, abs=1e-6)
    assert point.alpha == pytest.approx(0.7, abs=1e-6) and point.plan == ("plan", round(point.alpha, 3))


def test_silence_holds_then_falls_back_to_the_safe_alpha(caplog):
    live = make_live(grace_s=10.0, safe_alpha=0.9)
    live.feed(Sample(0.0, 0.0, CELL.ocv_volts(0.8), 0.0, 0.0))
    heard = live.last_reading_at
    live.check_silence(heard + 2.0)
    assert live.current.source == "monitor"
    live.check_silence(heard + 7.0)  # beyond three of the sketch's 2 s periods: held
    assert live.current.source == "held" and live.current.alpha == pytest.approx(0.2, abs=1e-6)
    live.check_silence(heard + 11.0)
    assert live.current.source == "safe" and live.current.alpha == 0.9 and live.current.plan == ("plan", 0.9)
    assert "safe α = 0.9" in caplog.text


def test_a_bad_sample_does_not_stop_the_monitor():
    def broken(state, now, previous, dt):
        raise ZeroDivisionError("policy bug")

    live = make_live(policy=broken)
    live._on_events([Sample(0.0, 0.0, 3.9, 0.0, 0.0)])
    assert live.errors == 1 and live.current.source == "start"


def test_a_monitor_without_percentage_needs_a_battery():
    with pytest.raises(Exception, match="add --battery NAME"):
        LiveAlpha(INA219, "loop://", None, Linear(), lambda a: a)
    pisugar = load_profile("pisugar", "monitor")
    LiveAlpha(pisugar, "loop://", None, Linear(), lambda a: a)  # reports its own percentage


def test_closed_loop_over_a_pseudo_terminal(tmp_path, runtime, test_images):
    """A draining cell, printed by the emulated INA219 sketch, read back: α rises, exits move earlier."""
    capacity_j = 40.0
    cell = dataclasses.replace(CELL, capacity_mah=capacity_j / CELL.nominal_voltage_v / 3.6)
    battery = SimulatedBattery(cell, soc=0.95, capacity_j=capacity_j)
    link = str(tmp_path / "tty")
    emulator = PtyEmulator(INA219, link, battery_values(battery), interval_s=0.01).open()
    live = LiveAlpha(INA219, link, cell, Linear(), runtime.plan_for_alpha, grace_s=5.0)
    live.start()
    emulator.start()
    try:
        assert live.wait_first(5.0)
        images, labels = test_images
        seen = []
        while not battery.empty or seen[-1][0] < 1.0:
            point = live.current
            decision = runtime.classify(images[len(seen) % len(images)], point.plan)
            battery.consume(5.0 * 0.001, 0.001)  # 5 mJ per image: 8,000 images drain the cell
            seen.append((point.alpha, runtime.route_names.index(decision.answered_by)))
            if len(seen) % 100 == 0:  # let the monitor report the drain before going on
                assert live.wait_samples(live.samples + 1, 10.0), "the monitor stopped reporting"
    finally:
        live.stop()
        emulator.stop()
    alphas = [a for a, _ in seen]
    assert alphas[0] <= 0.1 and alphas[-1] == 1.0, "α = 1 − state of charge rose as the cell drained"
    assert alphas == sorted(alphas) or max(a - b for a, b in zip(alphas, alphas[1:])) < 0.02  # no going back
    early = [e for a, e in seen if a <= 0.25]
    late = [e for a, e in seen if a >= 0.9]
    assert sum(late) / len(late) < sum(early) / len(early)  # exits moved earlier as α rose
    assert live.state.source == "coulomb" and live.samples > 20


@pytest.mark.parametrize("spec", ["linear:hi=1", "linear"])
def test_run_carries_soc_and_alpha_in_each_record(tmp_path, digits_bundle, runtime, capsys, spec):
    """α = 1 − SoC for both; plain ``linear`` ends α at the floor where the table expects half a point lost less
    the held-out count's standard error, and ``linear:hi=1`` at the bundle's own floor."""
    from PIL import Image

    from edge_runtime.cli.main import main
    from edge_runtime.core.datasets import load_digits_dataset

    data = load_digits_dataset()
    paths = []
    for i in range(3):
        path = tmp_path / f"{i}.png"
        Image.fromarray(data.x_test[i][..., 0], mode="L").save(path)
        paths.append(str(path))
    battery = SimulatedBattery(CELL, soc=0.25)
    link = str(tmp_path / "tty")
    emulator = PtyEmulator(INA219, link, battery_values(battery), interval_s=0.05).open()
    emulator.start()
    try:
        code = main(["run", digits_bundle, *paths, "--json", "--monitor", f"{INA219.name}@{link}", "--battery",
                     CELL.name, "--policy", spec])
    finally:
        emulator.stop()
    assert code == 0
    captured = capsys.readouterr()
    records = [json.loads(line) for line in captured.out.splitlines()]
    assert len(records) == 3
    assert "to 1 at empty" in captured.err
    if spec == "linear":
        from edge_runtime.power.policies import default_linear_loss

        table = runtime.alpha_plans.table
        alpha0 = table.points[0].expected_accuracy
        points = default_linear_loss(alpha0, table.held_out_samples)
        assert points < 0.5  # 216 held-out images cannot tell half a point
        assert f"expects {alpha0 - points / 100:.2%}: the floor" in captured.err
    for record in records:
        assert record["alpha_source"] == "monitor"
        assert record["soc"] == pytest.approx(0.25, abs=0.02) and record["alpha"] == pytest.approx(0.75, abs=0.02)


def test_run_refuses_alpha_with_monitor(digits_bundle):
    from edge_runtime.cli.main import main

    with pytest.raises(SystemExit) as info:
        main(["run", digits_bundle, "x.png", "--alpha", "0.3", "--monitor", "csv@loop://"])
    assert info.value.code == 2


def test_a_silent_monitor_never_stops_inference(tmp_path, digits_bundle, capsys):
    from edge_runtime.cli.main import main

    link = str(tmp_path / "tty")
    emulator = PtyEmulator(INA219, link, lambda seq, t: {}, interval_s=1.0).open()  # a port that says nothing
    try:
        code = main(["eval", digits_bundle, "--dataset", "digits", "--limit", "40", "--points", "2", "--json",
                     "--monitor", f"{INA219.name}@{link}", "--battery", CELL.name, "--grace", "0.2",
                     "--safe-alpha", "0.8"])
    finally:
        emulator.stop()
    captured = capsys.readouterr()
    assert code == 0
    live = json.loads(captured.out)["live"]
    assert sum(live["alpha_sources"].values()) == 40 and set(live["alpha_sources"]) <= {"start", "safe"}
    assert "no reading from" in captured.err
    assert math.isclose(live["mean_alpha"], 0.8)  # the safe α from the first image on


def test_battery_demo_report(digits_bundle, test_images):
    from edge_runtime.registry import open_runtime
    from edge_sim.battery_demo import run_battery_demo

    images, labels = test_images
    # its own runtime: the linear policy sets the runtime's floor, and the session's runtime is shared (with the
    # default budget at 0 points on the fixture's 216 held-out images, a later test found the floor at α = 0)
    runtime = open_runtime(digits_bundle)
    report = run_battery_demo(runtime, images, labels, charge_s=0.4, interval_s=0.01, say=lambda m: None)
    adaptive, fixed = report["adaptive"], report["fixed"]
    assert fixed["images"] > 1000 and adaptive["images"] > 0
    assert {"images", "accuracy"} <= set(adaptive) and {"images", "accuracy"} <= set(fixed)
    assert report["images_ratio"] == adaptive["images"] / fixed["images"]
    assert adaptive["monitor_samples"] > 0
    bands = adaptive["bands"]
    assert bands[0]["mean_alpha"] < bands[-1]["mean_alpha"]  # α rose as the battery drained
    # every 50th image also ran the monolithic network, on the battery's charge, unless the budget skipped it
    audit = adaptive["audit"]
    assert abs(audit["audited"] + audit["skipped_for_budget"] - adaptive["images"] // 50) <= 1
    assert audit["audited"] > 0 and audit["promise"] is not None and audit["budget"] == 0.03
    assert audit["status"] in ("ok", "degraded", "unknown")
