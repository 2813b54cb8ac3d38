"""argparse ``type=`` converters shared by the console scripts; each error says what was expected."""

from __future__ import annotations

import argparse
from typing import Callable


def _number(text: str, expected: str, kind: type = float) -> float:
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None


def number_in(low: float | None, high: float | None, expected: str, kind: type = float) -> Callable[[str], float]:
    """A converter accepting ``low ≤ value ≤ high`` (either bound may be None)."""
    def parse(text: str) -> float:
        value = _number(text, expected, kind)
        if value != value or (low is not None and value < low) or (high is not None and value > high):  # NaN
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text}")
        return value
    return parse


unit_interval = number_in(0.0, 1.0, "a number in [0, 1]")
seconds = number_in(0.0, None, "seconds ≥ 0")
positive_int = number_in(1, None, "a positive integer", int)
invocation_cost = number_in(0.0, None, "MACs ≥ 0")
INVOCATION_COST_HELP = ("multi-exit: the MACs one more invocation (an exit's joint, call and confidence read) is "
                        "charged while the α table chooses which exits to keep on (default: timed on this machine; "
                        "0: MACs alone, as before; on a board, 'edge-runtime calibrate' times the board's own)")


def positive_float(text: str) -> float:
    value = _number(text, "a positive number")
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


def budget_share(text: str) -> float:
    """A share in (0, 1]: a budget that allows nothing is not a budget."""
    value = _number(text, "a share in (0, 1]")
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a share in (0, 1], got {text}")
    return value


def floor_text(text: str) -> str:
    """An accuracy floor (:mod:`edge_runtime.core.floor`), kept as its text."""
    from ..core.floor import parse_floor

    try:
        return str(parse_floor(text))
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def doc_summary(doc: str | None) -> str:
    """A module docstring's first paragraph as ``--help`` shows it: reST's double backticks removed."""
    return (doc or "").split("\n\n")[0].strip().replace("``", "")
