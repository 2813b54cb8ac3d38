"""The cost of running a piece of a network once, as the manifest records it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Cost:
    """MACs, parameters and int8 bytes moved by one inference on one input."""

    macs: int
    params: int
    bytes_moved: int

    def __add__(self, other: "Cost") -> "Cost":
        return Cost(self.macs + other.macs, self.params + other.params, self.bytes_moved + other.bytes_moved)

    def __sub__(self, other: "Cost") -> "Cost":
        return Cost(self.macs - other.macs, self.params - other.params, self.bytes_moved - other.bytes_moved)
