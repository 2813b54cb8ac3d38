"""Per-layer cost of Keras models: MACs (Merkel eq. 3/4), parameters and bytes moved.

MACs count multiply-accumulates of one inference on one input, from each layer's output
shape (so padding is accounted for exactly). Bytes moved is the int8 memory traffic of
one inference: every layer reads its inputs and weights and writes its output once
(1 byte per int8 element, 4 per int32 bias), the memory term of EnergyNet's eq. 2.
"""

from __future__ import annotations

from math import prod

import keras

from .cost import Cost


ZERO = Cost(0, 0, 0)


def _elements(shape) -> int:
    return int(prod(d for d in shape[1:] if d is not None))


def layer_macs(layer: keras.layers.Layer) -> int:
    """MACs of one call of ``layer`` (0 for layers without multiplications)."""
    out_shape = layer.output.shape
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        kh, kw = layer.kernel_size
        return _elements(out_shape) * kh * kw
    if isinstance(layer, keras.layers.SeparableConv2D):
        kh, kw = layer.kernel_size
        c_in = layer.input.shape[-1]
        h, w = out_shape[1], out_shape[2]
        return h * w * c_in * layer.depth_multiplier * kh * kw + h * w * c_in * layer.depth_multiplier * layer.filters
    if isinstance(layer, (keras.layers.Conv2D, keras.layers.Conv1D)):
        kernel = prod(layer.kernel_size)
        c_in = layer.input.shape[-1] // max(1, getattr(layer, "groups", 1))
        return _elements(out_shape) * kernel * c_in
    if isinstance(layer, keras.layers.Dense):
        return _elements(out_shape) * layer.input.shape[-1]
    return 0


def layer_cost(layer: keras.layers.Layer) -> Cost:
    """MACs, parameters and int8 bytes moved by one call of ``layer``."""
    if isinstance(layer, keras.layers.InputLayer):
        return ZERO
    params = layer.count_params()
    inputs = layer.input if isinstance(layer.input, (list, tuple)) else [layer.input]
    activations = sum(_elements(t.shape) for t in inputs) + _elements(layer.output.shape)
    biases = sum(int(prod(w.shape)) for w in layer.weights if w.name.endswith("bias"))
    return Cost(layer_macs(layer), params, activations + (params - biases) + 4 * biases)


def model_cost(model: keras.Model) -> Cost:
    """Sum of :func:`layer_cost` over the model's layers (nested models included)."""
    total = ZERO
    for layer in model.layers:
        total = total + (model_cost(layer) if isinstance(layer, keras.Model) else layer_cost(layer))
    return total
