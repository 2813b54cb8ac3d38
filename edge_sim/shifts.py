"""Shifted copies of a test split, as a board's camera might deliver them: what the drift audit is measured
on (``tools.bench_audit``, ``edge-runtime demo --battery --shift``). Pixels in, pixels out (uint8, N×H×W×C);
seeded, so the same call gives the same images."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np


def _blur(x: np.ndarray) -> np.ndarray:
    padded = np.pad(x.astype(np.float32), ((0, 0), (1, 1), (1, 1), (0, 0)), mode="edge")
    h, w = x.shape[1:3]
    return sum(padded[:, i:i + h, j:j + w] for i in range(3) for j in range(3)) / 9.0


def _moved(x: np.ndarray) -> np.ndarray:
    return np.roll(x.astype(np.float32), max(1, x.shape[2] // 8), axis=2)


#: short name → (what it is, float pixels → float pixels)
SHIFTS: dict[str, tuple[str, Callable[[np.ndarray, np.random.Generator], np.ndarray]]] = {
    "none": ("as captured", lambda x, rng: x.astype(np.float32)),
    "noise": ("sensor noise", lambda x, rng: x + rng.normal(0.0, 40.0, x.shape)),
    "dark": ("under-exposed, low contrast", lambda x, rng: x * 0.4 - 20.0),
    "blur": ("out of focus", lambda x, rng: _blur(x)),
    "moved": ("moved camera", lambda x, rng: _moved(x)),
}


def shifted(pixels: Any, name: str, seed: int = 0) -> np.ndarray:
    """``pixels`` (uint8, N×H×W×C: an array, or rows read when used, as a TFRecord or image-folder split gives
    them) as shift ``name`` sees them (sensor noise σ = 40 grey levels; under-exposed ×0.4 − 20; a 3×3 box blur;
    the camera moved by an eighth of the width)."""
    _, change = SHIFTS[name]
    return np.clip(change(np.asarray(pixels), np.random.default_rng(seed)), 0, 255).astype(np.uint8)
