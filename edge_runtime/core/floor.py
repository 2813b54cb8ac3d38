"""The accuracy floor: how far α may trade accuracy for energy.

α = 0 is a bundle's most accurate operating point; α = 1 is the cheapest operating point (or mix of two)
whose expected accuracy is still at least the floor, never below it. The floor is written as text
everywhere (``--floor``, the manifest's ``accuracy_floor``, ``linear:loss=P``):

* ``0.95``: an accuracy (a fraction in (0, 1]);
* ``-2``: points under α = 0's expected accuracy (the default, the pruned family's promise);
* ``none``: no floor, α = 1 is the cheapest operating point whatever it answers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

DEFAULT_FLOOR = "-2"
FLOOR_FORMS = "an accuracy in (0, 1] such as 0.95, points under α = 0 such as -2, or none"


@dataclass(frozen=True)
class Floor:
    """A parsed floor: ``accuracy`` (absolute), or ``points`` under α = 0; neither: no floor."""

    accuracy: float | None = None
    points: float | None = None

    def level(self, alpha0_expected: float) -> float:
        """The least expected accuracy allowed, given α = 0's (0.0 when there is no floor)."""
        if self.accuracy is not None:
            return self.accuracy
        if self.points is not None:
            return alpha0_expected - self.points / 100.0
        return 0.0

    def __str__(self) -> str:
        if self.accuracy is not None:
            return f"{self.accuracy:g}"
        if self.points is not None:
            return f"-{self.points:g}"
        return "none"

    def describe(self) -> str:
        """For people: ``2 points under α = 0``, ``accuracy 0.95`` or ``none``."""
        if self.accuracy is not None:
            return f"expected accuracy {self.accuracy:.2%}"
        if self.points is not None:
            return f"{self.points:g} point(s) under α = 0's expected accuracy"
        return "none (α = 1 is the cheapest operating point)"


def parse_floor(text: str) -> Floor:
    """``text`` as a :class:`Floor`.

    Raises:
        ValueError: not one of :data:`FLOOR_FORMS` (the message says what was expected).
    """
    cleaned = str(text).strip().lower()
    if cleaned == "none":
        return Floor()
    try:
        value = float(cleaned)
    except ValueError:
        raise ValueError(f"expected {FLOOR_FORMS}, got {text!r}") from None
    if cleaned.startswith("-"):
        if not 0.0 <= -value <= 100.0:
            raise ValueError(f"expected at most 100 points under α = 0, got {text!r}")
        return Floor(points=-value)
    if not 0.0 < value <= 1.0:
        raise ValueError(f"expected {FLOOR_FORMS}, got {text!r} (an accuracy is a fraction: 0.95, not 95)")
    return Floor(accuracy=value)


def is_floor(text: str) -> bool:
    """Whether ``text`` is a floor :func:`parse_floor` reads."""
    try:
        parse_floor(text)
    except ValueError:
        return False
    return True


def held_out_error(accuracy: float, count: int, least_variance: float = 0.0) -> float:
    """The standard error of an accuracy (0–1) counted on ``count`` held-out images, as a fraction; the variance
    p·(1 − p) is taken at least ``least_variance`` (a perfect count is not a certain one)."""
    p = min(max(accuracy, 0.0), 1.0)
    return math.sqrt(max(p * (1.0 - p), least_variance) / max(count, 1))
