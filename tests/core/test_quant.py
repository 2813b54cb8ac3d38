import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge_runtime.core.quant import Joint, Quantization, pixel_table, requantization_table

scales = st.floats(min_value=1e-4, max_value=1.0, allow_nan=False)
zero_points = st.integers(min_value=-128, max_value=127)


def test_matches_tolerates_one_ulp():
    q = Quantization(0.022437747567892075, -128)
    assert q.matches(Quantization(0.022437745705246925, -128))
    assert not q.matches(Quantization(0.0225, -128))
    assert not q.matches(Quantization(0.022437747567892075, -127))


@given(scales, zero_points, scales, zero_points)
def test_table_equals_float_requantization(s1, z1, s2, z2):
    source, target = Quantization(s1, z1), Quantization(s2, z2)
    table = requantization_table(source, target)
    codes = np.arange(-128, 128).astype(np.int8)
    expected = np.clip(np.round(s1 * (codes.astype(np.float64) - z1) / s2) + z2, -128, 127).astype(np.int8)
    assert np.array_equal(table[codes.view(np.uint8)], expected)


def test_joint_copies_when_quantizations_match():
    joint = Joint(Quantization(0.1, 3), Quantization(0.1, 3))
    src = np.arange(-128, 128, dtype=np.int8).reshape(1, 16, 16)
    dst = np.zeros_like(src)
    joint(src, dst)
    assert not joint.requantizes and np.array_equal(src, dst)


def test_joint_requantizes_with_a_table():
    joint = Joint(Quantization(0.1, 0), Quantization(0.2, 10))
    src = np.array([[-100, 0, 7, 100]], dtype=np.int8)
    dst = np.zeros_like(src)
    joint(src, dst)
    # real = 0.1·q → target code round(real / 0.2) + 10
    assert joint.requantizes and dst.tolist() == [[-40, 10, 14, 60]]


@pytest.mark.parametrize("target", [Quantization(0.1, 0), Quantization(0.2, 10)])
def test_the_hot_loops_copy_takes_numpys_argument_order(target):
    """``Joint.into(dst, src)`` is what the chain calls per joint: the same result as ``joint(src, dst)``."""
    joint = Joint(Quantization(0.1, 0), target)
    src = np.array([[-100, 0, 7, 100]], dtype=np.int8)
    expected, dst = np.zeros_like(src), np.zeros_like(src)
    joint(src, expected)
    joint.into(dst, src)
    assert np.array_equal(dst, expected) and not np.array_equal(src, np.zeros_like(src))


def test_smallest_code_at_least():
    softmax = Quantization(1 / 256, -128)
    assert softmax.smallest_code_at_least(0.9) == 103  # (103 + 128)/256 = 0.902
    assert softmax.smallest_code_at_least(1.0) is None  # max real value is 255/256
    assert softmax.smallest_code_at_least(0.0) == -128


def test_pixel_table_maps_pixels_through_the_input_quantization():
    table = pixel_table(1 / 255, 0.0, Quantization(1 / 255, -128))
    assert table[0] == -128 and table[255] == 127 and table.dtype == np.int8
