"""Full-integer int8 TFLite conversion of several Keras pieces as signatures of one file.

Every signature takes one float input named ``x`` and returns a dict of outputs; after
conversion all inputs and outputs are int8. All signatures are calibrated together on
the same samples, so a joint between two of them (one's ``features`` output, the next
one's ``x`` input) gets the same quantization, and weights shared between signatures are
stored once. Under Keras 3 the pieces are wrapped in a ``tf.Module`` that tracks the
model variables, saved as a SavedModel, and converted with ``from_saved_model``
(``from_concrete_functions`` fails calibration when the variables are untracked).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from edge_runtime.core.backends import load_backend
from edge_runtime.core.manifest import TensorSpec

from .progress import import_tensorflow


@dataclass(frozen=True)
class SignatureSpec:
    """One signature to export.

    Attributes:
        key: signature key (also the tf.function's name: unnamed functions break calibration).
        fn: float tensor (1, …) → dict of float tensors.
        input_shape: shape of ``x`` without the batch axis.
        samples: float calibration inputs (N, …) for ``x``; real data passed through the float prefix.
    """

    key: str
    fn: Callable[..., dict[str, Any]]
    input_shape: tuple[int, ...]
    samples: np.ndarray
    extra_inputs: tuple[tuple[str, tuple[int, ...], np.ndarray], ...] = ()  # (name, shape, samples), after x


def convert_int8(signatures: list[SignatureSpec], variables: list[Any]) -> bytes:
    """Convert ``signatures`` to one full-integer int8 ``.tflite`` (returned as bytes).

    Args:
        variables: every Keras variable the functions read (tracked so calibration can run).
    """
    tf = import_tensorflow()

    module = tf.Module()
    module.tracked = [v.value if hasattr(v, "value") else v for v in variables]
    concrete = {}
    for spec in signatures:
        inputs = [tf.TensorSpec((1, *spec.input_shape), tf.float32, name="x")]
        inputs += [tf.TensorSpec((1, *shape), tf.float32, name=name) for name, shape, _ in spec.extra_inputs]
        function = tf.function(_named(spec.fn, spec.key), input_signature=inputs)
        setattr(module, spec.key, function)
        concrete[spec.key] = function.get_concrete_function()
    n_samples = min(min([len(s.samples)] + [len(e[2]) for e in s.extra_inputs]) for s in signatures)

    def representative():
        for i in range(n_samples):
            for spec in signatures:
                feed = {"x": spec.samples[i:i + 1].astype(np.float32)}
                feed.update({name: samples[i:i + 1].astype(np.float32) for name, _, samples in spec.extra_inputs})
                yield spec.key, feed

    with tempfile.TemporaryDirectory(prefix="edge-convert-") as saved:
        tf.saved_model.save(module, saved, signatures=concrete)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved, signature_keys=[s.key for s in signatures])
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
        return converter.convert()


def _named(fn: Callable[..., dict[str, Any]], name: str) -> Callable[..., dict[str, Any]]:
    def body(*inputs):
        return fn(*inputs)

    body.__name__ = name
    return body


def signature_io(model_path: str) -> dict[str, tuple[dict[str, TensorSpec], dict[str, TensorSpec]]]:
    """Each signature's int8 inputs and outputs (name → tensor record), read back from the file."""
    interpreter = load_backend().make_interpreter(model_path, 1)
    result = {}
    for key in interpreter.get_signature_list():
        runner = interpreter.get_signature_runner(key)
        entry = []
        for details in (runner.get_input_details(), runner.get_output_details()):
            tensors = {}
            for name in sorted(details):
                d = details[name]
                scale, zero_point = d["quantization"]
                tensors[name] = TensorSpec(name, tuple(int(v) for v in d["shape"]), np.dtype(d["dtype"]).name,
                                           float(scale), int(zero_point))
            entry.append(tensors)
        result[key] = (entry[0], entry[1])
    del interpreter
    return result


def write_model(path: str, content: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
