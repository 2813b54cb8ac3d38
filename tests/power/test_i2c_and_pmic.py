"""Monitors on the Pi itself: an INA219/INA260 on the I2C bus (datasheet register words, an emulated
chip behind smbus2's interface) and the Pi 5's PMIC through a stand-in ``vcgencmd`` on PATH."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from edge_runtime.cli.capture import main as capture_main
from edge_runtime.power.capture.plot import read_capture
from edge_runtime.power.parsers import encode_frame, make_parser
from edge_runtime.power.profiles import ProfileError, load_profile
from edge_runtime.power.samples import Gap, Sample
from edge_runtime.power.transports import Monitor, PortError
from edge_runtime.power.transports.i2c import I2cReader, parse_i2c_url
from edge_sim.ina_i2c import FakeBus, Ina219, Ina260
from tests.waiting import Collector

RECORDED = Path(__file__).parent / "recorded"
INA219 = load_profile("ina219-i2c", "monitor")
INA260 = load_profile("ina260-i2c", "monitor")
PMIC = load_profile("pi5-pmic", "monitor")


def parse(profile, data: bytes):
    parser = make_parser(profile)
    return parser.feed(data, 1.0, 2.0) + parser.finish(1.0, 2.0)


def samples(events):
    return [e for e in events if isinstance(e, Sample)]


# --- registers: the datasheets' words ---------------------------------------------------------------

def test_ina219_datasheet_words():
    # 16 V on the bus with the conversion-ready bit; 40 mV across 0.1 Ω; calibration 4096 (100 µA/bit):
    # current 4000 → 0.4 A, power 4000 × 4000 / 5000 = 3200 → 6.4 W at 2 mW/bit
    frame = encode_frame({0x02: 0x7D02, 0x01: 0x0FA0, 0x04: 0x0FA0, 0x03: 0x0C80})
    (record,) = parse(INA219, frame)
    assert record.voltage_v == pytest.approx(16.0)
    assert record.current_a == pytest.approx(0.4)
    assert record.power_w == pytest.approx(6.4)
    assert dict(record.fields)["shunt_voltage_v"] == pytest.approx(0.040)
    # −320 mV is 0x8300 (two's complement of 32000): current flowing back into the supply
    (back,) = parse(INA219, encode_frame({0x02: 0x7D02, 0x01: 0x8300, 0x04: 0x8300, 0x03: 0x0C80}))
    assert dict(back.fields)["shunt_voltage_v"] == pytest.approx(-0.32)
    assert back.current_a == pytest.approx(-3.2)


def test_ina219_overflow_bit_is_a_gap_not_a_reading():
    (event,) = parse(INA219, encode_frame({0x02: 0x7D03, 0x01: 0x7D00, 0x04: 0x7FFF, 0x03: 0xFFFF}))
    assert isinstance(event, Gap) and event.reason == "out_of_range" and "overflow" in event.detail


def test_ina260_datasheet_words():
    # 0x2710 = 10000 × 1.25 mA = 12.5 A; 0x2580 = 9600 × 1.25 mV = 12 V; 0x3A98 = 15000 × 10 mW = 150 W
    (record,) = parse(INA260, encode_frame({0x06: 0x0008, 0x01: 0x2710, 0x02: 0x2580, 0x03: 0x3A98}))
    assert (record.voltage_v, record.current_a, record.power_w) == pytest.approx((12.0, 12.5, 150.0))
    (negative,) = parse(INA260, encode_frame({0x06: 0x0008, 0x01: 0xFFFF, 0x02: 0x2580, 0x03: 0x0000}))
    assert negative.current_a == pytest.approx(-0.00125)


words_st = st.lists(st.tuples(st.integers(0, 0xFFFF), st.integers(0, 0xFFFF), st.integers(0, 0xFFFF)), min_size=1,
                    max_size=10)


def ina260_stream(readings) -> bytes:
    return b"".join(encode_frame({0x06: 0x0008, 0x01: i, 0x02: v, 0x03: p}) for i, v, p in readings)


@settings(max_examples=60, deadline=None)
@given(readings=words_st, cuts=st.lists(st.integers(0, 1000), max_size=10), garbage=st.binary(max_size=40))
def test_register_frames_any_chunking_and_leading_garbage(readings, cuts, garbage):
    data = ina260_stream(readings)
    expected = [(r.current_a, r.voltage_v, r.power_w) for r in samples(parse(INA260, data))]
    assert len(expected) == len(readings)
    stream = garbage.replace(b"\xa5", b"") + data  # garbage without the magic's first byte cannot fake a frame
    points = sorted({c % (len(stream) + 1) for c in cuts})
    parser = make_parser(INA260)
    events = []
    for a, b in zip([0] + points, points + [len(stream)]):
        events += parser.feed(stream[a:b], 0.0, 0.0)
    events += parser.finish(0.0, 0.0)
    assert [(r.current_a, r.voltage_v, r.power_w) for r in samples(events)] == expected
    skipped = sum(e.count for e in events if isinstance(e, Gap) and e.reason == "garbled")
    assert skipped == len(garbage.replace(b"\xa5", b""))


@settings(max_examples=80, deadline=None)
@given(data=st.binary(max_size=400))
def test_random_bytes_into_register_and_rails_parsers_never_crash(data):
    for profile in (INA219, PMIC):
        for event in parse(profile, data):
            assert isinstance(event, (Sample, Gap))


# --- rails: recorded vcgencmd output -----------------------------------------------------------------

def test_pi5_pmic_recorded_output():
    (record,) = parse(PMIC, (RECORDED / "pmic_read_adc.txt").read_bytes() + b"\n")
    assert dict(record.fields)["rails_w"] == pytest.approx(2.434488, abs=1e-6)  # Σ V·I over the 12 paired rails
    assert record.power_w == pytest.approx(2.434488 * 1.1451 + 0.5879, abs=1e-5)  # the profile's loss model
    assert record.voltage_v == pytest.approx(5.12432)
    assert record.current_a == pytest.approx(record.power_w / 5.12432)


def test_pi5_pmic_other_firmware_layout_and_a_board_without_it():
    (record,) = parse(PMIC, (RECORDED / "pmic_read_adc_terse.txt").read_bytes())
    assert dict(record.fields)["rails_w"] == pytest.approx(2.0 * 0.85 + 3.3 * 0.1)
    events = parse(PMIC, (RECORDED / "pmic_read_adc_pi4.txt").read_bytes())
    assert not samples(events) and "Command not registered" in events[0].detail


@settings(max_examples=40, deadline=None)
@given(cuts=st.lists(st.integers(0, 5000), max_size=12), runs=st.integers(1, 4))
def test_pmic_runs_any_chunking_one_record_each(cuts, runs):
    one = (RECORDED / "pmic_read_adc.txt").read_bytes().rstrip(b"\n") + b"\n\n"
    data = one * runs
    points = sorted({c % (len(data) + 1) for c in cuts})
    parser = make_parser(PMIC)
    events = []
    for a, b in zip([0] + points, points + [len(data)]):
        events += parser.feed(data[a:b], 0.0, 0.0)
    events += parser.finish(0.0, 0.0)
    assert [round(e.power_w, 9) for e in events] == [round(3.3756322579, 9)] * runs


def test_profile_schema_checks_the_new_framings(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('kind = "monitor"\nname = "mine"\n[transport]\ntype = "i2c"\n[framing]\ntype = "registers"\n'
                    'ready_mask = 2\n[fields.voltage_v]\nregister = 2\n')
    with pytest.raises(ProfileError, match=r"framing\.ready_register"):
        load_profile(str(path), "monitor")
    path.write_text('kind = "monitor"\nname = "mine"\n[transport]\ntype = "i2c"\n[framing]\ntype = "registers"\n'
                    '[fields.voltage_v]\nscale = 0.004\n')
    with pytest.raises(ProfileError, match=r"fields\.voltage_v\.register"):
        load_profile(str(path), "monitor")
    path.write_text('kind = "monitor"\nname = "mine"\n[transport]\ntype = "command"\n[framing]\ntype = "rails"\n'
                    'voltage_rail = "EXT5V_V"\n')
    with pytest.raises(ProfileError, match=r"transport\.command"):
        load_profile(str(path), "monitor")


# --- the I2C transport on an emulated bus --------------------------------------------------------------

def start(profile, bus, url="", **kw):
    got = Collector()
    monitor = Monitor(profile, url, got.extend, i2c_bus=bus.opener, backoff=(0.01, 0.05), **kw)
    monitor.start()
    return monitor, got


def test_ina219_on_the_bus_is_calibrated_at_open_and_reads_the_load():
    chip = Ina219(lambda: (5.1, 0.5))
    bus = FakeBus({0x40: chip})
    monitor, got = start(INA219, bus)
    try:
        assert got.wait_for(lambda items: len(samples(items)) >= 3)
    finally:
        monitor.stop()
    assert chip.calibration == 4096  # without it the current and power registers read 0
    record = samples(got.items)[0]
    assert (record.voltage_v, record.current_a, record.power_w) == pytest.approx((5.1, 0.5, 2.55), abs=0.003)
    assert bus.closed == 1


def test_ina260_at_another_address_from_the_url():
    bus = FakeBus({0x41: Ina260(lambda: (12.0, 1.5))})
    monitor, got = start(INA260, bus, url="/dev/i2c-1?address=0x41")
    try:
        assert got.wait_for(lambda items: len(samples(items)) >= 2)
    finally:
        monitor.stop()
    assert samples(got.items)[0].power_w == pytest.approx(18.0, abs=0.01)


def test_wrong_bus_wrong_address_wrong_chip_are_one_line_each():
    bus = FakeBus({0x40: Ina219(lambda: (5.0, 0.1))})
    with pytest.raises(PortError, match="no such I2C bus"):
        Monitor(INA219, "/dev/i2c-7", lambda e: None, i2c_bus=bus.opener).open()
    with pytest.raises(PortError, match=r"0x44.*Errno 121"):
        Monitor(INA219, "/dev/i2c-1?address=0x44", lambda e: None, i2c_bus=bus.opener).open()
    with pytest.raises(PortError, match="address"):
        parse_i2c_url("/dev/i2c-1?address=0x99", 0x40)
    assert parse_i2c_url("3", 0x40) == ("/dev/i2c-3", 0x40)
    # an INA219 where the profile expects an INA260: refused at open, not read as nonsense
    with pytest.raises(PortError, match="0x40"):
        Monitor(INA260, "", lambda e: None, i2c_bus=bus.opener).open()


def test_a_loose_wire_is_a_gap_and_a_power_cycled_chip_is_calibrated_again():
    chip = Ina219(lambda: (5.0, 0.25))
    bus = FakeBus({0x40: chip})
    monitor, got = start(INA219, bus)
    try:
        assert got.wait_for(lambda items: len(samples(items)) >= 1)
        bus.fail_next(1)
        assert got.wait_for(lambda items: any(isinstance(e, Gap) and e.reason == "garbled" for e in items))
        with bus.lock:
            chip.power_cycle()  # brown-out: calibration lost
            bus.failures = 3 + 2  # three readings fail (→ disconnected), then the first reconnect fails too
        assert got.wait_for(lambda items: any(isinstance(e, Gap) and e.reason == "reconnected" for e in items))
        after = len(got.items)
        assert got.wait_for(lambda items: len(samples(items[after:])) >= 2)
    finally:
        monitor.stop()
    reasons = [e.reason for e in got.items if isinstance(e, Gap)]
    assert reasons.index("disconnected") < reasons.index("reconnected")
    assert samples(got.items[after:])[-1].current_a == pytest.approx(0.25, abs=0.001)
    assert chip.calibration == 4096


def test_no_conversion_for_too_long_is_reported():
    chip = Ina219(lambda: (5.0, 0.1))
    bus = FakeBus({0x40: chip})
    now = {"t": 100.0}
    events: list = []
    chunks: list = []
    reader = I2cReader("/dev/i2c-1", INA219, lambda d, a, b: chunks.append(d), events.extend,
                       bus_factory=bus.opener, monotonic=lambda: now["t"])
    reader.open()
    chip.clock = lambda: now["t"]
    reader.poll_once()
    assert len(chunks) == 1
    chip.config = 0x3998  # power-down mode: no more conversions, the ready bit stays clear
    now["t"] += 0.5
    reader.poll_once()
    assert len(chunks) == 1 and not events  # nothing new yet is not a failure
    now["t"] += reader.stale_s
    reader.poll_once()
    assert events and "conversion-ready" in events[0].detail
    reader.stop()


# --- the PMIC through a stand-in vcgencmd ----------------------------------------------------------

@pytest.fixture
def vcgencmd(tmp_path, monkeypatch):
    """A ``vcgencmd`` on PATH that prints a recorded file (``$VCGENCMD_OUTPUT``) and exits with
    ``$VCGENCMD_STATUS``."""
    folder = tmp_path / "bin"
    folder.mkdir()
    script = folder / "vcgencmd"
    script.write_text('#!/bin/sh\n[ "$1" = pmic_read_adc ] || { echo "error=2 error_msg=\\"Invalid arguments\\""; '
                      'exit 0; }\ncat "$VCGENCMD_OUTPUT"\nexit "${VCGENCMD_STATUS:-0}"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("VCGENCMD_OUTPUT", str(RECORDED / "pmic_read_adc.txt"))
    return monkeypatch


def test_edge_capture_reads_the_pmic_as_a_user_types_it(vcgencmd, tmp_path, capsys):
    out = tmp_path / "pmic.csv"
    assert capture_main(["--profile", "pi5-pmic", "--out", str(out), "--records", "3", "--quiet", "--raw"]) == 0
    rows = [r for r in read_capture(str(out)) if not r["event"]]
    assert len(rows) == 3
    assert float(rows[0]["power_w"]) == pytest.approx(3.37563, abs=1e-4)
    assert float(rows[0]["voltage_v"]) == pytest.approx(5.12432)
    again = tmp_path / "again.csv"
    assert capture_main(["--port", f"replay://{out}.raw?speed=0", "--profile", "pi5-pmic", "--out", str(again),
                         "--quiet"]) == 0
    assert [r["power_w"] for r in read_capture(str(again)) if not r["event"]] == [r["power_w"] for r in rows]


def test_pmic_on_a_board_without_it_or_without_vcgencmd(vcgencmd, tmp_path, capsys):
    vcgencmd.setenv("VCGENCMD_OUTPUT", str(RECORDED / "pmic_read_adc_pi4.txt"))
    assert capture_main(["--profile", "pi5-pmic", "--out", str(tmp_path / "a.csv"), "--records", "1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Error: ") and "Command not registered" in err and err.count("\n") == 1
    vcgencmd.setenv("PATH", str(tmp_path / "empty"))
    assert capture_main(["--profile", "pi5-pmic", "--out", str(tmp_path / "b.csv"), "--records", "1"]) == 1
    assert "vcgencmd: command not found" in capsys.readouterr().err
    assert not (tmp_path / "a.csv").exists() and not (tmp_path / "b.csv").exists()


def test_a_failing_run_is_a_gap_and_reading_goes_on(vcgencmd):
    got = Collector()
    monitor = Monitor(PMIC, "", got.extend, backoff=(0.01, 0.05))
    monitor.open()
    vcgencmd.setenv("VCGENCMD_STATUS", "1")  # the environment is read by each run: from now on they fail
    monitor.start()
    try:
        assert got.wait_for(lambda items: any(isinstance(e, Gap) and e.reason == "garbled" for e in items))
        vcgencmd.setenv("VCGENCMD_STATUS", "0")
        assert got.wait_for(lambda items: len(samples(items)) >= 1)
    finally:
        monitor.stop()
    first_gap = next(e for e in got.items if isinstance(e, Gap))
    assert "exited with status 1" in first_gap.detail
