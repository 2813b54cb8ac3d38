"""Benchmark: an exit head's pooling as ``AveragePooling2D`` against :class:`~converters.multi_exit.model.TileMean`
and a strided depthwise convolution with fixed 1/(tile area) weights (the same average, as a convolution).

    python -m tools.bench_heads [--maps 48x48x8,24x24x8,112x112x16] [--grid 4] [--rounds 15] [--json]

For each feature map, the three heads (pool to a ``--grid``×``--grid`` grid, flatten, a softmax dense layer and
its confidence, as the converter builds them) are converted to int8 with the same random weights and
calibration, then timed on LiteRT at 1 thread, interleaved in rounds (median µs per invocation). Also printed:
how far each int8 head's probabilities are from the float head's on 200 random maps (mean absolute
difference), and how often its answer differs from the float head's.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
import warnings
from typing import Any

import numpy as np

from edge_runtime.core.backends import load_backend
from edge_runtime.core.timing import cpu_model
from converters.common.progress import import_tensorflow
from converters.common.tflite_file import operator_names


POOLINGS = ("average_pool", "tile_mean", "depthwise")


def _head(shape: tuple[int, int, int], grid: int, pooling: str, weights: list[np.ndarray] | None) -> Any:
    import_tensorflow()
    import keras

    from converters.multi_exit.model import TileMean

    pool = (shape[0] // grid, shape[1] // grid)
    features = keras.Input(shape, batch_size=1)
    if pooling == "tile_mean":
        pooled = TileMean(pool)(features)
    elif pooling == "depthwise":
        average = keras.initializers.Constant(1.0 / (pool[0] * pool[1]))
        pooled = keras.layers.DepthwiseConv2D(pool, strides=pool, use_bias=False, trainable=False,
                                              depthwise_initializer=average)(features)
    else:
        pooled = keras.layers.AveragePooling2D(pool)(features)
    dense = keras.layers.Dense(10, activation="softmax")
    probs = dense(keras.layers.Flatten()(pooled))
    model = keras.Model(features, [probs, keras.ops.max(probs, axis=-1, keepdims=True)])
    if weights is not None:
        dense.set_weights(weights)
    return model, dense


def _int8(model: Any, samples: np.ndarray) -> bytes:
    tf = import_tensorflow()
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([s[None]] for s in samples)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = converter.inference_output_type = tf.int8
    with contextlib.redirect_stdout(sys.stderr), warnings.catch_warnings():  # it prints where its SavedModel went
        warnings.filterwarnings("ignore", "Statistics for quantized inputs")  # the calibration gives them
        return converter.convert()


def _us_per_call(invoke, calls: int = 2000) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        invoke()
    return (time.perf_counter() - start) / calls * 1e6


def measure(shape: tuple[int, int, int], grid: int, rounds: int) -> dict[str, Any]:
    """The three heads on one map: µs per invocation, int8 error against float."""
    rng = np.random.default_rng(0)
    samples = rng.normal(0, 1, (200, *shape)).astype(np.float32)
    reference, dense = _head(shape, grid, "average_pool", None)
    weights = dense.get_weights()
    float_probs = np.asarray(reference(samples)[0])
    backend = load_backend()
    runs, row = {}, {"map": "×".join(map(str, shape)), "grid": grid}
    for name in POOLINGS:
        model = reference if name == "average_pool" else _head(shape, grid, name, weights)[0]
        converted = _int8(model, samples[:100])
        interpreter = backend.interpreter_class(model_content=converted, num_threads=1)
        interpreter.allocate_tensors()
        (inp,), outs = interpreter.get_input_details(), interpreter.get_output_details()
        probs_out = next(o for o in outs if tuple(o["shape"]) == (1, 10))
        in_scale, in_zero = inp["quantization"]
        out_scale, out_zero = probs_out["quantization"]
        answers = np.zeros((len(samples), 10))
        for i, sample in enumerate(samples):
            interpreter.set_tensor(inp["index"], np.clip(np.round(sample / in_scale + in_zero), -128, 127)
                                   .astype(np.int8)[None])
            interpreter.invoke()
            answers[i] = (interpreter.get_tensor(probs_out["index"])[0].astype(np.float32) - out_zero) * out_scale
        row[name] = {"ops": operator_names(converted),
                     "probs_error": round(float(np.abs(answers - float_probs).mean()), 5),
                     "answers_differ": round(float((answers.argmax(1) != float_probs.argmax(1)).mean()), 4)}
        runs[name] = interpreter.invoke
    samples_us: dict[str, list[float]] = {name: [] for name in runs}
    for name, invoke in runs.items():
        _us_per_call(invoke, 200)
    for _ in range(rounds):
        for name, invoke in runs.items():
            samples_us[name].append(_us_per_call(invoke))
    for name in runs:
        row[name]["us"] = round(statistics.median(samples_us[name]), 2)
    return row


def _map_shape(parser: argparse.ArgumentParser, spec: str, grid: int) -> tuple[int, int, int]:
    """``48x48x8`` → (48, 48, 8); a usage error unless it is three positive integers whose sides the grid divides."""
    try:
        shape = tuple(int(v) for v in spec.lower().replace("×", "x").split("x"))
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) <= 0:
        parser.error(f"--maps {spec!r}: expected H×W×C, three positive integers such as 48x48x8")
    if grid <= 0 or shape[0] % grid or shape[1] % grid:
        parser.error(f"--maps {spec!r}: --grid {grid} must divide both sides (tiles that cover the map exactly)")
    return shape


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--maps", default="48x48x8,24x24x8,112x112x16",
                        help="feature maps H×W×C, comma-separated (default: MobileNetV2 α 0.35's first two cuts "
                             "at 96 px, and its first at 224 px)")
    parser.add_argument("--grid", type=int, default=4, help="pooling grid (default 4, the converter's finest)")
    parser.add_argument("--rounds", type=int, default=15, help="interleaved timing rounds (default 15)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    maps = [_map_shape(parser, spec, args.grid) for spec in args.maps.split(",")]
    rows = [measure(shape, args.grid, args.rounds) for shape in maps]
    if args.json:
        print(json.dumps({"cpu": cpu_model(), "rows": rows}))
        return 0
    print(f"CPU: {cpu_model()}; LiteRT, 1 thread, median of {args.rounds} interleaved rounds")
    for row in rows:
        pool, tile, depthwise = row["average_pool"], row["tile_mean"], row["depthwise"]
        print(f"{row['map']} → {row['grid']}×{row['grid']}: AveragePooling2D {pool['us']:.2f} µs, TileMean "
              f"{tile['us']:.2f} µs ({tile['us'] / pool['us']:.2f}×), depthwise {depthwise['us']:.2f} µs; int8 − "
              f"float |probs| {pool['probs_error']:.4f} vs {tile['probs_error']:.4f} vs "
              f"{depthwise['probs_error']:.4f}, answers differing {pool['answers_differ']:.1%} vs "
              f"{tile['answers_differ']:.1%} vs {depthwise['answers_differ']:.1%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
