"""Immutable records that parsers produce and everything downstream consumes.

Conventions (all SI): volts, amperes, watts, seconds. ``current_a > 0`` means charge flowing
out of the battery into the load (discharge); a profile's ``[current] sign`` converts the
monitor's own convention. A quantity the monitor does not report is ``nan``.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Union

NAN = float("nan")


class Sample(NamedTuple):
    """One record of a power monitor, stamped when its last byte was received.

    Attributes:
        t_monotonic: host ``time.monotonic()`` at receipt, s.
        t_wall: host ``time.time()`` at receipt, s since the epoch.
        voltage_v: bus or battery voltage, V.
        current_a: current, A; positive = discharge.
        power_w: power, W; positive = discharge.
        percent: state of charge the device reports itself, 0–100, or nan.
        fields: every named value of the record, scaled to SI, as (name, value) pairs.
        status: a text state the device reports (``Discharging``, ``true``…), or "".
    """

    t_monotonic: float
    t_wall: float
    voltage_v: float
    current_a: float
    power_w: float
    percent: float = NAN
    fields: tuple[tuple[str, float], ...] = ()
    status: str = ""


class Gap(NamedTuple):
    """Something was lost or could not be read: garbled bytes, a dropped sample, a disconnect.

    Attributes:
        t_monotonic, t_wall: host time the problem was noticed, s.
        reason: a short machine-friendly word (``garbled``, ``bad_end_marker``, ``nan``,
            ``out_of_range``, ``disconnected``, ``reconnected``, ``clock_jump``, ``silent``…).
        detail: a human sentence with the offending value where there is one.
        count: how many units (bytes, lines, frames) the event covers.
    """

    t_monotonic: float
    t_wall: float
    reason: str
    detail: str = ""
    count: int = 1


Event = Union[Sample, Gap]


def complete(voltage_v: float, current_a: float, power_w: float) -> tuple[float, float, float]:
    """Fill in the one of V, I, P that is missing from the other two (P = V·I)."""
    if math.isnan(power_w) and not (math.isnan(voltage_v) or math.isnan(current_a)):
        power_w = voltage_v * current_a
    elif math.isnan(current_a) and not (math.isnan(voltage_v) or math.isnan(power_w)) and voltage_v > 0:
        current_a = power_w / voltage_v
    return voltage_v, current_a, power_w
