"""Parsers: real firmware text and frames, any chunking, garbage, and the events it must count."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from edge_sim.wire import encode_frame, encode_record, header, record_values
from edge_runtime.power.parsers import decode_sysfs, make_parser
from edge_runtime.power.profiles import load_profile
from edge_runtime.power.samples import Gap, Sample

STREAM_PROFILES = ["adafruit-ina219-sketch", "csv", "circuitpython-ina219", "circuitpython-ina260", "rdtech-um",
                   "joulescope-csv"]


def feed_all(parser, chunks):
    events = []
    for i, chunk in enumerate(chunks):
        events += parser.feed(chunk, float(i), 1000.0 + i)
    return events


def values_only(events):
    return [(round(e.voltage_v, 6), round(e.current_a, 7), round(e.power_w, 6)) for e in events if isinstance(e, Sample)]


def stream(name, readings, variant=0):
    profile = load_profile(name, "monitor")
    body = b"".join(encode_record(profile, record_values(v, i, v * i, 50.0), variant) for v, i in readings)
    return profile, header(profile) + body


readings_st = st.lists(st.tuples(st.floats(2.5, 25.0), st.floats(0.001, 3.0)), min_size=1, max_size=12)


@pytest.mark.parametrize("name", STREAM_PROFILES)
@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(readings=readings_st, cuts=st.lists(st.integers(0, 10_000), max_size=20))
def test_any_chunking_gives_the_same_records(name, readings, cuts):
    profile, data = stream(name, readings)
    whole = make_parser(profile).feed(data, 0.0, 0.0)
    whole += make_parser(profile).finish(0.0, 0.0)
    points = sorted({c % (len(data) + 1) for c in cuts})
    chunks = [data[a:b] for a, b in zip([0] + points, points + [len(data)])]
    parser = make_parser(profile)
    pieces = feed_all(parser, chunks) + parser.finish(0.0, 0.0)
    assert values_only(pieces) == values_only(whole)
    assert len(values_only(whole)) == len(readings)
    assert not [e for e in whole if isinstance(e, Gap)]


@pytest.mark.parametrize("name", STREAM_PROFILES + ["pisugar"])
@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=600), cuts=st.lists(st.integers(0, 600), max_size=8))
def test_random_bytes_never_crash(name, data, cuts):
    parser = make_parser(load_profile(name, "monitor"))
    points = sorted({c % (len(data) + 1) for c in cuts})
    for a, b in zip([0] + points, points + [len(data)]):
        for event in parser.feed(data[a:b], 0.0, 0.0):
            assert isinstance(event, (Sample, Gap))
    parser.finish(0.0, 0.0)


@pytest.mark.parametrize("name", ["adafruit-ina219-sketch", "circuitpython-ina260", "csv", "rdtech-um"])
@settings(max_examples=30, deadline=None)
@given(garbage=st.binary(min_size=1, max_size=300), readings=readings_st)
def test_garbage_then_records_resynchronises(name, garbage, readings):
    profile, data = stream(name, readings)
    parser = make_parser(profile)
    head = header(profile)
    events = parser.feed(head + garbage.replace(b"\n", b"") + b"\n" + data[len(head):], 0.0, 0.0)
    events += parser.finish(0.0, 0.0)
    got = values_only(events)
    expected = values_only(make_parser(profile).feed(data, 0.0, 0.0))
    # the first record may be swallowed by the garbage before it (no line end, a false sync); none after it
    after_first = len(readings) - 1
    assert got[len(got) - after_first:] == expected[1:]
    assert any(isinstance(e, Gap) for e in events) or got == expected


def test_adafruit_sketch_as_printed():
    parser = make_parser(load_profile("adafruit-ina219-sketch", "monitor"))
    text = (b"Hello!\r\nMeasuring voltage and current with INA219 ...\r\n"
            b"Bus Voltage:   5.02 V\r\nShunt Voltage: 1.25 mV\r\nLoad Voltage:  5.02 V\r\n"
            b"Current:       12.50 mA\r\nPower:         62.00 mW\r\n\r\n"
            # a variant without the shunt line, printing Bus Power, and no blank line before the next block
            b"Bus Voltage:   4.90 V\r\nCurrent:       100.00 mA\r\nBus Power:     490.00 mW\r\n"
            b"Bus Voltage:   4.80 V\r\n")
    events = parser.feed(text, 5.0, 6.0) + parser.finish(7.0, 8.0)
    samples = [e for e in events if isinstance(e, Sample)]
    assert not [e for e in events if isinstance(e, Gap)]
    assert [(s.voltage_v, s.current_a, s.power_w) for s in samples[:2]] == [(5.02, 0.0125, 0.062), (4.90, 0.1, 0.49)]
    assert samples[2].voltage_v == 4.80 and math.isnan(samples[2].current_a)
    assert samples[0].t_monotonic == 5.0 and dict(samples[0].fields)["shunt_voltage_v"] == pytest.approx(0.00125)


def test_labelled_lines_events():
    parser = make_parser(load_profile("circuitpython-ina260", "monitor"))
    events = parser.feed(b"Current: 12.50 mA Voltage: 5.02 V Power:62.00 mW\r\nCurrent: 1 kA\r\n#$%\r\n"
                         b"Current: nan mA Voltage: 5.0 V Power:1.0 mW\r\nCurrent: 1.0 mA Voltage: -5.0 V\r\n", 1, 2)
    kinds = [e.reason if isinstance(e, Gap) else "sample" for e in events]
    assert kinds == ["sample", "garbled", "garbled", "nan", "out_of_range"]
    assert "unknown unit 'kA'" in events[1].detail
    assert events[0].power_w == pytest.approx(0.062)


def test_lines_split_across_reads_and_a_torn_end():
    parser = make_parser(load_profile("csv", "monitor"))
    events = parser.feed(b"voltage_v,current_a,power_w\n5.0,0.1", 1, 1) + parser.feed(b",0.5\n5.1,0.", 2, 2)
    assert values_only(events) == [(5.0, 0.1, 0.5)] and events[0].t_monotonic == 2
    end = parser.finish(3, 3)
    assert [e.reason for e in end] == ["truncated"]


def test_csv_without_header_is_reported_and_a_new_header_is_read():
    parser = make_parser(load_profile("joulescope-csv", "monitor"))
    events = parser.feed(b"1,2,3,4,5,6\n#comment\ntime,current,voltage,power,charge,energy\n"
                         b"60.06,0.0033,3.2998,0.0109,0.19,0.65\n61,NaN,3.3,nan,0.2,0.7\n", 0, 0)
    assert [e.reason if isinstance(e, Gap) else "sample" for e in events] == ["no_header", "sample", "nan"]
    assert dict(events[1].fields)["energy_j"] == pytest.approx(0.65)


def test_binary_frames_models_and_a_wrong_end_marker():
    profile = load_profile("rdtech-um", "monitor")
    um24 = encode_frame(profile, {"voltage_v": 5.12, "current_a": 0.5, "power_w": 2.56}, 0)
    um25 = encode_frame(profile, {"voltage_v": 5.123, "current_a": 0.5123, "power_w": 2.624}, 1)
    um34 = encode_frame(profile, {"voltage_v": 9.0, "current_a": 1.0, "power_w": 9.0}, 2)
    broken = um24[:-1] + b"\x00"
    parser = make_parser(profile)
    events = parser.feed(b"\x01\x02" + um24 + broken + um25 + um34, 0, 0)
    samples = [e for e in events if isinstance(e, Sample)]
    assert [(s.status, s.voltage_v, s.current_a) for s in samples] == [
        ("UM24C", 5.12, 0.5), ("UM25C", 5.123, 0.5123), ("UM34C", 9.0, 1.0)]
    reasons = [e.reason for e in events if isinstance(e, Gap)]
    assert "bad_end_marker" in reasons and "garbled" in reasons
    tampered = bytearray(um34)
    tampered[3] ^= 1
    assert [e.reason for e in make_parser(profile).feed(bytes(tampered), 0, 0)][0] == "bad_end_marker"


def test_pisugar_replies_old_and_new():
    parser = make_parser(load_profile("pisugar", "monitor"))
    events = parser.feed(b"battery_v: 3.79\nsingle\nbattery_i: 0.25\nbattery_power_plugged: false\nbattery: 49.48841\n"
                         b"battery_v: 3794.5104\nbattery_i: Invalid request.\nInvalid request.\n49.0\n", 0, 0)
    samples = [e for e in events if isinstance(e, Sample)]
    assert [(s.voltage_v, s.percent) for s in samples] == [(3.79, 49.48841), (pytest.approx(3.7945104), 49.0)]
    assert samples[0].current_a == 0.25 and samples[0].power_w == pytest.approx(3.79 * 0.25)
    assert sum(isinstance(e, Gap) and e.reason == "device_error" for e in events) == 2


def test_sysfs_sign_comes_from_status():
    profile = load_profile("linux-power-supply", "monitor")
    files = {"voltage_now": "4164000\n", "current_now": "-132000\n", "capacity": "97\n", "status": "Discharging\n"}
    s = decode_sysfs(profile, files, 1.0, 2.0)
    assert (s.voltage_v, s.current_a, s.percent, s.status) == (4.164, 0.132, 97.0, "Discharging")
    charging = decode_sysfs(profile, {**files, "current_now": "132000", "status": "Charging"}, 1.0, 2.0)
    assert charging.current_a == -0.132
    assert decode_sysfs(profile, {"voltage_now": "junk"}, 0, 0).reason == "garbled"


@settings(max_examples=40, deadline=None)
@given(replies=st.lists(st.tuples(st.floats(3.0, 4.3), st.floats(0.0, 2.0), st.floats(0.0, 100.0),
                                  st.booleans()), min_size=1, max_size=8),
       cuts=st.lists(st.integers(0, 2000), max_size=12))
def test_pisugar_replies_any_chunking(replies, cuts):
    profile = load_profile("pisugar", "monitor")
    data = b"".join((f"battery_v: {v:.5f}\n" + ("double\n" if button else "") + f"battery_i: {i:.5f}\n"
                     f"battery_power_plugged: false\nbattery: {p:.5f}\n").encode() for v, i, p, button in replies)
    points = sorted({c % (len(data) + 1) for c in cuts})
    parser = make_parser(profile)
    events = feed_all(parser, [data[a:b] for a, b in zip([0] + points, points + [len(data)])])
    samples = [e for e in events if isinstance(e, Sample)]
    assert [(round(s.voltage_v, 5), round(s.current_a, 5), round(s.percent, 5)) for s in samples] == \
        [(round(v, 5), round(i, 5), round(p, 5)) for v, i, p, _ in replies]
    assert not [e for e in events if isinstance(e, Gap)]
