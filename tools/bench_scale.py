"""Conversion at a real dataset size: edge-convert's default multi-exit command on 60,000 digits drawn at
28×28 (tools.make_dataset), timed, beside a plain Keras CNN of the same backbone trained the usual way.

    python -m tools.bench_scale [--colour] [--json]

Prints: conversion wall time, epochs run, the bundle's monolithic int8 and α = 0 test accuracy and MACs,
and the plain CNN's test accuracy (float, same backbone without exits, Keras fit with the same epochs).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

from edge_runtime.cli.demo import default_workdir
from edge_runtime.core.datasets import load_npz_dataset
from edge_runtime.registry import load_bundle, open_runtime
from edge_runtime.cli.common import load_test_split
from edge_runtime.cli.arg_types import doc_summary
from edge_runtime.core.timing import cpu_model


def plain_cnn_accuracy(path: str, epochs: int, seed: int = 0) -> tuple[float, int, float]:
    """(test accuracy, MACs, training seconds) of the scaled reference backbone trained alone with Keras."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    from converters.common.macs import model_cost
    from converters.multi_exit.model import reference_backbone

    data = load_npz_dataset(path)
    keras.utils.set_random_seed(seed)
    model, _ = reference_backbone(data.image_shape, len(data.labels))
    model.compile(optimizer=keras.optimizers.Adam(2e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    start = time.monotonic()
    model.fit(data.to_float(data.x_train), data.y_train, epochs=epochs, batch_size=32, verbose=0)
    seconds = time.monotonic() - start
    predicted = np.argmax(model.predict(data.to_float(data.x_test), verbose=0, batch_size=256), axis=-1)
    return float(np.mean(predicted == data.y_test)), model_cost(model).macs, seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=doc_summary(__doc__))
    parser.add_argument("--colour", action="store_true", help="32×32 colour images instead of 28×28 grey")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    folder = os.path.join(os.path.dirname(default_workdir()), "scale")
    os.makedirs(folder, exist_ok=True)
    name = "digits32rgb" if args.colour else "digits28"
    dataset = os.path.join(folder, f"{name}.npz")
    if not os.path.exists(dataset):
        subprocess.run([sys.executable, "-m", "tools.make_dataset", "--out", dataset,
                        *(["--size", "32", "--colour"] if args.colour else [])], check=True)
    bundle = os.path.join(folder, f"{name}-multi-exit")
    start = time.monotonic()
    subprocess.run([sys.executable, "-m", "converters", "multi-exit", "--dataset", dataset, "--out", bundle, "--force"],
                   check=True)
    convert_s = time.monotonic() - start
    producer = load_bundle(bundle).header.producer
    runtime = open_runtime(bundle)
    images, labels = load_test_split(dataset, runtime)
    mono = float(np.mean([runtime.classify_monolithic(im) == y for im, y in zip(images, labels)]))
    decisions = [runtime.classify(im, runtime.plan_for_alpha(0.0)) for im in images]
    alpha0 = float(np.mean([d.label == y for d, y in zip(decisions, labels)]))
    alpha0_macs = float(np.mean([d.macs for d in decisions]))
    epochs = producer["training"]["epochs_run"]
    plain, plain_macs, plain_s = plain_cnn_accuracy(dataset, epochs)
    report = {"dataset": dataset, "train_images": int(len(load_npz_dataset(dataset).y_train)),
              "convert_seconds": round(convert_s, 1), "epochs_run": epochs,
              "monolithic_int8_accuracy": mono, "monolithic_macs": runtime.bundle.full_macs,
              "alpha_0_accuracy": alpha0, "alpha_0_mean_macs": alpha0_macs,
              "plain_cnn_float_accuracy": plain, "plain_cnn_macs": plain_macs, "plain_cnn_train_seconds": round(plain_s, 1)}
    if args.json:
        print(json.dumps({**report, "cpu": cpu_model()}))
        return 0
    print(f"CPU: {cpu_model()}")
    print(f"{report['train_images']:,d} training images ({name}): edge-convert multi-exit took {convert_s:.0f} s "
          f"({epochs} epochs)")
    print(f"  bundle: monolithic int8 {mono:.4f} at {runtime.bundle.full_macs:,d} MACs; α = 0 {alpha0:.4f} at "
          f"{alpha0_macs:,.0f} MACs")
    print(f"  plain Keras CNN, same backbone, {epochs} epochs ({plain_s:.0f} s): {plain:.4f} (float) at "
          f"{plain_macs:,d} MACs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
