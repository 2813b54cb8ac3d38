"""Training a multi-exit model with the sum of all exits' cross-entropies (Merkel's combined training).

With a frozen backbone (exits attached to a user's trained model) each head's input is a fixed function of
the image, so the backbone runs once over the training images and the heads' dense layers train on what
their pooling keeps: one forward pass of the backbone instead of one per epoch, the same summed loss.
"""

from __future__ import annotations

import math

import keras
import numpy as np

from ..common import distribute
from ..common.progress import Progress
from ..common.training import (PixelBatches, Supervisor, accuracy_of, eval_batch_size, inference, pipeline_rate,
                               pixel_pipeline, split_validation)
from .model import MultiExitModel


def train_multi_exit(model: MultiExitModel, pixels: np.ndarray, y: np.ndarray, scale: float, offset: float,
                     epochs: int, progress: Progress, batch_size: int = 32, learning_rate: float = 2e-3,
                     seed: int = 0, frozen_backbone: bool = False) -> dict[str, float]:
    """Fit every exit at once: loss = Σ_l cross-entropy(exit_l), each exit weighted 1.

    Training stops when the mean validation accuracy of the exits (on the last tenth of ``pixels``) has not
    improved for a few epochs, keeping the best weights. With ``frozen_backbone`` only the heads train, on
    features computed once (see the module docstring).

    Args:
        pixels: uint8 images (N, H, W, C), real input = pixel·scale + offset; y: integer labels (N,).

    Returns:
        what happened: epochs run, the best epoch and its validation accuracy.
    """
    keras.utils.set_random_seed(seed)
    x_train, y_train, x_val, y_val = split_validation(pixels, y)
    if frozen_backbone:
        return _train_heads(model, x_train, y_train, x_val, y_val, scale, offset, epochs, progress, batch_size,
                            learning_rate, seed)
    net = model.training_model
    n_outputs = len(net.outputs)
    net.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=["sparse_categorical_crossentropy"] * n_outputs)

    def validate() -> float:
        return float(np.mean(accuracy_of(inference(net), x_val, y_val, scale, offset)))

    targets = [y_train] * n_outputs if n_outputs > 1 else y_train
    batches = pixel_pipeline(x_train, targets, scale, offset, batch_size * distribute.replicas(), seed)
    progress.say(f"input pipeline: {pipeline_rate(batches):,.0f} images/s (reading and scaling alone; the epochs' "
                 "images/s below include training: when they are close, reading bounds the speed)")
    supervisor = Supervisor(progress, epochs, validate, images=len(y_train))
    history = distribute.fit(net, batches, epochs=epochs, callbacks=[supervisor])
    return _report(len(history.epoch), supervisor)


def _report(epochs_run: int, supervisor: Supervisor) -> dict[str, float]:
    return {"epochs_run": epochs_run, "best_epoch": supervisor.best_epoch,
            "validation_accuracy": round(supervisor.best, 6)}


def _train_heads(model: MultiExitModel, x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray,
                 y_val: np.ndarray, scale: float, offset: float, epochs: int, progress: Progress, batch_size: int,
                 learning_rate: float, seed: int) -> dict[str, float]:
    """The heads' dense layers trained on the backbone's pooled features, computed once."""
    pooled, dense = _split_heads(model)
    extractor = keras.Model(model.training_model.input, [p(t) for p, t in zip(pooled, model.cut_tensors)])
    progress.say(f"computing the backbone's features at {len(pooled)} exits for {len(y_train) + len(y_val):,d} images "
                 "(once: the backbone is frozen)")
    train_features = _features(extractor, x_train, scale, offset, progress, "training")
    val_features = _features(extractor, x_val, scale, offset, progress, "validation")
    inputs = [keras.Input(f.shape[1:], name=f"pooled_{i}") for i, f in enumerate(train_features)]
    heads = keras.Model(inputs, [d(i) for d, i in zip(dense, inputs)], name="exit_heads")
    heads.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss=["sparse_categorical_crossentropy"] * len(dense))

    def validate() -> float:
        outputs = heads(val_features, training=False)
        return float(np.mean([np.mean(np.argmax(np.asarray(o), axis=-1) == y_val) for o in outputs]))

    supervisor = Supervisor(progress, epochs, validate)
    history = distribute.fit(heads, train_features, [y_train] * len(dense), batch_size=batch_size, epochs=epochs,
                             callbacks=[supervisor], seed=seed)
    return _report(len(history.epoch), supervisor)


def _split_heads(model: MultiExitModel) -> tuple[list[keras.Model], list[keras.layers.Layer]]:
    """Each head as (what its pooling and flattening keep, its dense layer)."""
    pooled, dense = [], []
    for head in model.heads:
        last = head.layers[-1]
        pooled.append(keras.Model(head.input, last.input, name=f"{head.name}_pooled"))
        dense.append(last)
    return pooled, dense


def _features(extractor: keras.Model, pixels: np.ndarray, scale: float, offset: float, progress: Progress,
              split: str) -> list[np.ndarray]:
    size = eval_batch_size(pixels.shape[1:], most=128)
    batches = PixelBatches(pixels, np.zeros(len(pixels), np.int64), scale, offset, size, shuffle=False)
    call = inference(extractor)
    parts: list[list[np.ndarray]] = []
    report_every = max(1, math.ceil(len(batches) / 10))
    for i in range(len(batches)):
        x, _ = batches[i]
        outputs = call(x)
        parts.append([np.asarray(o) for o in (outputs if isinstance(outputs, (list, tuple)) else [outputs])])
        if len(batches) > 20 and (i + 1) % report_every == 0:
            progress.say(f"  features: {min(len(pixels), (i + 1) * size):,d} of {len(pixels):,d} {split} images")
    return [np.concatenate([p[k] for p in parts]) for k in range(len(parts[0]))]


def float_exit_accuracies(model: MultiExitModel, pixels: np.ndarray, y: np.ndarray, scale: float,
                          offset: float) -> list[float]:
    """Accuracy of each exit of the float model on uint8 ``pixels``."""
    net = model.training_model
    return accuracy_of(inference(net), pixels, y, scale, offset)
