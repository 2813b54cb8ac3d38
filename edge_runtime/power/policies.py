"""α policies: pure functions of battery state and time, swappable by name.

Every policy is called as ``policy(state, now_wall, previous_alpha, dt_s) -> alpha`` and keeps no
state of its own, so it can be tested with numbers worked by hand. α → 1 spends the least
energy; α → 0 gives the most accuracy.

Specs on the command line: ``linear``, ``linear:loss=2``, ``linear:lo=0.9,hi=1``, ``table``,
``table:80%=0,50%=0.9,20%=0.95,0%=1``, ``lifetime:8h``, ``lifetime:until=18:00``.

``linear`` without ``hi`` runs α to 1 at empty, and 1 is the accuracy floor
(:mod:`edge_runtime.core.floor`): ``linear:loss=P`` sets the floor P points under α = 0; plain
``linear`` keeps the stricter of the bundle's floor and :func:`default_linear_loss` (half a point, less
what the table's held-out count cannot tell), so the
end of a charge is not spent on an operating point far worse than the rest. Why not the cheapest
point at empty: images there cost a fraction of the others, so when a linear policy reaches it,
those images are a large share of all images in a charge and their accuracy sets the charge's (see
the README, "Which policy").
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from ..core.floor import Floor, held_out_error
from ..core.sweep import EQUAL_ACCURACY_TOLERANCE
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


# by default the charge ends where the table still expects what eval calls equal accuracy (half a point), less
# what the held-out count cannot tell (see default_linear_loss)
DEFAULT_LINEAR_LOSS_POINTS = 100.0 * EQUAL_ACCURACY_TOLERANCE


def default_linear_loss(alpha0_accuracy: float, held_out: int) -> float:
    """Plain ``linear``'s budget in points: half a point less one standard error of α = 0's held-out accuracy
    (as the pruned family's default loss keeps one), never below 0. A table fitted on 216 held-out images at
    99.6% cannot tell 0.4 points (on the digits demo the charge lost 1.1 points against half a point
    expected); on 9,000 it can (0.45 points left)."""
    return max(0.0, DEFAULT_LINEAR_LOSS_POINTS - 100.0 * held_out_error(alpha0_accuracy, held_out))


@dataclass(frozen=True)
class Linear:
    """α = lo + (hi − lo)·(1 − SoC): α = 1 − SoC with lo = 0, hi = 1.

    ``basis`` says how ``hi`` was chosen, for the user (not compared).
    """

    lo: float = 0.0
    hi: float = 1.0
    basis: str = field(default="", compare=False)

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


def _parse_linear(spec: str, args: str, plans: Any | None) -> Linear:
    form = '"linear", "linear:loss=P" (points, P ≥ 0) or "linear:lo=A,hi=B" with 0 ≤ A, B ≤ 1'
    params: dict[str, float] = {}
    for item in filter(None, args.split(",")):
        key, _, value = item.partition("=")
        try:
            if key in ("lo", "hi"):
                params[key] = _fraction(value)
            elif key == "loss":
                params[key] = float(value)
                if not 0.0 <= params[key] <= 100.0:
                    raise ValueError(value)
            else:
                raise ValueError(key)
        except ValueError:
            raise PolicyError(spec, form) from None
    if "loss" in params and "hi" in params:
        raise PolicyError(spec, form + " (loss and hi both set where α stops at empty: give one)")
    lo = params.get("lo", 0.0)
    if "hi" in params:
        return Linear(lo, params["hi"], f"α from {lo:g} at full charge to {params['hi']:g} at empty")
    if plans is None:
        return Linear(lo, 1.0, f"α from {lo:g} at full charge to 1 at empty (no α table in use to hold an accuracy "
                               "floor)")
    if "loss" in params:  # the budget is the floor now: α = 1 ends there
        plans.set_floor(Floor(points=params["loss"]))
        said = f"linear:loss={params['loss']:g} sets the accuracy floor (as --floor -{params['loss']:g} would)"
    else:
        alpha0 = plans.table.points[0].expected_accuracy
        points = default_linear_loss(alpha0, plans.table.held_out_samples)
        budget = Floor(points=points)
        if budget.level(alpha0) > plans.floor_accuracy:
            plans.set_floor(budget)
        said = (f"the floor is the stricter of the bundle's (or --floor) and {points:.2f} point under α = 0: "
                f"{DEFAULT_LINEAR_LOSS_POINTS:g} less the standard error of α = 0's accuracy on "
                f"{plans.table.held_out_samples:,d} held-out images; linear:loss=P for another")
    return Linear(lo, 1.0, f"α from {lo:g} at full charge to 1 at empty, where the α table expects "
                           f"{plans.floor_accuracy:.2%}: the floor, {plans.floor.describe()} ({said}; linear:hi=B to "
                           "stop earlier)")


def parse_policy(spec: str, now_wall: float, plans: Any | None = None) -> Policy:
    """A policy from its command-line spec.

    Args:
        now_wall: anchors durations such as ``8h`` (seconds since the epoch).
        plans: the runtime's :class:`~edge_runtime.core.operating.AlphaPlans`: ``linear`` (without ``hi``) runs α
            to 1 and sets their accuracy floor from its budget; None (no table, or a rule other than the
            table's) makes ``linear`` run to α = 1, the cheapest point.
    """
    name, _, args = spec.partition(":")
    if name == "linear":
        return _parse_linear(spec, args, plans)
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


def policy_for_runtime(spec: str, runtime: Any, now_wall: float) -> Policy:
    """``spec`` for a bundle's runtime: ``linear``'s accuracy budget is read from the runtime's α table (when its
    rule follows the table); ``now_wall`` (seconds since the epoch) anchors time-based policies."""
    return parse_policy(spec, now_wall, getattr(runtime, "alpha_plans", None))
