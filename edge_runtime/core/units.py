"""Checks of the plain numbers every family takes (α, a desired accuracy)."""

from __future__ import annotations

import math

from ..errors import ValueRangeError


def check_unit_interval(name: str, value: float) -> float:
    """Return ``value`` if it lies in [0, 1], else raise :class:`ValueRangeError`."""
    if not (isinstance(value, (int, float)) and math.isfinite(value) and 0.0 <= value <= 1.0):
        raise ValueRangeError(name, value, "a number in [0, 1]")
    return float(value)


def format_seconds(seconds: float) -> str:
    """A duration for people: ``45 s``, ``2 min 10 s``, ``1 h 05 min``."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
