"""Shifted copies of a test split: the same from rows read when used as from an array."""

from __future__ import annotations

import numpy as np
import pytest

from edge_runtime.core.image_rows import ArrayRows
from edge_sim.shifts import SHIFTS, shifted


@pytest.mark.parametrize("name", sorted(SHIFTS))
def test_a_lazy_split_is_shifted_like_the_array_it_reads(name):
    """A TFRecord or image-folder test split arrives as lazy rows (bench_audit on one failed with a traceback)."""
    pixels = np.random.default_rng(0).integers(0, 256, size=(6, 8, 8, 1), dtype=np.uint8)
    lazy = ArrayRows(pixels).take(np.arange(1, 5))
    out = shifted(lazy, name)
    assert out.dtype == np.uint8 and np.array_equal(out, shifted(pixels[1:5], name))
