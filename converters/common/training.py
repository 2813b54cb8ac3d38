"""Training at any dataset size: uint8 pixels (held, memory-mapped or decoded on demand) read and scaled
batch by batch through a ``tf.data`` pipeline, epochs that scale with the dataset, early stopping on
validation accuracy, and progress with the time per epoch, images/s and an ETA.
"""

from __future__ import annotations

import math
import time
import weakref
from typing import Any, Callable, Sequence

import keras
import numpy as np

from .progress import Progress

EVAL_BATCH_PIXELS = 256 * 64 * 64  # pixels per evaluation batch: 256 images of 64×64, 37 of 96×96 RGB … at least 8
STEPS_BUDGET = 8000  # optimizer steps the default epochs aim at: 25 epochs on digits, 6 on 50,000 images
VALIDATION_FRACTION = 0.1
PATIENCE = 3


def eval_batch_size(image_shape: Sequence[int], most: int = 256) -> int:
    """Images per batch for evaluating (no gradients): ``most`` small images, fewer large ones, so that a batch's
    activations stay near a training batch's. 256 images of 300×300 once took 4 GB where training took 1.5.
    Small batches cost little through :func:`inference` (graph calls), much through eager ones."""
    pixels = int(np.prod(image_shape))
    return int(max(8, min(most, EVAL_BATCH_PIXELS // max(pixels, 1))))


_INFERENCE: "weakref.WeakKeyDictionary[Any, Any]" = weakref.WeakKeyDictionary()


def inference(model: Any) -> Callable[[Any], Any]:
    """``model(x, training=False)`` as a compiled graph, built once per model and kept while the model lives.

    An eager call of a deep Keras 3 model costs per layer: EfficientNetB0 at 96×96 took 27 ms an image in
    batches of 9 eagerly and 3.5 ms as a graph (4.2 and 2.1 ms in batches of 256).
    """
    import tensorflow as tf

    function = _INFERENCE.get(model)
    if function is None:
        held = weakref.ref(model)  # the function must not keep its model alive: the pruned family makes dozens
        function = _INFERENCE[model] = tf.function(lambda x: held()(x, training=False), reduce_retracing=True)
    return function


def default_epochs(n_train: int, batch_size: int = 32, most: int = 25, least: int = 3) -> int:
    """Epochs for ``n_train`` images: about :data:`STEPS_BUDGET` steps, between ``least`` and ``most``."""
    return int(min(most, max(least, math.ceil(STEPS_BUDGET * batch_size / max(n_train, 1)))))


class PixelBatches(keras.utils.PyDataset):
    """uint8 images turned into float batches on the fly (real = pixel·scale + offset), shuffled each epoch.

    The dataset stays in memory once, as uint8; only one batch at a time exists as float.
    """

    def __init__(self, pixels: np.ndarray, labels: np.ndarray, scale: float, offset: float, batch_size: int = 32,
                 outputs: int = 1, seed: int = 0, shuffle: bool = True) -> None:
        super().__init__()
        self.pixels, self.labels = pixels, labels
        self.scale, self.offset = np.float32(scale), np.float32(offset)
        self.batch_size, self.outputs, self.shuffle = batch_size, outputs, shuffle
        self.rng = np.random.default_rng(seed)
        self.order = np.arange(len(labels))
        self.on_epoch_end()

    def __len__(self) -> int:
        return math.ceil(len(self.labels) / self.batch_size)

    def __getitem__(self, index: int) -> tuple[np.ndarray, Any]:
        rows = self.order[index * self.batch_size:(index + 1) * self.batch_size]
        x = self.pixels[rows].astype(np.float32) * self.scale + self.offset
        y = self.labels[rows]
        return x, (tuple([y] * self.outputs) if self.outputs > 1 else y)

    def on_epoch_end(self) -> None:
        if self.shuffle:
            self.rng.shuffle(self.order)


def pixel_pipeline(pixels: Any, targets: Any, scale: float, offset: float, batch_size: int = 32, seed: int = 0,
                   shuffle: bool = True, weights: np.ndarray | None = None) -> Any:
    """A ``tf.data`` pipeline of (float images, targets[, weights]) batches: row indices, shuffled each epoch,
    batched, their rows read in parallel (from memory, a memory map, or files decoded on demand), scaled to
    real = pixel·scale + offset, prefetched. Only a few batches exist at a time, whatever the dataset's size.

    Args:
        pixels: uint8 (N, H, W, C), an array or :class:`~edge_runtime.core.image_rows.LazyRows`.
        targets: an array of N rows, or a list of them (one per output of the model).
        batch_size: images per batch (the global batch under a distribution strategy).
        weights: a float weight per image (Keras' sample weights), or None.
    """
    import tensorflow as tf

    several = isinstance(targets, (list, tuple))
    columns = [np.asarray(t) for t in (targets if several else [targets])]
    if weights is not None:
        columns.append(np.asarray(weights, dtype=np.float32))
    shape = tuple(pixels.shape[1:])
    n = len(columns[0])

    def read(rows: np.ndarray) -> tuple[np.ndarray, ...]:
        return (pixels[rows], *(c[rows] for c in columns))

    indices = tf.data.Dataset.range(n)
    if shuffle:
        indices = indices.shuffle(n, seed=seed, reshuffle_each_iteration=True)
    kinds = (tf.uint8, *(tf.as_dtype(c.dtype) for c in columns))
    batches = indices.batch(batch_size).map(lambda rows: tf.numpy_function(read, [rows], kinds),
                                            num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    s, o = np.float32(scale), np.float32(offset)

    def to_float(x: Any, *rest: Any) -> tuple[Any, ...]:
        x = tf.cast(tf.ensure_shape(x, (None, *shape)), tf.float32) * s + o
        rest = tuple(tf.ensure_shape(r, (None, *c.shape[1:])) for r, c in zip(rest, columns))
        ys = rest[:len(rest) - (weights is not None)]
        y = tuple(ys) if several else ys[0]
        return (x, y, rest[-1]) if weights is not None else (x, y)

    return batches.map(to_float, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def pipeline_rate(batches: Any, most: int = 30) -> float:
    """Images per second the input pipeline alone delivers (the first ``most`` batches after one warm-up)."""
    iterator = iter(batches)
    next(iterator, None)
    count, started = 0, time.monotonic()
    for _, (x, _) in zip(range(most), iterator):
        count += int(x.shape[0])
    return count / max(time.monotonic() - started, 1e-9)


class Supervisor(keras.callbacks.Callback):
    """Progress per epoch (time, ETA, validation accuracy) and early stopping with the best weights kept.

    Args:
        validate: → the validation accuracy to maximise (called after each epoch).
        patience: epochs without improvement before stopping.
    """

    def __init__(self, progress: Progress, epochs: int, validate: Callable[[], float], patience: int = PATIENCE,
                 what: str = "", images: int = 0) -> None:
        super().__init__()
        self.progress, self.epochs, self.validate, self.patience, self.what = progress, epochs, validate, patience, what
        self.images = images  # per epoch, for images/s
        self.best = -1.0
        self.best_epoch = 0
        self.best_weights: list[np.ndarray] | None = None
        self.started = 0.0
        self.times: list[float] = []

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.started = time.monotonic()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        accuracy = self.validate()
        self.times.append(time.monotonic() - self.started)
        if accuracy > self.best:
            self.best, self.best_epoch = accuracy, epoch + 1
            self.best_weights = self.model.get_weights()
        per = float(np.mean(self.times))
        left = (self.epochs - epoch - 1) * per
        rate = f"  {self.images / self.times[-1]:,.0f} images/s" if self.images else ""
        self.progress.say(f"{self.what}epoch {epoch + 1}/{self.epochs}  loss {(logs or {}).get('loss', math.nan):.3f}  "
                          f"validation accuracy {accuracy:.4f}  {per:.1f} s/epoch{rate}  ETA {left:.0f} s")
        if epoch + 1 - self.best_epoch >= self.patience and epoch + 1 < self.epochs:
            self.progress.say(f"{self.what}validation accuracy has not improved for {self.patience} epochs: stopping "
                              f"(best {self.best:.4f} at epoch {self.best_epoch})")
            self.model.stop_training = True

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.best_weights is not None:
            self.model.set_weights(self.best_weights)


class EpochProgress(keras.callbacks.Callback):
    """One progress line per epoch: loss, seconds per epoch and an ETA (for fits without validation)."""

    def __init__(self, say: Callable[[str], None], epochs: int, what: str = "") -> None:
        super().__init__()
        self.say, self.epochs, self.what = say, epochs, what
        self.times: list[float] = []
        self.started = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.started = time.monotonic()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.times.append(time.monotonic() - self.started)
        per = float(np.mean(self.times))
        self.say(f"{self.what}epoch {epoch + 1}/{self.epochs}  loss {(logs or {}).get('loss', math.nan):.3f}  "
                 f"{per:.1f} s/epoch  ETA {(self.epochs - epoch - 1) * per:.0f} s")


def split_validation(pixels: np.ndarray, labels: np.ndarray, fraction: float = VALIDATION_FRACTION
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(train pixels, labels, validation pixels, labels): the last ``fraction`` of an already shuffled split.

    Early stopping uses this slice of the training data, so the converter's held-out split stays unseen
    until it calibrates quantization and fits the α table.
    """
    n_val = max(1, int(round(len(labels) * fraction)))
    return pixels[:-n_val], labels[:-n_val], pixels[-n_val:], labels[-n_val:]


def accuracy_of(predict: Callable[[np.ndarray], Sequence[np.ndarray] | np.ndarray], pixels: np.ndarray,
                labels: np.ndarray, scale: float, offset: float) -> list[float]:
    """Accuracy of each output of ``predict`` on uint8 ``pixels``, batch by batch."""
    size = eval_batch_size(pixels.shape[1:])
    batches = PixelBatches(pixels, labels, scale, offset, batch_size=size, shuffle=False)
    correct: list[int] = []
    for i in range(len(batches)):
        x, _ = batches[i]
        outputs = predict(x)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        rows = batches.order[i * size:(i + 1) * size]
        hits = [int(np.sum(np.argmax(np.asarray(o), axis=-1) == labels[rows])) for o in outputs]
        correct = hits if not correct else [a + b for a, b in zip(correct, hits)]
    return [c / len(labels) for c in correct]


def recalibrate_batch_norm(model: keras.Model, x: np.ndarray, seed: int, batches: int = 100,
                           batch_size: int = 64) -> None:
    """Re-estimate every BatchNormalization layer's moving mean and variance on ``batches`` batches of ``x``
    (a running average with momentum 0.9, so the last few dozen batches count); weights are unchanged."""
    layers = [layer for layer in _all_layers(model) if isinstance(layer, keras.layers.BatchNormalization)]
    if not layers:
        return
    import tensorflow as tf

    momenta = [layer.momentum for layer in layers]
    rng = np.random.default_rng(seed)
    # one graph for the 100 calls: eagerly, MobileNetV3Small at 64×64 took 20 s here, a graph 3 s
    step = tf.function(lambda batch: model(batch, training=True), reduce_retracing=True)
    try:
        for layer in layers:
            layer.momentum = 0.9
        for _ in range(batches):
            rows = rng.choice(len(x), size=min(batch_size, len(x)), replace=False)
            step(x[rows])
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum


def _all_layers(model: Any) -> list[Any]:
    """The layers of ``model`` and of the models nested in it, each once."""
    found: dict[int, Any] = {}
    for layer in getattr(model, "layers", ()):
        found.setdefault(id(layer), layer)
        for inner in _all_layers(layer):
            found.setdefault(id(inner), inner)
    return list(found.values())
