"""int8 affine quantization helpers: real = scale · (q − zero_point).

Joints between segments are bridged with a 256-entry lookup table, never float math per
input, and only where the two sides' quantizations differ.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

# Scales computed by separate calibrations of the same data can differ by a float ulp.
SCALE_RELATIVE_TOLERANCE = 1e-5


@dataclass(frozen=True)
class Quantization:
    """Affine int8 parameters of one tensor."""

    scale: float
    zero_point: int

    def matches(self, other: "Quantization") -> bool:
        """True when the two quantizations map every int8 value to the same int8 value."""
        return self.zero_point == other.zero_point and abs(self.scale - other.scale) <= SCALE_RELATIVE_TOLERANCE * max(
            abs(self.scale), abs(other.scale)
        )

    def values_by_code(self) -> tuple[float, ...]:
        """The real value of every int8 code, indexed by code + 128 (a decision then needs no numpy call)."""
        return tuple(float(v) for v in self.dequantize(np.arange(-128, 128)))

    def dequantize(self, q: np.ndarray | int) -> np.ndarray:
        """Real values (float64) of int8 codes ``q``."""
        return self.scale * (np.asarray(q, dtype=np.float64) - self.zero_point)

    def quantize(self, real: np.ndarray | float) -> np.ndarray:
        """int8 codes of real values, rounded to nearest and saturated."""
        q = np.round(np.asarray(real, dtype=np.float64) / self.scale) + self.zero_point
        return np.clip(q, -128, 127).astype(np.int8)

    def smallest_code_at_least(self, threshold: float) -> int | None:
        """The smallest int8 code whose real value is ≥ ``threshold``; None if there is none."""
        codes = np.arange(-128, 128)
        hits = np.nonzero(self.dequantize(codes) >= threshold)[0]
        return int(codes[hits[0]]) if hits.size else None


def requantization_table(source: Quantization, target: Quantization) -> np.ndarray:
    """LUT mapping a source int8 code (indexed as its uint8 bit pattern) to the target code."""
    codes = np.arange(256, dtype=np.uint8).view(np.int8)
    return target.quantize(source.dequantize(codes))


class Joint:
    """Copies one segment's int8 output into the next segment's input.

    A plain copy when the quantizations match; a lookup-table requantization otherwise.
    Not thread-safe: owns no state but the table, yet writes into the target buffer.
    """

    def __init__(self, source: Quantization, target: Quantization) -> None:
        self.requantizes = not source.matches(target)
        self._table = requantization_table(source, target) if self.requantizes else None

    @property
    def into(self) -> Callable[[np.ndarray, np.ndarray], None]:
        """``into(dst, src)`` (:func:`numpy.copyto`'s order): numpy.copyto itself when no requantization is
        needed, one Python call less per joint."""
        return np.copyto if self._table is None else self._requantize_into

    def _requantize_into(self, dst: np.ndarray, src: np.ndarray) -> None:
        np.take(self._table, src.view(np.uint8), out=dst)

    def __call__(self, src: np.ndarray, dst: np.ndarray) -> None:
        if self._table is None:
            np.copyto(dst, src)
        else:
            np.take(self._table, src.view(np.uint8), out=dst)


def pixel_table(pixel_scale: float, pixel_offset: float, target: Quantization) -> np.ndarray:
    """LUT from a uint8 pixel p to the int8 input code of real value p·pixel_scale + pixel_offset."""
    pixels = np.arange(256, dtype=np.float64)
    return target.quantize(pixels * pixel_scale + pixel_offset)
