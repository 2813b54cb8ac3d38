"""Training a multi-exit model with the sum of all exits' cross-entropies (Merkel's combined training)."""

from __future__ import annotations

import keras
import numpy as np

from ..common.progress import Progress
from ..common.training import PixelBatches, Supervisor, accuracy_of, split_validation
from .model import MultiExitModel


def train_multi_exit(model: MultiExitModel, pixels: np.ndarray, y: np.ndarray, scale: float, offset: float,
                     epochs: int, progress: Progress, batch_size: int = 32, learning_rate: float = 2e-3,
                     seed: int = 0) -> dict[str, float]:
    """Fit every exit at once: loss = Σ_l cross-entropy(exit_l), each exit weighted 1.

    Training stops when the mean validation accuracy of the exits (on the last tenth of ``pixels``) has not
    improved for a few epochs, keeping the best weights.

    Args:
        pixels: uint8 images (N, H, W, C), real input = pixel·scale + offset; y: integer labels (N,).

    Returns:
        what happened: epochs run, the best epoch and its validation accuracy.
    """
    keras.utils.set_random_seed(seed)
    net = model.training_model
    n_outputs = len(net.outputs)
    net.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=["sparse_categorical_crossentropy"] * n_outputs)
    x_train, y_train, x_val, y_val = split_validation(pixels, y)

    def validate() -> float:
        return float(np.mean(accuracy_of(lambda x: net(x, training=False), x_val, y_val, scale, offset)))

    supervisor = Supervisor(progress, epochs, validate)
    history = net.fit(PixelBatches(x_train, y_train, scale, offset, batch_size, n_outputs, seed), epochs=epochs,
                      verbose=0, callbacks=[supervisor])
    return {"epochs_run": len(history.epoch), "best_epoch": supervisor.best_epoch,
            "validation_accuracy": round(supervisor.best, 6)}


def float_exit_accuracies(model: MultiExitModel, pixels: np.ndarray, y: np.ndarray, scale: float,
                          offset: float) -> list[float]:
    """Accuracy of each exit of the float model on uint8 ``pixels``."""
    net = model.training_model
    return accuracy_of(lambda x: net(x, training=False), pixels, y, scale, offset)
