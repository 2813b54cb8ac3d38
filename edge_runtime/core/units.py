"""Checks of the plain numbers every family takes (α, a desired accuracy)."""

from __future__ import annotations

import math

from ..errors import ValueRangeError


def check_unit_interval(name: str, value: float) -> float:
    """Return ``value`` if it lies in [0, 1], else raise :class:`ValueRangeError`."""
    if not (isinstance(value, (int, float)) and math.isfinite(value) and 0.0 <= value <= 1.0):
        raise ValueRangeError(name, value, "a number in [0, 1]")
    return float(value)
