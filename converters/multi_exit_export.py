"""Export a trained :class:`~converters.models.MultiExitModel` as a multi-exit bundle.

Files: ``segments.tflite`` (one signature per segment: ``exit_0`` = the input exit's head,
``stage_i`` = block i fused with its exit head, ``block_i`` = block i alone for when its
exit cannot fire) and ``monolithic.tflite`` (the whole network to its last exit, the
reference every saving is measured against). Exit statistics in the manifest are measured
with the device runtime itself on held-out data, int8 as the device will run it.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

import edge_runtime
from edge_runtime.bundle import FORMAT, FORMAT_VERSION, load_bundle
from edge_runtime.datasets import Dataset
from edge_runtime.exit_rule import DEFAULT_BETA1, DEFAULT_BETA2, fit_energy_accuracy
from edge_runtime.multi_exit import MultiExitRuntime
from edge_runtime.preprocess import Preprocessor

from .bundle_writer import file_entry, manifest_path, write_json
from .macs import Cost, model_cost
from .models import MultiExitModel
from .progress import Progress, import_tensorflow
from .tflite_export import SignatureSpec, convert_int8, signature_io, write_model

SEGMENTS_FILE = "segments.tflite"
MONOLITHIC_FILE = "monolithic.tflite"
CURVE_THRESHOLDS = tuple(round(t, 2) for t in np.arange(0.0, 1.0001, 0.05))
MAX_CALIBRATION_SAMPLES = 300


def _with_confidence(probs) -> dict[str, Any]:
    tf = import_tensorflow()
    return {"probs": probs, "confidence": tf.reduce_max(probs, axis=-1, keepdims=True)}


def _segment_plan(model: MultiExitModel, float_inputs: list[np.ndarray]) -> tuple[list[SignatureSpec], list[dict], dict[str, Cost]]:
    """Signature specs, manifest exit skeletons and per-segment costs.

    ``float_inputs[i]`` holds the calibration inputs of block i+1 (image first, then T_1 …).
    """
    specs: list[SignatureSpec] = []
    exits: list[dict] = []
    costs: dict[str, Cost] = {}
    image_shape = model.image_shape
    if model.input_head is not None:
        head = model.input_head
        specs.append(SignatureSpec("exit_0", lambda x, h=head: _with_confidence(h(x, training=False)),
                                   image_shape, float_inputs[0]))
        costs["exit_0"] = model_cost(head)
        exits.append({"name": "exit_0", "stage": "exit_0", "block": None, "source": "image"})
    n_blocks = len(model.blocks)
    for i, (block, head) in enumerate(zip(model.blocks, model.heads), start=1):
        shape = tuple(block.input.shape[1:])

        def stage(x, b=block, h=head):
            features = b(x, training=False)
            return {"features": features, **_with_confidence(h(features, training=False))}

        specs.append(SignatureSpec(f"stage_{i}", stage, shape, float_inputs[i - 1]))
        specs.append(SignatureSpec(f"block_{i}", lambda x, b=block: {"features": b(x, training=False)}, shape,
                                   float_inputs[i - 1]))
        costs[f"block_{i}"] = model_cost(block)
        costs[f"stage_{i}"] = costs[f"block_{i}"] + model_cost(head)
        exits.append({"name": f"exit_{i}", "stage": f"stage_{i}", "block": f"block_{i}",
                      "source": "image" if i == 1 else "previous"})
    last = n_blocks + 1
    specs.append(SignatureSpec(f"stage_{last}", lambda x, f=model.final: _with_confidence(f(x, training=False)),
                               tuple(model.final.input.shape[1:]), float_inputs[n_blocks]))
    costs[f"stage_{last}"] = model_cost(model.final)
    exits.append({"name": f"exit_{last}", "stage": f"stage_{last}", "block": None,
                  "source": "image" if last == 1 else "previous"})
    return specs, exits, costs


def _float_block_inputs(model: MultiExitModel, x: np.ndarray) -> list[np.ndarray]:
    inputs = [x]
    for block in model.blocks:
        inputs.append(np.asarray(block.predict(inputs[-1], verbose=0, batch_size=256)))
    return inputs


def _tensor_entries(io: dict[str, list[dict]], kind: str) -> list[dict]:
    return io[kind]


def export_multi_exit(model: MultiExitModel, dataset: Dataset, folder: str, progress: Progress,
                      float_accuracies: list[float], source: dict[str, Any]) -> dict[str, Any]:
    """Convert, write and calibrate a bundle in ``folder`` (an empty staging folder).

    Returns the manifest written.
    """
    tf = import_tensorflow()
    _, _, x_held, y_held = dataset.held_out_split()
    calibration_pixels = x_held[:MAX_CALIBRATION_SAMPLES]
    float_inputs = _float_block_inputs(model, dataset.to_float(calibration_pixels))
    specs, exits, costs = _segment_plan(model, float_inputs)
    variables = list(model.training_model.weights)

    progress.say(f"converting {len(specs)} segments to int8 ({len(calibration_pixels)} calibration samples)")
    write_model(os.path.join(folder, SEGMENTS_FILE), convert_int8(specs, variables))
    progress.say("converting the monolithic int8 model")
    mono = model.monolithic()
    mono_spec = SignatureSpec("monolithic", lambda x, m=mono: {"probs": m(x, training=False)}, model.image_shape,
                              float_inputs[0])
    write_model(os.path.join(folder, MONOLITHIC_FILE), convert_int8([mono_spec], variables))

    io = signature_io(os.path.join(folder, SEGMENTS_FILE))
    io.update(signature_io(os.path.join(folder, MONOLITHIC_FILE)))
    segments = {}
    costs["monolithic"] = model_cost(mono)
    for spec in specs + [mono_spec]:
        cost = costs[spec.key]
        segments[spec.key] = {
            "file": MONOLITHIC_FILE if spec.key == "monolithic" else SEGMENTS_FILE,
            "signature": spec.key,
            "inputs": io[spec.key]["inputs"],
            "outputs": io[spec.key]["outputs"],
            "macs": cost.macs, "params": cost.params, "bytes_moved": cost.bytes_moved,
        }
    # Fixed-depth MACs of each exit: every block before it, then its stage.
    running = 0
    for ex in exits:
        ex["macs"] = running + segments[ex["stage"]]["macs"]
        if ex["block"]:
            running += segments[ex["block"]]["macs"]
    height, width, channels = dataset.image_shape
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "family": "multi_exit",
        "producer": {"tool": "edge-convert", "version": edge_runtime.__version__, "tensorflow": tf.__version__,
                     **source},
        "labels": list(dataset.labels),
        "input": {"height": height, "width": width, "channels": channels, "color_mode": dataset.color_mode,
                  "pixel_scale": dataset.pixel_scale, "pixel_offset": dataset.pixel_offset, "resize": "bilinear"},
        "files": {name: file_entry(os.path.join(folder, name)) for name in (SEGMENTS_FILE, MONOLITHIC_FILE)},
        "segments": segments,
        "monolithic": {"segment": "monolithic"},
        "exits": [dict(ex, accuracy=0.0, float_accuracy=0.0,
                       confidence_curve={"thresholds": [], "accuracy": [], "coverage": []}) for ex in exits],
        "calibration": {"beta1": DEFAULT_BETA1, "beta2": DEFAULT_BETA2, "energy_fit": None},
    }
    write_json(manifest_path(folder), manifest)

    progress.say(f"measuring every int8 exit on {len(y_held)} held-out samples")
    manifest["calibration"] = _calibrate(folder, manifest, exits, x_held, y_held, float_accuracies, dataset.name,
                                         len(calibration_pixels))
    for entry, stats in zip(manifest["exits"], manifest["calibration"].pop("_exit_stats")):
        entry.update(stats)
    write_json(manifest_path(folder), manifest)
    load_bundle(folder)  # the bundle must load exactly as a device will load it
    return manifest


def _calibrate(folder: str, manifest: dict[str, Any], exits: list[dict], x_held: np.ndarray, y_held: np.ndarray,
               float_accuracies: list[float], dataset_name: str, n_calibration: int) -> dict[str, Any]:
    runtime = MultiExitRuntime(load_bundle(folder))
    pre = Preprocessor(runtime.bundle.input, runtime.input_quantization)
    labels = np.zeros((len(y_held), len(exits)), dtype=np.int64)
    confidences = np.zeros((len(y_held), len(exits)))
    mono_correct = 0
    for i, pixels in enumerate(x_held):
        image = pre.from_pixels(pixels)
        labels[i], confidences[i] = runtime.exit_scores(image)
        mono_correct += runtime.classify_monolithic(image) == y_held[i]
    correct = labels == y_held[:, None]
    stats = []
    for l in range(len(exits)):
        curve = {"thresholds": [], "accuracy": [], "coverage": []}
        for t in CURVE_THRESHOLDS:
            mask = confidences[:, l] >= t
            if mask.any():
                curve["thresholds"].append(t)
                curve["accuracy"].append(round(float(correct[mask, l].mean()), 6))
                curve["coverage"].append(round(float(mask.mean()), 6))
        stats.append({"accuracy": round(float(correct[:, l].mean()), 6),
                      "float_accuracy": round(float(float_accuracies[l]), 6), "confidence_curve": curve})
    full = manifest["segments"]["monolithic"]["macs"]
    fit = fit_energy_accuracy([s["accuracy"] for s in stats], [ex["macs"] / full for ex in exits])
    joints = []
    segments = manifest["segments"]
    feeder = None
    for ex in exits:
        if ex["source"] == "previous" and feeder is not None:
            out_q = next(t for t in segments[feeder]["outputs"] if t["name"] == "features")
            in_q = next(t for t in segments[ex["stage"]]["inputs"] if t["name"] == "x")
            from edge_runtime.quant import Quantization
            same = Quantization(out_q["scale"], out_q["zero_point"]).matches(Quantization(in_q["scale"], in_q["zero_point"]))
            joints.append({"from": feeder, "to": ex["stage"],
                           "output": {"scale": out_q["scale"], "zero_point": out_q["zero_point"]},
                           "input": {"scale": in_q["scale"], "zero_point": in_q["zero_point"]},
                           "requantize": not same})
        if any(t["name"] == "features" for t in segments[ex["stage"]]["outputs"]):
            feeder = ex["stage"]
    return {
        "dataset": dataset_name,
        "held_out_samples": int(len(y_held)),
        "calibration_samples": int(n_calibration),
        "beta1": DEFAULT_BETA1,
        "beta2": DEFAULT_BETA2,
        "energy_fit": {"a": fit.a, "b": fit.b} if fit else None,
        "monolithic_accuracy": round(mono_correct / len(y_held), 6),
        "joints": joints,
        "_exit_stats": stats,
    }
