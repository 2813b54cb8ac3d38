"""Export a trained :class:`~converters.multi_exit.model.MultiExitModel` as a multi-exit bundle.

Files: ``segments.tflite`` (one signature per segment: ``exit_0`` = the input exit's head,
``stage_i_j`` = blocks i … j fused with exit j's head, for every i ≤ j, so that exits that
cannot fire cost no invocation) and ``monolithic.tflite`` (the whole network to its last
exit, the reference every saving is measured against). Both are cut out of one int8 conversion of the
whole network with every head (:mod:`converters.common.tflite_slice`), so a chain of segments computes
exactly what the monolithic model computes. Exit statistics in the manifest are measured with the device
runtime itself on held-out data, int8 as the device will run it.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import numpy as np

from edge_runtime.core.floor import DEFAULT_FLOOR
from edge_runtime.core.datasets import Dataset
from edge_runtime.core.manifest import Segment
from edge_runtime.core.preprocess import Preprocessor
from edge_runtime.families.multi_exit.exit_rule import DEFAULT_BETA1, DEFAULT_BETA2, fit_energy_accuracy
from edge_runtime.families.multi_exit.manifest import (ConfidenceCurve, ExitSpec, MultiExitCalibration, MultiExitPart,
                                                       Stage)
from edge_runtime.families.multi_exit.runtime import MultiExitRuntime
from edge_runtime.registry import load_bundle

from ..common.distribute import predict
from ..common.bundle_writer import add_alpha_table, manifest_header, segment_record, write_manifest
from ..common.macs import Cost, model_cost
from ..common.progress import Progress, import_tensorflow
from ..common.tflite_export import SignatureSpec, convert_int8, signature_io, write_model
from ..common.tflite_slice import Slice, slice_models
from .model import MultiExitModel

SEGMENTS_FILE = "segments.tflite"
MONOLITHIC_FILE = "monolithic.tflite"
CURVE_THRESHOLDS = tuple(round(t, 2) for t in np.arange(0.0, 1.0001, 0.05))
MAX_CALIBRATION_SAMPLES = 300


def _whole_network(model: MultiExitModel):
    """image → every cut tensor (``cut_k``) and every exit's ``exit_k_probs`` and ``exit_k_confidence``."""
    tf = import_tensorflow()

    def exit_outputs(k: int, probs) -> dict[str, Any]:
        return {f"exit_{k}_probs": probs, f"exit_{k}_confidence": tf.reduce_max(probs, axis=-1, keepdims=True)}

    def network(x):
        outputs = exit_outputs(0, model.input_head(x, training=False)) if model.input_head is not None else {}
        for k, block in enumerate(model.blocks, start=1):
            x = block(x, training=False)
            outputs[f"cut_{k}"] = x
            outputs.update(exit_outputs(k, model.heads[k - 1](x, training=False)))
        outputs.update(exit_outputs(len(model.blocks) + 1, model.final(x, training=False)))
        return outputs

    return network


def _segment_plan(model: MultiExitModel) -> tuple[list[Slice], list[dict], list[Stage], dict[str, Cost]]:
    """The slices of the whole network that are segments, the manifest's exits and stages, per-segment costs.

    Exit e ≥ 1 follows block e (the last "block" is ``final``). For every pair i ≤ j the stage
    ``stage_i_j`` runs blocks i … j and exit j's head, reading the cut after block i − 1 (the image when
    i = 1) and, unless j is the last, giving the cut after block j as ``features``.
    """
    slices: list[Slice] = []
    exits: list[dict] = []
    stages: list[Stage] = []
    costs: dict[str, Cost] = {}
    offset = 0
    if model.input_head is not None:
        slices.append(Slice("exit_0", {"x": "x"}, {"probs": "exit_0_probs", "confidence": "exit_0_confidence"}))
        costs["exit_0"] = model_cost(model.input_head)
        exits.append({"name": "exit_0", "has_block": False})
        stages.append(Stage("exit_0", 0))
        offset = 1
    pieces = list(model.blocks) + [model.final]
    piece_costs = [model_cost(p) for p in pieces]
    head_costs = [model_cost(h) for h in model.heads]
    n = len(pieces)
    for j in range(1, n + 1):
        exits.append({"name": f"exit_{j}", "has_block": True})
        for i in range(1, j + 1):
            key = f"stage_{i}_{j}"
            outputs = {"probs": f"exit_{j}_probs", "confidence": f"exit_{j}_confidence"}
            if j < n:
                outputs["features"] = f"cut_{j}"
            slices.append(Slice(key, {"x": "x" if i == 1 else f"cut_{i - 1}"}, outputs))
            cost = piece_costs[i - 1]
            for c in piece_costs[i:j]:
                cost = cost + c
            costs[key] = cost + head_costs[j - 1] if j < n else cost
            # exit_j (after block j) has exit index j - 1 + offset.
            stages.append(Stage(key, j - 1 + offset, None if i == 1 else i - 2 + offset))
    slices.append(Slice("monolithic", {"x": "x"}, {"probs": f"exit_{n}_probs"}))
    costs["monolithic"] = costs[f"stage_1_{n}"]
    return slices, exits, stages, costs


def export_multi_exit(model: MultiExitModel, dataset: Dataset, folder: str, progress: Progress,
                      float_accuracies: list[float], source: dict[str, Any], floor: str = DEFAULT_FLOOR,
                      invocation_cost: float | None = None) -> dict[str, Any]:
    """Convert, write and calibrate a bundle in ``folder`` (an empty staging folder).

    Returns the manifest written.
    """
    _, _, x_held, y_held = dataset.held_out_split()
    calibration_pixels = x_held[:MAX_CALIBRATION_SAMPLES]
    slices, exits, stages, costs = _segment_plan(model)
    whole = SignatureSpec("network", _whole_network(model), model.image_shape, dataset.to_float(calibration_pixels))
    progress.say(f"converting the network with its {len(exits)} exits to int8 ({len(calibration_pixels)} calibration "
                 "samples)")
    converted = convert_int8([whole], list(model.training_model.weights))
    progress.say(f"cutting {len(slices) - 1} segments and the monolithic model out of it")
    segments_file, monolithic_file = slice_models(converted, [slices[:-1], slices[-1:]])
    write_model(os.path.join(folder, SEGMENTS_FILE), segments_file)
    write_model(os.path.join(folder, MONOLITHIC_FILE), monolithic_file)

    io = signature_io(os.path.join(folder, SEGMENTS_FILE))
    io.update(signature_io(os.path.join(folder, MONOLITHIC_FILE)))
    segments = {piece.key: segment_record(piece.key, MONOLITHIC_FILE if piece.key == "monolithic" else SEGMENTS_FILE,
                                          io, costs[piece.key]) for piece in slices}
    # Fixed-depth MACs of each exit: the stage from the image to it.
    for stage in stages:
        if stage.source is None:
            exits[stage.target]["macs"] = segments[stage.segment].macs
    header = manifest_header("multi_exit", dataset, folder, (SEGMENTS_FILE, MONOLITHIC_FILE), segments, "monolithic",
                             source, floor)
    unmeasured = ConfidenceCurve((), (), ())
    part = MultiExitPart(
        exits=tuple(ExitSpec(e["name"], e["has_block"], e["macs"], 0.0, 0.0, unmeasured) for e in exits),
        stages=tuple(stages), calibration=MultiExitCalibration(DEFAULT_BETA1, DEFAULT_BETA2, None))
    write_manifest(folder, header, part)

    progress.say(f"measuring every int8 exit on {len(y_held)} held-out samples")
    part = _calibrate(folder, part, segments, x_held, y_held, float_accuracies, dataset.name, len(calibration_pixels))
    write_manifest(folder, header, part)
    load_bundle(folder)  # the bundle must load exactly as a device will load it
    manifest = add_alpha_table(folder, dataset, progress.say, invocation_cost)
    return manifest


def _calibrate(folder: str, part: MultiExitPart, segments: dict[str, Segment], x_held: np.ndarray,
               y_held: np.ndarray, float_accuracies: list[float], dataset_name: str,
               n_calibration: int) -> MultiExitPart:
    """The part with every exit's int8 held-out accuracy and confidence curve, and eq. 7's fit."""
    runtime = MultiExitRuntime(load_bundle(folder))
    pre = Preprocessor(runtime.bundle.input, runtime.input_quantization)
    n_exits = len(part.exits)
    labels = np.zeros((len(y_held), n_exits), dtype=np.int64)
    confidences = np.zeros((len(y_held), n_exits))
    mono_correct = 0
    for i, pixels in enumerate(x_held):
        image = pre.from_pixels(pixels)
        labels[i], confidences[i] = runtime.exit_scores(image)
        mono_correct += runtime.classify_monolithic(image) == y_held[i]
    correct = labels == y_held[:, None]
    exits = []
    for l, ex in enumerate(part.exits):
        curve: dict[str, list[float]] = {"thresholds": [], "accuracy": [], "coverage": []}
        for t in CURVE_THRESHOLDS:
            mask = confidences[:, l] >= t
            if mask.any():
                curve["thresholds"].append(t)
                curve["accuracy"].append(round(float(correct[mask, l].mean()), 6))
                curve["coverage"].append(round(float(mask.mean()), 6))
        exits.append(dataclasses.replace(
            ex, accuracy=round(float(correct[:, l].mean()), 6), float_accuracy=round(float(float_accuracies[l]), 6),
            curve=ConfidenceCurve(tuple(curve["thresholds"]), tuple(curve["accuracy"]), tuple(curve["coverage"]))))
    full = segments["monolithic"].macs
    fit = fit_energy_accuracy([ex.accuracy for ex in exits], [ex.macs / full for ex in exits])
    figures = {
        "dataset": dataset_name,
        "held_out_samples": int(len(y_held)),
        "calibration_samples": int(n_calibration),
        "monolithic_accuracy": round(mono_correct / len(y_held), 6),
        "joints": _joints(part.stages, segments),
    }
    return dataclasses.replace(part, exits=tuple(exits),
                               calibration=MultiExitCalibration(DEFAULT_BETA1, DEFAULT_BETA2, fit, figures))


def _joints(stages: tuple[Stage, ...], segments: dict[str, Segment]) -> list[dict[str, Any]]:
    """Every joint between a stage's features and the stages that read them, with both quantizations."""
    joints = []
    for stage in stages:
        if stage.source is None:
            continue
        for producer in (st.segment for st in stages if st.target == stage.source):
            out_q = segments[producer].outputs["features"].quantization
            in_q = segments[stage.segment].inputs["x"].quantization
            joints.append({"from": producer, "to": stage.segment,
                           "output": {"scale": out_q.scale, "zero_point": out_q.zero_point},
                           "input": {"scale": in_q.scale, "zero_point": in_q.zero_point},
                           "requantize": not out_q.matches(in_q)})
    return joints


def feature_drift(model: MultiExitModel, folder: str, pixels: np.ndarray, scale: float, offset: float) -> list[float]:
    """How far the int8 chain is from the float network on ``pixels`` (uint8): ‖int8 − float‖ / ‖float‖ of the
    features at each cut, in order, then of the last exit's probabilities. Where it jumps, quantization loses
    what the exits after need."""
    runtime = MultiExitRuntime(load_bundle(folder))
    pre = Preprocessor(runtime.bundle.input, runtime.input_quantization)
    plan = runtime.every_exit_plan()
    steps = [step for step in plan.steps if step.features is not None]
    views = [(step.features, step.segment.outputs["features"].quantization) for step in steps]
    views.append((plan.steps[-1].probs, plan.steps[-1].segment.outputs["probs"].quantization))
    import keras  # the workstation side, inside the conversion session

    floats = np.asarray(pixels, np.float32) * np.float32(scale) + np.float32(offset)
    extractor = keras.Model(model.training_model.input, list(model.cut_tensors) + [model.training_model.outputs[-1]])
    outputs = predict(extractor, floats, 64)
    reference = [np.asarray(r) for r in (outputs if isinstance(outputs, list) else [outputs])]
    errors = np.zeros(len(views))
    norms = np.zeros(len(views))
    for i, p in enumerate(pixels):
        runtime.classify(pre.from_pixels(p), plan)
        for k, (view, quantization) in enumerate(views):
            expected = reference[k][i:i + 1]
            errors[k] += float(np.sum((quantization.dequantize(view) - expected) ** 2))
            norms[k] += float(np.sum(expected ** 2))
    return [float(np.sqrt(e / max(n, 1e-12))) for e, n in zip(errors, norms)]
