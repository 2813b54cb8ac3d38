"""What every parser shares: one record's SI values → a :class:`Sample` (or a :class:`Gap`), and counts."""

from __future__ import annotations

from collections import Counter
from typing import Mapping

from ..profiles import FieldSpec, MonitorProfile
from ..samples import NAN, Event, Gap, Sample, complete

NUMBER = r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?nan|[-+]?inf)"
UNIT = r"([A-Za-zµ%°]*)"


class RecordBuilder:
    """Turns one record's named SI values into a :class:`Sample` or a :class:`Gap`.

    Applies the profile's current sign, fills the missing one of V, I, P, and rejects NaN and
    impossible values (negative volts, a percentage outside 0–100) as counted gaps.
    """

    def __init__(self, profile: MonitorProfile) -> None:
        self.sign = profile.current_sign

    def build(self, values: Mapping[str, float], status: str, t_mono: float, t_wall: float) -> Event:
        # the per-record hot path of every parser: NaN tests are written as x != x
        for name, value in values.items():
            if value != value:
                return Gap(t_mono, t_wall, "nan", f"{name} is NaN (the monitor dropped a sample)")
        get = values.get
        volts = get("voltage_v", NAN)
        amps = get("current_a", NAN)
        watts = get("power_w", NAN)
        percent = get("percent", NAN)
        if volts < 0:
            return Gap(t_mono, t_wall, "out_of_range", f"voltage_v = {volts} is negative")
        if percent == percent:
            if not -0.5 <= percent <= 100.5:
                return Gap(t_mono, t_wall, "out_of_range", f"percent = {percent} is outside 0–100")
            percent = min(max(percent, 0.0), 100.0)
        sign = self.sign
        if sign == "negative_is_discharge":
            amps, watts = -amps, -watts
        elif sign == "from_status":
            direction = -1.0 if status.strip().lower() == "charging" else 1.0
            amps, watts = direction * abs(amps), direction * abs(watts)
        if watts != watts or amps != amps:
            volts, amps, watts = complete(volts, amps, watts)
        return Sample(t_mono, t_wall, volts, amps, watts, percent, tuple(values.items()), status)


def mid_frame(buffer: bytearray, t_mono: float, t_wall: float) -> list[Event]:
    """The stream ended with ``buffer`` holding part of a frame: one ``truncated`` gap counting its bytes
    (the buffer is emptied)."""
    if not buffer:
        return []
    gap = Gap(t_mono, t_wall, "truncated", f"the stream ended mid-frame ({len(buffer)} bytes)", len(buffer))
    buffer.clear()
    return [gap]


class Stats:
    def __init__(self) -> None:
        self.records = 0
        self.gaps: Counter[str] = Counter()

    def count(self, events: list[Event]) -> list[Event]:
        for event in events:
            if isinstance(event, Sample):
                self.records += 1
            else:
                self.gaps[event.reason] += event.count
        return events


def scaled(spec: FieldSpec, number: str, unit: str) -> float | None:
    """The value in SI, or ``None`` when the unit is not one the profile knows."""
    value = float(number)
    if spec.units:
        if unit in spec.units:
            return value * spec.units[unit]
        if unit == "" and "" in spec.units:
            return value * spec.units[""]
        return None
    if unit:
        return None
    return plausible(spec, value * spec.scale, value)


def plausible(spec: FieldSpec, value: float, raw: float) -> float:
    if spec.plausible and spec.alt_scale is not None and not spec.plausible[0] <= value <= spec.plausible[1]:
        return raw * spec.alt_scale
    return value
