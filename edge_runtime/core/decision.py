"""The answer for one input, the same record for every family."""

from __future__ import annotations

from typing import NamedTuple


class Decision(NamedTuple):
    """What ran for one input, what it cost and where it answered.

    Attributes:
        label: the class index answered.
        confidence: that class's probability (0–1) where it answered.
        answered_by: where the answer came from: an exit's name (multi-exit), ``ap`` or ``mp``
            (pruned), ``head`` (gated).
        ran: what ran, in order: the exits whose heads were computed (multi-exit), the network run
            after the selector (pruned), the blocks executed (gated).
        macs: multiply-accumulates of every segment invoked.
    """

    label: int
    confidence: float
    answered_by: str
    ran: tuple[str, ...]
    macs: int
