"""Export a :class:`~converters.pruned.PrunedSystem` as a ``pruned`` bundle.

``segments.tflite`` holds the signatures, calibrated together — ``trunk`` (AP's convolutions:
image → features), ``ap_head`` and ``icnn_head`` (features → probs), ``mp`` (image → probs),
and ``selector``, the trunk with both heads fused so that an LCI input costs one invocation —
and ``monolithic.tflite`` the original network, the reference of every saving. The α table
(α → the ICNN's int8 HCI threshold) is calibrated with the device runtime on held-out data.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from edge_runtime.core.floor import DEFAULT_FLOOR
from edge_runtime.core.datasets import Dataset
from edge_runtime.core.preprocess import Preprocessor
from edge_runtime.families.pruned.manifest import NEVER, PrunedAlphaTable, PrunedPart, PrunedSpec
from edge_runtime.families.pruned.runtime import PrunedRuntime
from edge_runtime.registry import load_bundle

from ..common.distribute import predict
from ..common.bundle_writer import manifest_header, segment_record, write_calibrated
from ..common.macs import model_cost
from ..common.progress import Progress, import_tensorflow
from ..common.tflite_export import SignatureSpec, convert_int8, signature_io, write_model
from .algorithm import PrunedSystem

SEGMENTS_FILE = "segments.tflite"
MONOLITHIC_FILE = "monolithic.tflite"
MAX_CALIBRATION_SAMPLES = 300
ALPHAS = tuple(round(a, 2) for a in np.arange(0.0, 1.0001, 0.05))


def _probs(probs) -> dict[str, Any]:
    tf = import_tensorflow()
    return {"probs": probs, "confidence": tf.reduce_max(probs, axis=-1, keepdims=True)}


def _selector(c: Any, x: Any) -> dict[str, Any]:
    """trunk → ICNN head and AP head fused in one invocation: an LCI input is answered by one
    call (the AP head costs a few thousand MACs; an invocation costs microseconds)."""
    features = c.trunk(x, training=False)
    return {"hci": c.icnn(features, training=False), **_probs(c.ap_head(features, training=False))}


def export_pruned(system: PrunedSystem, dataset: Dataset, folder: str, progress: Progress,
                  source: dict[str, Any], floor: str = DEFAULT_FLOOR) -> dict[str, Any]:
    c = system.chosen
    _, _, x_held, y_held = dataset.held_out_split()
    images = dataset.to_float(x_held[:MAX_CALIBRATION_SAMPLES])
    features = predict(c.trunk, images)
    shape = dataset.image_shape
    feature_shape = tuple(c.trunk.output.shape[1:])
    specs = [
        SignatureSpec("trunk", lambda x: {"features": c.trunk(x, training=False)}, shape, images),
        SignatureSpec("ap_head", lambda x: _probs(c.ap_head(x, training=False)), feature_shape, features),
        SignatureSpec("icnn_head", lambda x: {"probs": c.icnn(x, training=False)}, feature_shape, features),
        SignatureSpec("mp", lambda x: _probs(system.mp(x, training=False)), shape, images),
        SignatureSpec("selector", lambda x: _selector(c, x), shape, images),
    ]
    variables = list(c.trunk.weights) + list(c.ap_head.weights) + list(c.icnn.weights) + list(system.mp.weights)
    progress.say(f"converting trunk, AP head, ICNN head and MP to int8 ({len(images)} calibration samples)")
    write_model(os.path.join(folder, SEGMENTS_FILE), convert_int8(specs, variables))
    progress.say("converting the original network (the reference)")
    original = system.original
    mono = SignatureSpec("original", lambda x: {"probs": original(x, training=False)}, shape, images)
    write_model(os.path.join(folder, MONOLITHIC_FILE), convert_int8([mono], list(original.weights)))
    io = signature_io(os.path.join(folder, SEGMENTS_FILE))
    io.update(signature_io(os.path.join(folder, MONOLITHIC_FILE)))
    costs = {"trunk": model_cost(c.trunk), "ap_head": model_cost(c.ap_head), "icnn_head": model_cost(c.icnn),
             "mp": model_cost(system.mp), "original": model_cost(original)}
    costs["selector"] = costs["trunk"] + costs["icnn_head"] + costs["ap_head"]
    segments = {key: segment_record(key, MONOLITHIC_FILE if key == "original" else SEGMENTS_FILE, io, cost)
                for key, cost in costs.items()}
    original_macs = costs["original"].macs
    figures = {
        "acc_original": round(system.acc_original, 6), "phi_mp": system.phi_mp, "acc_mp": round(system.acc_mp, 6),
        "phi_ap": c.phi_ap, "ap_mac_reduction": round(1.0 - c.ap_macs / original_macs, 6),
        "acc_ap": round(c.acc_ap, 6), "acc_system_float": round(c.acc_system, 6), "acc_eq5_float": round(c.acc_eq5, 6),
        "min_accuracy": system.min_accuracy, "sweep": system.sweep,
        "note": "float figures from the converter's held-out split; int8 figures in calibration",
    }
    header = manifest_header("pruned", dataset, folder, (SEGMENTS_FILE, MONOLITHIC_FILE), segments, "original", source,
                             floor)
    placeholder = PrunedAlphaTable((0.5,), (0,), (0.0,), (0.0,))
    part = PrunedPart(PrunedSpec("trunk", "ap_head", "icnn_head", "mp", placeholder, "selector", figures))
    return write_calibrated(folder, header, part, "pruned", lambda: _calibrate(folder, x_held, y_held, original_macs),
                            dataset, len(y_held), len(images), progress.say)


def alpha_thresholds(hci_codes: np.ndarray, trained_fraction: float) -> list[tuple[float, int, float]]:
    """α → (α, int8 threshold, HCI fraction): the HCI fraction falls linearly from 1 at α = 0 to the
    trained one at α = 0.5 and to 0 at α = 1; each threshold is the held-out score quantile giving it."""
    ordered = np.sort(hci_codes)[::-1]
    n = len(ordered)
    rows = []
    for alpha in ALPHAS:
        target = 1.0 - (1.0 - trained_fraction) * alpha / 0.5 if alpha <= 0.5 else trained_fraction * (1.0 - alpha) / 0.5
        k = int(round(target * n))
        threshold = -128 if k >= n else NEVER if k <= 0 else int(ordered[k - 1])
        rows.append((float(alpha), threshold, float(np.mean(hci_codes >= threshold))))
    return rows


def _calibrate(folder: str, x_held: np.ndarray, y_held: np.ndarray, original_macs: int
               ) -> tuple[PrunedAlphaTable, dict[str, Any]]:
    runtime = PrunedRuntime(load_bundle(folder))
    pre = Preprocessor(runtime.bundle.input, runtime.input_quantization)
    codes, ap_labels, mp_labels, mono = [], [], [], []
    for pixels in x_held:
        image = pre.from_pixels(pixels)
        code, ap_label, mp_label = runtime.scores(image)
        codes.append(code)
        ap_labels.append(ap_label)
        mp_labels.append(mp_label)
        mono.append(runtime.classify_monolithic(image))
    codes_a = np.array(codes)
    ap_ok = np.array(ap_labels) == y_held
    mp_ok = np.array(mp_labels) == y_held
    hci_q = (runtime.selector_segment.outputs["hci"] if runtime.part.pruned.selector else
             runtime.icnn_segment.outputs["probs"]).quantization
    trained = hci_q.smallest_code_at_least(0.5)
    trained = NEVER if trained is None else trained
    trained_fraction = float(np.mean(codes_a >= trained))
    table: dict[str, list] = {"alpha": [], "threshold_q": [], "hci_fraction": [], "accuracy": [], "mean_macs": []}
    for alpha, threshold, fraction in alpha_thresholds(codes_a, trained_fraction):
        hci = codes_a >= threshold
        table["alpha"].append(alpha)
        table["threshold_q"].append(threshold)
        table["hci_fraction"].append(round(fraction, 6))
        table["accuracy"].append(round(float(np.mean(np.where(hci, mp_ok, ap_ok))), 6))
        table["mean_macs"].append(round(float(np.mean(np.where(hci, runtime.mp_macs, runtime.ap_macs)))))
    hci = codes_a >= trained
    calibration = {"monolithic_accuracy": round(float(np.mean(np.array(mono) == y_held)), 6),
                   "acc_ap": round(float(ap_ok.mean()), 6), "acc_mp": round(float(mp_ok.mean()), 6),
                   "acc_system": round(float(np.mean(np.where(hci, mp_ok, ap_ok))), 6),
                   "hci_fraction": round(trained_fraction, 6), "trained_threshold_q": int(trained),
                   "system_macs": round(float(np.mean(np.where(hci, runtime.mp_macs, runtime.ap_macs)))),
                   "original_macs": original_macs}
    return PrunedAlphaTable(*(tuple(table[k]) for k in ("alpha", "threshold_q", "hci_fraction", "accuracy",
                                                         "mean_macs"))), calibration
