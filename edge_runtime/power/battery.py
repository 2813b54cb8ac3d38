"""State of charge from monitor samples.

Where the device reports its own percentage (a fuel gauge, the PiSugar server) that is used,
smoothed. Otherwise: coulomb counting from the battery's capacity, started and corrected by the
open-circuit-voltage curve — strongly when the cell has rested, weakly under load with the
I·R drop added back — so that the estimate neither jumps nor drifts. Not thread-safe: one
thread (the monitor's) updates an estimator.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from .profiles import BatteryProfile
from .samples import Sample


class BatteryState(NamedTuple):
    """What the policies see.

    Attributes:
        t_monotonic: the sample's receive time, s.
        t_wall: the same, s since the epoch.
        soc: state of charge, 0–1.
        voltage_v, current_a, power_w: the last sample's (current > 0 = discharge).
        drain_per_s: smoothed fraction of a full charge used per second (≥ 0).
        source: "device" (its own percentage), "coulomb" or "ocv".
    """

    t_monotonic: float
    t_wall: float
    soc: float
    voltage_v: float
    current_a: float
    power_w: float
    drain_per_s: float
    source: str

    @property
    def time_to_empty_s(self) -> float:
        """Seconds left at the present drain; ``inf`` when not discharging."""
        return self.soc / self.drain_per_s if self.drain_per_s > 0 else math.inf


class SocEstimator:
    """Turns samples into :class:`BatteryState`.

    Args:
        battery: the pack (needed unless the monitor reports a percentage).
        rest_current_a: below this the cell is "at rest" (default C/50).
        rest_s: how long the current must stay below it before the OCV is trusted, s.
        smoothing_s: time constant of the smoothing of percentages and of the drain, s.
        max_step_s: a longer silence is not integrated: the estimate restarts from the OCV.
    """

    def __init__(self, battery: BatteryProfile | None, *, rest_current_a: float | None = None, rest_s: float = 30.0,
                 smoothing_s: float = 10.0, ocv_under_load_s: float = 600.0, max_step_s: float = 30.0) -> None:
        self.battery = battery
        self.rest_current_a = rest_current_a if rest_current_a is not None else (
            battery.capacity_mah / 1000.0 / 50.0 if battery else 0.0)
        self.rest_s = rest_s
        self.smoothing_s = smoothing_s
        self.ocv_under_load_s = ocv_under_load_s
        self.max_step_s = max_step_s
        self.state: BatteryState | None = None
        self._rest_since: float | None = None

    def _ocv_soc(self, s: Sample) -> float | None:
        if self.battery is None or math.isnan(s.voltage_v):
            return None
        amps = 0.0 if math.isnan(s.current_a) else s.current_a
        return self.battery.ocv_percent(s.voltage_v + amps * self.battery.internal_resistance_ohm)

    def update(self, s: Sample) -> BatteryState | None:
        """Fold in one sample; ``None`` until a state of charge can be known."""
        prev = self.state
        dt = s.t_monotonic - prev.t_monotonic if prev else 0.0
        if prev is not None and dt < 0:
            return prev  # out of order: keep what we have
        k = dt / (self.smoothing_s + dt) if dt > 0 else 1.0
        if not math.isnan(s.percent):
            target = s.percent / 100.0
            soc = target if prev is None or prev.source != "device" else prev.soc + k * (target - prev.soc)
            source = "device"
        else:
            ocv = self._ocv_soc(s)
            if ocv is None:
                return prev
            amps = s.current_a
            if prev is None or dt > self.max_step_s or math.isnan(amps):
                soc, source = (ocv, "ocv") if prev is None or dt > self.max_step_s else (
                    prev.soc + k * (ocv - prev.soc), "ocv")
                self._rest_since = None
            else:
                assert self.battery is not None
                soc = prev.soc - amps * dt / self.battery.capacity_c
                if abs(amps) < self.rest_current_a:
                    self._rest_since = s.t_monotonic if self._rest_since is None else self._rest_since
                else:
                    self._rest_since = None
                rested = self._rest_since is not None and s.t_monotonic - self._rest_since >= self.rest_s
                tau = self.smoothing_s if rested else self.ocv_under_load_s
                soc += (ocv - soc) * dt / (tau + dt)
                source = "coulomb"
        soc = min(max(soc, 0.0), 1.0)
        drain = 0.0
        if prev is not None and dt > 0:
            rate = (prev.soc - soc) / dt
            if source == "coulomb" and not math.isnan(s.current_a) and self.battery is not None:
                rate = s.current_a / self.battery.capacity_c
            tau = max(self.smoothing_s * 3, dt)
            drain = max(prev.drain_per_s + (rate - prev.drain_per_s) * dt / tau, 0.0)
        self.state = BatteryState(s.t_monotonic, s.t_wall, soc, s.voltage_v, s.current_a, s.power_w, drain, source)
        return self.state
