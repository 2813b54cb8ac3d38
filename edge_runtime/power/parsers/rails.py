"""The ``rails`` framing: a PMIC's per-rail readings (``vcgencmd pmic_read_adc`` on a Raspberry Pi 5).

Each run of the command prints one line per rail and quantity, ``NAME_A current(7)=1.234A`` or
``NAME_V volt(15)=0.875V``; lines are matched by that shape, not by column, because the layout
has changed between firmware versions. A blank line (the command transport writes one after each
run) or a rail read twice ends the record.

The record's power is Σ V·I over the rails that have both, times the profile's ``loss_factor``,
plus ``loss_w``. The rails are downstream of the PMIC: without those two numbers this is the
rails' power, not the board's input power; with them it is a model of the input (the raw sum is
kept as the ``rails_w`` field). The volts are those of ``voltage_rail`` (the 5 V input).
"""

from __future__ import annotations

import re

from ..profiles import MonitorProfile
from ..samples import Event, Gap
from .lines import BlockParser
from .record import NUMBER

RAIL_LINE = re.compile(r"^\s*([A-Za-z0-9_]+)_([AV])\b[^=]*=\s*" + NUMBER + r"\s*([AV])\s*$")


class RailsParser(BlockParser):
    """``rails``: one record per run of the command; rails paired by name, summed as V·I."""

    def __init__(self, profile: MonitorProfile) -> None:
        super().__init__(profile)
        framing = profile.framing
        self._voltage_rail = framing.voltage_rail
        self._factor = framing.loss_factor
        self._offset = framing.loss_w
        self._readings: dict[str, float] = {}

    def block_line(self, text: str, t_mono: float, t_wall: float, events: list[Event]) -> None:
        match = RAIL_LINE.match(text)
        if match is None or match.group(2) != match.group(4):
            events.append(Gap(t_mono, t_wall, "garbled", f"unrecognised line {text[:80]!r}"))
            return
        key = f"{match.group(1)}_{match.group(2)}"
        if key in self._readings:
            self.flush(t_mono, t_wall, events)
        self._readings[key] = float(match.group(3))

    def flush(self, t_mono: float, t_wall: float, events: list[Event]) -> None:
        readings, self._readings = self._readings, {}
        if not readings:
            return
        rails_w = 0.0
        paired = 0
        for key, amps in readings.items():
            if key.endswith("_A") and (volts := readings.get(key[:-2] + "_V")) is not None:
                rails_w += volts * amps
                paired += 1
        if not paired:
            events.append(Gap(t_mono, t_wall, "garbled", f"no rail with both a current and a voltage among "
                              f"{len(readings)} readings"))
            return
        values = {"power_w": rails_w * self._factor + self._offset, "rails_w": rails_w}
        if (volts := readings.get(self._voltage_rail)) is not None:
            values["voltage_v"] = volts
        events.append(self.builder.build(values, "", t_mono, t_wall))
