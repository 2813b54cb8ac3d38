"""Exit heads: TileMean pools exactly as AveragePooling2D does, is used only where it pays, and converts to int8
MEANs on tensors the Edge TPU maps (4-D, at most three axes over 1)."""

from __future__ import annotations

import numpy as np
import pytest


def _pool_layers(head) -> list[str]:
    return [type(layer).__name__ for layer in head.layers if "pool" in layer.name]


@pytest.mark.parametrize("shape, pool", [((48, 48, 8), (12, 12)), ((12, 20, 3), (3, 5)), ((4, 4, 2), (2, 2))])
def test_tile_mean_is_average_pooling_over_the_same_tiles(shape, pool):
    import keras

    from converters.multi_exit.model import TileMean

    x = np.random.default_rng(0).normal(0, 3, (2, *shape)).astype(np.float32)
    expected = np.asarray(keras.layers.AveragePooling2D(pool)(x))
    got = np.asarray(TileMean(pool)(x))
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_the_head_pools_large_maps_with_tile_mean_and_others_as_before():
    from converters.multi_exit.model import TILE_MEAN_MIN_VALUES, exit_head

    assert 48 * 48 * 8 >= TILE_MEAN_MIN_VALUES > 24 * 24 * 8
    assert _pool_layers(exit_head((48, 48, 8), 10, "e")) == ["TileMean"]
    assert _pool_layers(exit_head((24, 24, 8), 10, "e")) == ["AveragePooling2D"]  # small: the pool op is as fast
    assert _pool_layers(exit_head((50, 50, 8), 10, "e")) == ["AveragePooling2D"]  # tiles of 13 do not cover 50
    assert _pool_layers(exit_head((4, 4, 8), 10, "e")) == []  # already the grid


def test_a_tile_mean_head_converts_to_int8_means_on_shapes_the_edge_tpu_maps():
    from converters.common.tflite_export import SignatureSpec, convert_int8
    from converters.common.tflite_file import operator_names
    from converters.multi_exit.model import exit_head
    from edge_runtime.core.backends import load_backend

    head = exit_head((48, 48, 8), 10, "e")
    samples = np.random.default_rng(1).normal(0, 1, (20, 48, 48, 8)).astype(np.float32)
    converted = convert_int8([SignatureSpec("head", lambda x: {"probs": head(x)}, (48, 48, 8), samples)],
                             list(head.weights))
    interpreter = load_backend().interpreter_class(model_content=converted)
    interpreter.allocate_tensors()
    ops = operator_names(converted)
    assert ops.count("MEAN") == 2 and "AVERAGE_POOL_2D" not in ops
    for tensor in interpreter.get_tensor_details():
        shape = tuple(tensor["shape"])
        assert len(shape) <= 4 and sum(d > 1 for d in shape) <= 3, (tensor["name"], shape)


@pytest.mark.parametrize("shape, grid", [((48, 48, 8), 4), ((6, 6, 24), 4), ((7, 7, 288), 4), ((2, 2, 288), 4),
                                         ((1, 1, 576), 4), ((5, 9, 3), 2), ((10,), 4), ((6, 6, 24), 1)])
def test_the_listed_head_cost_is_the_built_heads(shape, grid):
    """--list-cuts' cost and wording come from the positions the built head keeps (a 6×6 map pooled for 4×4
    keeps 3×3; a 2×2 map is not pooled), not from the grid asked for."""
    from math import prod

    from converters.multi_exit.heads import describe_head, head_macs
    from converters.multi_exit.model import exit_head

    head = exit_head(shape, 10, "e", grid)
    dense = head.get_layer("e_dense")
    built = prod(dense.kernel.shape)
    assert head_macs(shape, 10, grid) == built
    text = describe_head(shape, 10, grid, 1_000_000)
    assert f"{built:,d} MACs" in text
    if len(shape) != 3:
        assert text.startswith("dense,")
        return
    rows, cols = head.get_layer("e_flatten").input.shape[1:3]
    if (rows, cols) == shape[:2]:
        assert "pooling" not in text and text.startswith("dense")
    elif rows * cols == 1:
        assert text.startswith("global pooling + dense")
    else:
        assert text.startswith(f"{rows}×{cols} pooling + dense")
