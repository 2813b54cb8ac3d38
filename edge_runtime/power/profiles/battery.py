"""A battery pack's profile (``kind = "battery"``): chemistry, capacity and the open-circuit-voltage curve."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal

from ...schema import Reader, spec


@dataclass(frozen=True)
class BatteryProfile:
    """A battery pack. ``ocv_curve`` is (cell volts, percent) at rest; ``internal_resistance_ohm`` is the
    whole pack's. ``path`` is the file it came from."""

    kind: Literal["battery"]
    name: str
    chemistry: str = spec('a chemistry like "li-ion"')
    capacity_mah: float = spec("the capacity in mAh (> 0)", check=lambda v: v > 0)
    cells_series: int = spec("the number of cells in series (≥ 1)", check=lambda v: v >= 1)
    ocv_curve: tuple[tuple[float, float], ...] = spec("a list of [cell volts, percent] pairs like [[4.16, 100], "
                                                      "[3.10, 0]]")
    path: str = spec(from_key=True)
    description: str = spec("a sentence", default="")
    internal_resistance_ohm: float = spec("the pack's internal resistance in Ω (≥ 0)", check=lambda v: v >= 0,
                                          default=0.0)

    def validate(self, reader: Reader, where: str) -> None:
        for volts, percent in self.ocv_curve:
            if not (0 < volts < 10 and 0 <= percent <= 100):
                raise reader.fail("ocv_curve", f"expected 0 < volts < 10 and 0 ≤ percent ≤ 100, got [{volts}, {percent}]")
        points = self.points
        if len(points) < 2 or any(b[1] < a[1] for a, b in zip(points, points[1:])):
            raise reader.fail("ocv_curve", "expected at least two points with percent rising as voltage rises")

    @functools.cached_property
    def points(self) -> tuple[tuple[float, float], ...]:
        """The curve sorted by voltage."""
        return tuple(sorted(self.ocv_curve))

    @property
    def capacity_c(self) -> float:
        """Capacity in coulombs."""
        return self.capacity_mah * 3.6

    @property
    def nominal_voltage_v(self) -> float:
        """Pack voltage at 50 % charge, V."""
        return self.ocv_volts(0.5)

    def ocv_percent(self, pack_volts: float) -> float:
        """State of charge (0–1) of a cell at rest at ``pack_volts``, from the curve."""
        cell = pack_volts / self.cells_series
        points = self.points
        if cell <= points[0][0]:
            return points[0][1] / 100.0
        for (v0, p0), (v1, p1) in zip(points, points[1:]):
            if cell <= v1:
                return (p0 + (cell - v0) / (v1 - v0) * (p1 - p0)) / 100.0
        return points[-1][1] / 100.0

    def ocv_volts(self, soc: float) -> float:
        """Open-circuit pack voltage at state of charge ``soc`` (0–1), V."""
        pct = min(max(soc, 0.0), 1.0) * 100.0
        pairs = sorted(self.ocv_curve, key=lambda vp: vp[1])
        if pct <= pairs[0][1]:
            return pairs[0][0] * self.cells_series
        for (v0, p0), (v1, p1) in zip(pairs, pairs[1:]):
            if pct <= p1:
                f = 0.0 if p1 == p0 else (pct - p0) / (p1 - p0)
                return (v0 + f * (v1 - v0)) * self.cells_series
        return pairs[-1][0] * self.cells_series
