"""Tiny Keras models trained on digits the way users train theirs (shared by the converter tests)."""

from __future__ import annotations

from typing import Any

import numpy as np


def digits_split() -> tuple[np.ndarray, np.ndarray]:
    from edge_runtime.core.datasets import load_digits_dataset

    data = load_digits_dataset()
    return data.x_train, data.y_train


def train(model: Any, offset: float, scale: float, epochs: int = 4, seed: int = 0) -> Any:
    """Fit ``model`` on digits' training pixels fed as pixel·scale + offset (logits or softmax out)."""
    import keras

    keras.utils.set_random_seed(seed)
    pixels, labels = digits_split()
    last = model.layers[-1]
    from_logits = getattr(getattr(last, "activation", None), "__name__", "") != "softmax"
    model.compile(optimizer=keras.optimizers.Adam(3e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits), metrics=["accuracy"])
    model.fit(pixels.astype(np.float32) * scale + offset, labels, epochs=epochs, batch_size=32, verbose=0)
    return model
