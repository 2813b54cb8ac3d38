"""A simulated battery pack, drained by the energy reported to it. Thread-safe."""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping

from edge_runtime.power.profiles import BatteryProfile

from .wire import ValueSource, record_values


class SimulatedBattery:
    """A battery pack drained by the energy reported to it.

    ``capacity_j`` overrides the profile's capacity (a demo scales a real pack down so that a
    charge lasts seconds). Terminal voltage is OCV(SoC) − I·R. Thread-safe.
    """

    def __init__(self, profile: BatteryProfile, soc: float = 1.0, capacity_j: float | None = None,
                 base_load_w: float = 0.0) -> None:
        self.profile = profile
        self.capacity_j = capacity_j if capacity_j is not None else profile.capacity_c * profile.nominal_voltage_v
        self.base_load_w = base_load_w
        self._energy_j = soc * self.capacity_j
        self._load_w = base_load_w
        self._lock = threading.Lock()

    @property
    def soc(self) -> float:
        with self._lock:
            return max(self._energy_j, 0.0) / self.capacity_j

    @property
    def empty(self) -> bool:
        with self._lock:
            return self._energy_j <= 0.0

    def consume(self, joules: float, seconds: float) -> None:
        """Take ``joules`` spent over ``seconds`` (the base load is added); sets the present load."""
        with self._lock:
            total = joules + self.base_load_w * seconds
            self._energy_j -= total
            if seconds > 0:
                self._load_w = total / seconds

    def reading(self) -> dict[str, float]:
        """What a monitor on the battery's terminals would read now (SI units)."""
        with self._lock:
            soc = max(self._energy_j, 0.0) / self.capacity_j
            load = self._load_w
        ocv = self.profile.ocv_volts(soc)
        r = self.profile.internal_resistance_ohm
        # V = OCV − I·R and P = V·I, solved for I
        disc = ocv * ocv - 4 * r * load
        current = (ocv - math.sqrt(max(disc, 0.0))) / (2 * r) if r > 0 else load / ocv
        volts = ocv - current * r
        return record_values(volts, current, volts * current, soc * 100.0)


def battery_values(battery: SimulatedBattery) -> ValueSource:
    """A value source reading the battery's terminals at each record."""
    def values(seq: int, t: float) -> Mapping[str, float]:
        reading = battery.reading()
        reading["t"] = t
        return reading
    return values
