"""α policies: pure functions of battery state and time, swappable by name.

Every policy is called as ``policy(state, now_wall, previous_alpha, dt_s) -> alpha`` and keeps no
state of its own, so it can be tested with numbers worked by hand. α → 1 spends the least
energy; α → 0 gives the most accuracy.

Specs on the command line: ``linear``, ``linear:lo=0.9,hi=1``, ``table``,
``table:80%=0,50%=0.9,20%=0.95,0%=1``, ``lifetime:8h``, ``lifetime:until=18:00``.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from dataclasses import dataclass
from typing import Callable

from ..errors import EdgeRuntimeError
from .battery import BatteryState

Policy = Callable[[BatteryState, float, float, float], float]


class PolicyError(EdgeRuntimeError):
    """A policy spec that cannot be read. Attributes: spec, expected."""

    def __init__(self, spec: str, expected: str) -> None:
        self.spec = spec
        self.expected = expected
        super().__init__(f"--policy {spec!r}: expected {expected}")


def _clamp(x: float) -> float:
    return min(max(x, 0.0), 1.0)


@dataclass(frozen=True)
class Linear:
    """α = lo + (hi − lo)·(1 − SoC): α = 1 − SoC with the defaults."""

    lo: float = 0.0
    hi: float = 1.0

    def __call__(self, state: BatteryState, now: float, previous: float, dt: float) -> float:
        return _clamp(self.lo + (self.hi - self.lo) * (1.0 - state.soc))


DEFAULT_STEPS = ((0.75, 0.0), (0.5, 0.9), (0.25, 0.95), (0.0, 1.0))


@dataclass(frozen=True)
class Table:
    """Steps of (lowest SoC, α), highest SoC first; the first step whose SoC is reached applies.

    Hysteresis: when the charge rises (charging, or a noisy reading), α only falls to a lower
    step once the SoC is ``hysteresis`` above that step's threshold, so a reading that wobbles
    on a boundary does not flip exits back and forth.
    """

    steps: tuple[tuple[float, float], ...] = DEFAULT_STEPS
    hysteresis: float = 0.02

    def target(self, soc: float) -> float:
        for threshold, alpha in self.steps:
            if soc >= threshold:
                return alpha
        return self.steps[-1][1]

    def __call__(self, state: BatteryState, now: float, previous: float, dt: float) -> float:
        alpha = self.target(state.soc)
        if alpha < previous:  # the charge rose: step down only once clear of the boundary
            return min(previous, self.target(state.soc - self.hysteresis))
        return alpha


@dataclass(frozen=True)
class Lifetime:
    """Make the battery last until ``deadline`` (wall-clock seconds since the epoch).

    Integral control: α rises while the projected life at the present drain falls short of
    the time left and falls while it has a surplus, at most 1/``response_s`` per second.
    """

    deadline: float
    response_s: float = 60.0

    def __call__(self, state: BatteryState, now: float, previous: float, dt: float) -> float:
        needed = self.deadline - now
        if needed <= 0:
            return previous
        projected = state.time_to_empty_s
        if math.isinf(projected):
            error = -1.0
        else:
            error = max(-1.0, min(1.0, 1.0 - projected / needed))
        return _clamp(previous + error * dt / self.response_s)


def _parse_duration(text: str) -> float | None:
    match = re.fullmatch(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?", text)
    if not match or not any(match.groups()):
        return None
    h, m, s = (float(g) if g else 0.0 for g in match.groups())
    return h * 3600 + m * 60 + s


def _fraction(text: str) -> float:
    value = float(text[:-1]) / 100.0 if text.endswith("%") else float(text)
    if not 0.0 <= value <= 1.0:
        raise ValueError(text)
    return value


def parse_policy(spec: str, now_wall: float) -> Policy:
    """A policy from its command-line spec; ``now_wall`` anchors durations such as ``8h``."""
    name, _, args = spec.partition(":")
    if name == "linear":
        form = '"linear" or "linear:lo=A,hi=B" with 0 ≤ A, B ≤ 1'
        params = {"lo": 0.0, "hi": 1.0}
        for item in filter(None, args.split(",")):
            key, _, value = item.partition("=")
            try:
                if key not in params:
                    raise ValueError(key)
                params[key] = _fraction(value)
            except ValueError:
                raise PolicyError(spec, form) from None
        return Linear(params["lo"], params["hi"])
    if name == "table":
        if not args:
            return Table()
        form = '"table" or "table:80%=0,50%=0.9,0%=1" (state of charge = α, highest first, ending at 0%)'
        steps = []
        hysteresis = Table.hysteresis
        for item in args.split(","):
            key, _, value = item.partition("=")
            try:
                if key == "hysteresis":
                    hysteresis = _fraction(value)
                    continue
                steps.append((_fraction(key), _fraction(value)))
            except ValueError:
                raise PolicyError(spec, form) from None
        steps.sort(reverse=True)
        if not steps or steps[-1][0] != 0.0:
            raise PolicyError(spec, form)
        return Table(tuple(steps), hysteresis)
    if name == "lifetime":
        form = '"lifetime:8h", "lifetime:2h30m" or "lifetime:until=18:00"'
        if args.startswith("until="):
            try:
                clock = _dt.datetime.strptime(args[6:], "%H:%M").time()
            except ValueError:
                raise PolicyError(spec, form) from None
            now = _dt.datetime.fromtimestamp(now_wall)
            target = now.replace(hour=clock.hour, minute=clock.minute, second=0, microsecond=0)
            if target <= now:
                target += _dt.timedelta(days=1)
            return Lifetime(target.timestamp())
        seconds = _parse_duration(args)
        if not seconds:
            raise PolicyError(spec, form)
        return Lifetime(now_wall + seconds)
    raise PolicyError(spec, 'one of "linear", "table" or "lifetime" (see --help)')
