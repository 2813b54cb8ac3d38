"""Profiles: every shipped file loads, and each kind of mistake is one clear line."""

from __future__ import annotations

import pytest

from edge_runtime.power.profiles import (BatteryProfile, MonitorProfile, ProfileError, available, load_profile,
                                         parse_profile)

MONITORS = ["adafruit-ina219-sketch", "csv", "circuitpython-ina219", "circuitpython-ina260", "rdtech-um",
            "joulescope-csv", "linux-power-supply", "pisugar"]

GOOD = """
kind = "monitor"
name = "mine"
[transport]
type = "serial"
baud = 9600
[framing]
type = "lines"
[fields.voltage_v]
labels = ["V"]
units = { V = 1.0 }
"""


def test_the_issue_s_profiles_are_shipped():
    names = available()
    for name in MONITORS + ["liion-1s-pisugar", "liion-2s-pack", "raspberry-pi-4"]:
        assert name in names
    for name in MONITORS:
        assert isinstance(load_profile(name, "monitor"), MonitorProfile)
    assert load_profile("liion-2s-pack", "battery").cells_series == 2


def test_a_user_profile_is_one_file(tmp_path, monkeypatch):
    (tmp_path / "mine.toml").write_text(GOOD)
    monkeypatch.setenv("EDGE_ADAPTIVE_PROFILES", str(tmp_path))
    profile = load_profile("mine", "monitor")
    assert profile.transport.baud == 9600 and profile.fields[0].units == {"V": 1.0}
    assert load_profile(str(tmp_path / "mine.toml"), "monitor").name == "mine"


@pytest.mark.parametrize("change, field, words", [
    (("baud = 9600", "baudrate = 9600"), "transport.baudrate", 'unknown key (did you mean "baud"?)'),
    (('type = "lines"', 'type = "line"'), "framing.type", 'expected one of "lines", "blocks"'),
    (('type = "lines"', 'type = "line"'), "framing.type", '(did you mean "lines"?)'),
    (('labels = ["V"]', 'lables = ["V"]'), "fields.voltage_v.lables", 'did you mean "labels"'),
    (('labels = ["V"]', 'column = "V"'), "fields.voltage_v.labels", 'needs each field to say where it is, like labels = ["Current"]'),
    (("baud = 9600", 'baud = "fast"'), "transport.baud", "expected a baud rate like 115200, got 'fast'"),
    (('V = 1.0', 'V = 0'), "fields.voltage_v.units.V", "expected a non-zero number"),
    (('name = "mine"', 'name = "yours"'), "name", 'expected "mine", the file\'s name'),
    (("[fields.voltage_v]", "[fields.temperature]"), "fields", "expected at least one of the fields voltage_v"),
])
def test_mistakes_name_the_field_and_the_expected_form(change, field, words):
    text = GOOD.replace(*change)
    with pytest.raises(ProfileError) as info:
        parse_profile("/p/mine.toml", text)
    assert info.value.path == "/p/mine.toml" and info.value.field == field
    assert words in str(info.value)
    assert "\n" not in str(info.value)


def test_broken_toml_and_unknown_names():
    with pytest.raises(ProfileError, match="not valid TOML"):
        parse_profile("x.toml", "kind = ")
    with pytest.raises(ProfileError, match=r'did you mean "pisugar"\?\): expected one of .*rdtech-um'):
        load_profile("pisugr", "monitor")
    with pytest.raises(ProfileError, match="no monitor profile"):
        load_profile("liion-2s-pack", "monitor")  # a battery is not a monitor


def test_battery_curve_must_rise():
    text = ('kind = "battery"\nname = "b"\nchemistry = "li-ion"\ncapacity_mah = 100\ncells_series = 1\n'
            "ocv_curve = [[4.2, 0], [3.0, 100]]\n")
    with pytest.raises(ProfileError, match="percent rising as voltage rises"):
        parse_profile("b.toml", text)
    with pytest.raises(ProfileError, match="capacity_mah: expected the capacity in mAh"):
        parse_profile("b.toml", text.replace("capacity_mah = 100", "capacity_mah = -1"))


def test_ocv_curve_worked_by_hand():
    battery: BatteryProfile = load_profile("liion-1s-pisugar", "battery")
    assert battery.ocv_percent(3.92) == pytest.approx(0.65)
    assert battery.ocv_percent(3.89) == pytest.approx((40 + 0.5 * 25) / 100)  # halfway 3.86 → 3.92
    assert battery.ocv_percent(4.5) == 1.0 and battery.ocv_percent(2.0) == 0.0
    assert battery.ocv_volts(0.65) == pytest.approx(3.92)
    pack = load_profile("liion-2s-pack", "battery")
    assert pack.ocv_percent(2 * 3.82) == pytest.approx(0.5)
    assert pack.capacity_c == pytest.approx(2500 * 3.6)
