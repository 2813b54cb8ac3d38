"""From α to a plan along a bundle's α table, for every family.

Between two rows of the table a :class:`Mix` sends a share of the inputs to the cheaper row's plan,
spread evenly over the inputs (error diffusion, not chance), so expected cost is linear in α.
"""

from __future__ import annotations

from typing import Any, Callable

from .audit import wilson_interval
from .floor import Floor
from .frontier import locate
from .manifest import AlphaTable
from .units import check_unit_interval


SAME_ROW = 1e-9  # a mixing share this close to 0 or 1 is the row itself

class Mix:
    """Two plans used in turn: ``share`` of the inputs (0 < share < 1) take ``cheap``, the rest ``dear``.

    Thread rules: :meth:`pick` advances a credit; only the inference thread may call it (the plan may be
    built on another thread, as the live α does).
    """

    __slots__ = ("dear", "cheap", "share", "credit")

    def __init__(self, dear: Any, cheap: Any, share: float) -> None:
        self.dear, self.cheap, self.share = dear, cheap, share
        self.credit = 0.0

    def pick(self) -> Any:
        """The plan for the next input."""
        self.credit += self.share
        if self.credit >= 1.0:
            self.credit -= 1.0
            return self.cheap
        return self.dear


class AlphaPlans:
    """α → the plan (or the :class:`Mix` of two) its table row(s) give, between α = 0 and the accuracy floor.

    The table's own α runs from its most accurate row (0) to its cheapest (1), expected cost linear in it. The
    floor (:mod:`edge_runtime.core.floor`) ends α where the table expects the floor's accuracy: α = 1 is
    the table's α :attr:`end`, and α scales linearly onto [0, end], so expected cost stays linear in α.

    Args:
        table: the bundle's α table.
        plan_for_setting: a row's ``setting`` → the family's plan (called once per row, when a row is first used:
            a table has dozens of rows, and a run uses one or two).
        floor: the accuracy floor (default: none, α = 1 is the cheapest row).

    Thread rules: any thread may ask for a plan; two threads asking for the same new row at once may both build
    it, and either result is the same plan. :meth:`set_floor` belongs to set-up, before inference starts.
    """

    def __init__(self, table: AlphaTable, plan_for_setting: Callable[[dict[str, Any]], Any],
                 floor: Floor | None = None) -> None:
        self.table = table
        self.alphas = [p.alpha for p in table.points]
        self._plan_for_setting = plan_for_setting
        self._plans: list[Any] = [None] * len(table.points)
        self._mixes: dict[float, Mix] = {}
        self.cap = 1.0  # the largest table α used (--adapt lowers it while the promise is broken)
        self.deepest: Any = None  # with a negative cap, every input takes this plan (set by --adapt)
        self.set_floor(floor or Floor())

    def set_cap(self, table_alpha: float, deepest: Any = None) -> None:
        """Use no table α above ``table_alpha`` (set-up, or the inference thread): plans and expectations
        follow; the promise (:meth:`expected_agreement`) stays the table's at α. A negative cap sends every
        input to ``deepest`` (the family's whole network), beyond the table's α = 0."""
        self.cap = min(table_alpha, 1.0) if deepest is not None else min(max(table_alpha, 0.0), 1.0)
        self.deepest = deepest
        self._mixes = {}
        self._expected_macs: dict[float, float | None] = {}

    def table_alpha(self, alpha: float) -> float:
        """The table's α that α runs at: α scaled onto [0, end] by the floor, then capped."""
        return min(check_unit_interval("alpha", alpha) * self.end, self.cap)

    def set_floor(self, floor: Floor) -> None:
        """End α at ``floor``: :attr:`end` becomes the table's α where it expects the floor's accuracy."""
        self.floor = floor
        self.floor_accuracy = floor.level(self.table.points[0].expected_accuracy)
        self.end = self._table_alpha_for_accuracy(self.floor_accuracy)
        self._mixes = {}
        self._expected_macs = {}

    def _row_plan(self, i: int) -> Any:
        plan = self._plans[i]
        if plan is None:
            plan = self._plans[i] = self._plan_for_setting(self.table.points[i].setting)
        return plan

    def plan(self, alpha: float) -> Any:
        """The plan for α. The same α gives the same :class:`Mix`, so asking per input still mixes evenly."""
        alpha = check_unit_interval("alpha", alpha)
        if self.cap < 0.0 and self.deepest is not None:
            return self.deepest
        i, share = locate(self.alphas, self.table_alpha(alpha))
        # α scaled onto the table and back (alpha_for_accuracy, then plan) lands a rounding error off a row
        if share <= SAME_ROW:
            return self._row_plan(i)
        if share >= 1.0 - SAME_ROW:
            return self._row_plan(i + 1)
        mix = self._mixes.get(alpha)
        if mix is None:
            if len(self._mixes) > 4096:
                self._mixes.clear()
            mix = self._mixes[alpha] = Mix(self._row_plan(i), self._row_plan(i + 1), share)
        return mix

    def expected(self, alpha: float) -> tuple[float, float]:
        """(cost per input, accuracy) the table expects at α, interpolated as the mix gives them; the accuracy is
        the fit's held-out estimate, which falls steadily with α and is never under the floor."""
        i, share = locate(self.alphas, self.table_alpha(alpha))
        row = self.table.points[i]
        if share <= 0.0:
            return row.cost, row.expected_accuracy
        nxt = self.table.points[i + 1]
        return (row.cost + share * (nxt.cost - row.cost),
                row.expected_accuracy + share * (nxt.expected_accuracy - row.expected_accuracy))

    def expected_macs(self, alpha: float) -> float | None:
        """The MACs per input the table expects at α (as :meth:`expected` gives them), None for a table whose cost
        is in joules. Cached per α: the audit asks for every input, and :meth:`expected` takes about 8 µs."""
        if alpha not in self._expected_macs:
            if len(self._expected_macs) > 4096:  # a live α takes many values: keep the cache bounded
                self._expected_macs.clear()
            self._expected_macs[alpha] = self.expected(alpha)[0] if self.table.cost == "macs" else None
        return self._expected_macs[alpha]

    def expected_agreement(self, alpha: float) -> float | None:
        """The share of inputs on which α's plan answers what the monolithic network answers, on held-out data
        (interpolated as the mix gives it); None for a table made before agreement was measured."""
        i, share = locate(self.alphas, check_unit_interval("alpha", alpha) * self.end)
        row = self.table.points[i]
        if row.agreement is None:
            return None
        if share <= 0.0:
            return row.agreement
        nxt = self.table.points[i + 1].agreement
        return None if nxt is None else row.agreement + share * (nxt - row.agreement)

    def held_out(self, alpha: float) -> tuple[float, float, float]:
        """(accuracy as counted on the held-out split, its 95% Wilson interval's low and high) at α: what the table
        can honestly promise for inputs like the held-out ones."""
        i, share = locate(self.alphas, self.table_alpha(alpha))
        counted = self.table.points[i].accuracy
        if share > 0.0:
            counted += share * (self.table.points[i + 1].accuracy - counted)
        low, high = wilson_interval(counted * self.table.held_out_samples, self.table.held_out_samples)
        return counted, low, high

    def sweep(self, count: int) -> list[tuple[dict[str, Any], Any]]:
        """(row fields, plan) at ``count`` evenly spaced α from 0 to 1: what every family's eval sweeps."""
        alphas = [round(i / max(count - 1, 1), 4) for i in range(count)]
        rows = []
        for a in alphas:
            counted, low, high = self.held_out(a)
            agreement = self.expected_agreement(a)
            rows.append(({"alpha": a, "expected_accuracy": round(self.expected(a)[1], 6),
                          "held_out_accuracy": round(counted, 6), "held_out_low": round(low, 6),
                          "held_out_high": round(high, 6),
                          "expected_agreement": None if agreement is None else round(agreement, 6)}, self.plan(a)))
        return rows

    def alpha_within_loss(self, points: float) -> float:
        """The largest α whose expected accuracy is at most ``points`` (percentage points) below α = 0's."""
        return self.alpha_for_accuracy(self.expected(0.0)[1] - points / 100.0)

    def alpha_for_accuracy(self, accuracy: float) -> float:
        """The largest α whose expected accuracy is at least ``accuracy`` (0 if even α = 0 expects less; 1 if the
        floor is above it)."""
        if self.end <= 0.0:
            return 0.0
        return min(1.0, self._table_alpha_for_accuracy(accuracy) / self.end)

    def _table_alpha_for_accuracy(self, accuracy: float) -> float:
        points = self.table.points
        best = 0.0
        for a, b in zip(points, points[1:]):
            if b.expected_accuracy >= accuracy:
                best = b.alpha
                continue
            if a.expected_accuracy >= accuracy:
                best = a.alpha + (b.alpha - a.alpha) * (a.expected_accuracy - accuracy) / (
                    a.expected_accuracy - b.expected_accuracy)
            break
        return best


def share_text(fraction: float) -> str:
    """A share as a percentage that stays readable when tiny (0.0017%, not 0.00%)."""
    return f"{fraction:.1%}" if fraction >= 0.01 or fraction == 0 else f"{100 * fraction:.2g}%"


def describe_ends(table: AlphaTable, floor: Floor, full_cost: float) -> str:
    """``α = 0 … at …; α = 1 (floor …) …``: the two ends of α for people, costs as shares of ``full_cost`` (the
    monolithic network's, in the table's unit)."""
    plans = AlphaPlans(table, lambda setting: setting, floor)
    (dear_cost, dear_acc), (end_cost, end_acc) = plans.expected(0.0), plans.expected(1.0)
    cheapest = table.points[-1]

    def share(cost: float) -> str:
        return f"{share_text(cost / full_cost)} of the cost" if full_cost > 0 else f"{cost:.3g}"

    text = f"α = 0 expects {dear_acc:.2%} at {share(dear_cost)}; α = 1 expects {end_acc:.2%} at {share(end_cost)}"
    if plans.end < 1.0:
        return (f"{text}, the floor ({floor.describe()}); the cheapest point, under it, expects "
                f"{cheapest.expected_accuracy:.2%} at {share(cheapest.cost)}")
    return f"{text}, the cheapest point (floor: {floor.describe()})"
