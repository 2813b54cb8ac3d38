"""A board's profile (``kind = "board"``): power figures for the modelled energy and the demo's drain."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ...schema import spec


@dataclass(frozen=True)
class BoardProfile:
    """E = Σ bytes·e_byte + MACs·e_MAC (EnergyNet eq. 2) and the demo's power while computing (W, J)."""

    kind: Literal["board"]
    name: str
    idle_power_w: float = spec("the idle power in W (≥ 0)", check=lambda v: v >= 0)
    active_power_w: float = spec("the extra power of one busy core in W (> 0)", check=lambda v: v > 0)
    e_mac_j: float = spec("the energy of one int8 MAC in J (> 0)", check=lambda v: v > 0)
    e_byte_j: float = spec("the energy of one byte moved in J (> 0)", check=lambda v: v > 0)
    path: str = spec(from_key=True)
    description: str = spec("a sentence", default="")
