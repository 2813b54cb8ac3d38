"""Training a multi-exit model with the sum of all exits' cross-entropies (Merkel's combined training)."""

from __future__ import annotations

import keras
import numpy as np

from .model import MultiExitModel
from ..common.progress import Progress


class _EpochProgress(keras.callbacks.Callback):
    def __init__(self, progress: Progress, epochs: int, exit_names: list[str]) -> None:
        super().__init__()
        self.progress = progress
        self.epochs = epochs
        self.exit_names = exit_names

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        accs = [logs.get(k) for k in sorted(logs) if k.endswith("accuracy") and not k.startswith("val_")]
        shown = " ".join(f"{a:.3f}" for a in accs if a is not None)
        self.progress.say(f"epoch {epoch + 1}/{self.epochs}  loss {logs.get('loss', float('nan')):.3f}  "
                          f"exit accuracies {shown}")


def train_multi_exit(model: MultiExitModel, x: np.ndarray, y: np.ndarray, epochs: int, progress: Progress,
                     batch_size: int = 32, learning_rate: float = 2e-3, seed: int = 0) -> None:
    """Fit every exit at once: loss = Σ_l cross-entropy(exit_l), each exit weighted 1.

    Args:
        x: float inputs (N, H, W, C); y: integer labels (N,).
    """
    keras.utils.set_random_seed(seed)
    n_outputs = len(model.training_model.outputs)
    model.training_model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=["sparse_categorical_crossentropy"] * n_outputs,
        metrics=[["accuracy"]] * n_outputs,
    )
    model.training_model.fit(x, [y] * n_outputs, epochs=epochs, batch_size=batch_size, verbose=0, shuffle=True,
                             callbacks=[_EpochProgress(progress, epochs, model.exit_names)])


def float_exit_accuracies(model: MultiExitModel, x: np.ndarray, y: np.ndarray) -> list[float]:
    """Accuracy of each exit of the float model on (x, y)."""
    outputs = model.training_model.predict(x, verbose=0, batch_size=256)
    if not isinstance(outputs, list):
        outputs = [outputs]
    return [float(np.mean(np.argmax(o, axis=-1) == y)) for o in outputs]
