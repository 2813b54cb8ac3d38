"""The ``sysfs`` framing: one read of a power_supply folder's files is one record."""

from __future__ import annotations

from typing import Mapping

from ..profiles import MonitorProfile
from ..samples import Event, Gap
from .record import RecordBuilder


def decode_sysfs(profile: MonitorProfile, files: Mapping[str, str], t_mono: float, t_wall: float) -> Event:
    """One record from the text of a power_supply folder's files (file name → content)."""
    values: dict[str, float] = {}
    status = ""
    for spec in profile.fields:
        text = files.get(spec.file or "")
        if text is None:
            continue
        text = text.strip()
        if spec.text:
            status = text
            continue
        try:
            values[spec.name] = float(text) * spec.scale
        except ValueError:
            return Gap(t_mono, t_wall, "garbled", f"{spec.file}: expected a number, got {text[:40]!r}")
    if not values:
        return Gap(t_mono, t_wall, "garbled", "none of the profile's files could be read")
    return RecordBuilder(profile).build(values, status, t_mono, t_wall)
