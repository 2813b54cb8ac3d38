"""Export a trained :class:`~converters.gated.GatedNet` as a ``gated`` bundle.

``segments.tflite`` holds, calibrated together:

* ``stem``: image → features, and gate 1 on them (from a zero LSTM state): ``logit, h, c``;
* ``run_i``: block i on ``x`` (with ``h, c`` passed in), then gate i+1 on its output; the last
  ``run_n`` ends in the softmax head (``probs, confidence``) instead;
* ``skip_i``: block i's shortcut instead of the block — the 1×1 projection where the shape
  changes, nothing at all otherwise (then only the gate, and ``x`` is read but not returned).

So each block costs exactly one invocation, run or skipped, and a skipped block's layers are
never invoked. ``monolithic.tflite`` is the same network with every block run and no gates.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from edge_runtime.core.floor import DEFAULT_FLOOR
from edge_runtime.core.datasets import Dataset
from edge_runtime.core.preprocess import Preprocessor
from edge_runtime.families.gated.manifest import (TABLE_INFINITY, GatedAlphaTable, GatedBlock, GatedPart, GatedSpec,
                                                  table_delta)
from edge_runtime.families.gated.runtime import GatedRuntime, chain_overhead
from edge_runtime.registry import load_bundle

from ..common.distribute import predict
from ..common.bundle_writer import manifest_header, segment_record, write_calibrated
from ..common.macs import Cost, model_cost
from ..common.progress import Progress, import_tensorflow
from ..common.tflite_export import SignatureSpec, convert_int8, signature_io, write_model
from .model import GATE_WIDTH, GatedNet, block_costs, cost_of

SEGMENTS_FILE = "segments.tflite"
MONOLITHIC_FILE = "monolithic.tflite"
MAX_CALIBRATION_SAMPLES = 300
LSTM_MACS = 2 * GATE_WIDTH * 4 * GATE_WIDTH + GATE_WIDTH  # the LSTM step and the output projection


def _probs(probs: Any) -> dict[str, Any]:
    tf = import_tensorflow()
    return {"probs": probs, "confidence": tf.reduce_max(probs, axis=-1, keepdims=True)}


def _signature_fns(net: GatedNet) -> dict[str, Any]:
    tf = import_tensorflow()
    n = len(net.blocks)
    fns: dict[str, Any] = {}

    def stem(x: Any) -> dict[str, Any]:
        features = net.apply_stem(x, training=False)
        zeros = tf.zeros((tf.shape(x)[0], GATE_WIDTH))
        logit, h, c = net.gate(0, features, zeros, zeros, training=False)
        return {"features": features, "logit": logit, "h": h, "c": c}

    fns["stem"] = stem
    for i, block in enumerate(net.blocks):
        last = i == n - 1

        def after(features: Any, h: Any, c: Any, i: int = i, last: bool = last, emit: bool = True) -> dict[str, Any]:
            if last:
                return _probs(net.apply_head(features, training=False))
            logit, h, c = net.gate(i + 1, features, h, c, training=False)
            out = {"logit": logit, "h": h, "c": c}
            if emit:
                out["features"] = features
            return out

        identity = block.projection is None
        if last:  # the head needs no LSTM state: the last segments take x alone
            fns[f"run_{i + 1}"] = lambda x, b=block, after=after: after(b.run(x, False), None, None)
            fns[f"skip_{i + 1}"] = lambda x, b=block, after=after: after(b.shortcut(x, False), None, None)
            continue
        fns[f"run_{i + 1}"] = lambda x, h, c, b=block, after=after: after(b.run(x, False), h, c)
        fns[f"skip_{i + 1}"] = (lambda x, h, c, b=block, after=after, identity=identity:
                                after(b.shortcut(x, False), h, c, emit=not identity))
    return fns


def _float_trace(net: GatedNet, fns: dict[str, Any], x: np.ndarray) -> dict[str, tuple[np.ndarray, ...]]:
    """The float inputs (x, h, c) every run_i / skip_i sees on real images, following the hard gates."""
    out = fns["stem"](x)
    features, logit, h, c = (np.asarray(out[k]) for k in ("features", "logit", "h", "c"))
    inputs: dict[str, tuple[np.ndarray, ...]] = {"stem": (x,)}
    for i in range(len(net.blocks)):
        inputs[f"run_{i + 1}"] = inputs[f"skip_{i + 1}"] = (features, h, c)
        if i == len(net.blocks) - 1:
            break
        run = {k: np.asarray(v) for k, v in fns[f"run_{i + 1}"](features, h, c).items()}
        skip = {k: np.asarray(v) for k, v in fns[f"skip_{i + 1}"](features, h, c).items()}
        execute = (logit >= 0.0).reshape(-1)
        skip.setdefault("features", features)

        def pick(key: str) -> np.ndarray:
            mask = execute.reshape((-1,) + (1,) * (run[key].ndim - 1))
            return np.where(mask, run[key], skip[key])

        features, logit, h, c = pick("features"), pick("logit"), pick("h"), pick("c")
    return inputs


def _gate_macs(channels: int) -> int:
    return channels * GATE_WIDTH + LSTM_MACS


def export_gated(net: GatedNet, dataset: Dataset, folder: str, progress: Progress, training: dict[str, Any],
                 energies: np.ndarray, source: dict[str, Any], floor: str = DEFAULT_FLOOR) -> dict[str, Any]:
    _, _, x_held, y_held = dataset.held_out_split()
    images = dataset.to_float(x_held[:MAX_CALIBRATION_SAMPLES])
    fns = _signature_fns(net)
    trace = _float_trace(net, fns, images)
    specs = []
    for key, fn in fns.items():
        samples = trace[key]
        last = key in (f"run_{len(net.blocks)}", f"skip_{len(net.blocks)}")
        extras = () if key == "stem" or last else (("h", (GATE_WIDTH,), samples[1]), ("c", (GATE_WIDTH,), samples[2]))
        specs.append(SignatureSpec(key, fn, tuple(samples[0].shape[1:]), samples[0], extras))
    plain = net.plain()
    gated = net.gated()
    variables = list(gated.weights)
    progress.say(f"converting {len(specs)} segments to int8 ({len(images)} calibration samples)")
    write_model(os.path.join(folder, SEGMENTS_FILE), convert_int8(specs, variables))
    progress.say("converting the ungated network (the reference)")
    mono = SignatureSpec("plain", lambda x: {"probs": plain(x, training=False)}, dataset.image_shape, images)
    write_model(os.path.join(folder, MONOLITHIC_FILE), convert_int8([mono], list(plain.weights)))
    io = signature_io(os.path.join(folder, SEGMENTS_FILE))
    io.update(signature_io(os.path.join(folder, MONOLITHIC_FILE)))

    costs = block_costs(net)
    stem_cost = cost_of(plain, net.stem)
    head_cost = cost_of(plain, net.head)
    plain_macs = model_cost(plain).macs
    channels = [block.channels for block in net.blocks]
    in_channels = [net.stem_channels] + channels[:-1]
    segments = {}

    def add(key: str, macs: int, file: str = SEGMENTS_FILE) -> None:
        segments[key] = segment_record(key, file, io, Cost(int(macs), 0, 0))

    add("stem", stem_cost.macs + _gate_macs(in_channels[0]))
    blocks = []
    n = len(net.blocks)
    for i, block in enumerate(net.blocks):
        nxt = head_cost.macs if i == n - 1 else _gate_macs(channels[i])
        run, skip = block.costs(plain)
        add(f"run_{i + 1}", run.macs + nxt)
        add(f"skip_{i + 1}", skip.macs + nxt)
        blocks.append(GatedBlock(block.name, f"run_{i + 1}", f"skip_{i + 1}", block.projection is not None,
                                 int(costs[i].macs), float(energies[i])))
    add("plain", plain_macs, MONOLITHIC_FILE)
    header = manifest_header("gated", dataset, folder, (SEGMENTS_FILE, MONOLITHIC_FILE), segments, "plain", source, floor)
    placeholder = GatedAlphaTable((0.5,), (0.0,), (0.0,), (0.0,))
    part = GatedPart(GatedSpec("stem", tuple(blocks), GATE_WIDTH, placeholder, {"training": training}))
    return write_calibrated(folder, header, part, "gated",
                            lambda: _calibrate(folder, x_held, y_held, gated, plain, dataset),
                            dataset, len(y_held), len(images), progress.say)


ALPHAS = tuple(round(a, 2) for a in np.arange(0.0, 1.0001, 0.05))


def alpha_deltas(logits: np.ndarray) -> list[tuple[float, float]]:
    """α → the logit threshold δ: −∞ (run every block) at 0, the trained 0 at 0.5, +∞ (skip all) at 1,
    in between the held-out logit quantiles so that the share of blocks run moves evenly."""
    below = float(np.mean(logits < 0.0))
    rows = []
    for alpha in ALPHAS:
        if alpha == 0.0:
            delta = -TABLE_INFINITY
        elif alpha == 1.0:
            delta = TABLE_INFINITY
        elif alpha == 0.5:
            delta = 0.0
        else:
            level = alpha / 0.5 * below if alpha < 0.5 else below + (alpha - 0.5) / 0.5 * (1.0 - below)
            delta = float(np.quantile(logits, level))
            delta = min(delta, 0.0) if alpha < 0.5 else max(delta, 0.0)
        rows.append((float(alpha), delta))
    return rows


def _calibrate(folder: str, x_held: np.ndarray, y_held: np.ndarray, gated: Any, plain: Any, dataset: Dataset
               ) -> tuple[GatedAlphaTable, dict[str, Any]]:
    runtime = GatedRuntime(load_bundle(folder))
    pre = Preprocessor(runtime.bundle.input, runtime.input_quantization)
    images = [pre.from_pixels(p) for p in x_held]
    trained = runtime.plan_for_delta(0.0, 0.5)
    logits = []
    mono = []
    for image in images:
        logits.extend(runtime.trace(image, trained)["logits"])
        mono.append(runtime.classify_monolithic(image))
    table: dict[str, list] = {"alpha": [], "delta": [], "blocks_run": [], "accuracy": [], "mean_macs": []}
    for alpha, delta in alpha_deltas(np.array(logits)):
        plan = runtime.plan_for_delta(table_delta(delta), alpha)
        decisions = [runtime.classify(image, plan) for image in images]
        table["alpha"].append(alpha)
        table["delta"].append(delta)
        table["blocks_run"].append(round(float(np.mean([len(d.ran) for d in decisions])), 4))
        table["accuracy"].append(round(float(np.mean([d.label for d in decisions] == y_held)), 6))
        table["mean_macs"].append(round(float(np.mean([d.macs for d in decisions]))))
    def agreement(pixels: np.ndarray) -> float:
        _, gates, _ = predict(gated, dataset.float_rows(pixels))
        device = np.array([[name in d.ran for name in runtime.block_names]
                           for d in (runtime.classify(pre.from_pixels(p), trained) for p in pixels)])
        return float(np.mean(device == (gates >= 0.5)))

    probs, _, _ = predict(gated, dataset.float_rows(x_held))
    # the ungated network as trained with its gates, in float: what its int8 copy (monolithic_accuracy) is judged
    # against; joint training changes it, so the user's network as given is not that reference
    ungated = predict(plain, dataset.float_rows(x_held))
    calibration = {"monolithic_accuracy": round(float(np.mean(np.array(mono) == y_held)), 6),
                   "ungated_keras_accuracy": round(float(np.mean(np.argmax(ungated, axis=-1) == y_held)), 6),
                   "keras_gated_accuracy": round(float(np.mean(np.argmax(probs, axis=-1) == y_held)), 6),
                   "gate_agreement_with_keras": round(agreement(x_held), 6),
                   "gate_agreement_with_keras_test_split": round(agreement(dataset.x_test), 6),
                   "overhead": chain_overhead(runtime, images[:200])}
    return GatedAlphaTable(*(tuple(table[k]) for k in ("alpha", "delta", "blocks_run", "accuracy", "mean_macs"))), \
        calibration
