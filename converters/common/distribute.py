"""Where training runs: ``tf.distribute`` strategies, chosen by ``--strategy``, and the fit every family calls.

* ``default``: TensorFlow's default device (a GPU when one is visible, else the CPU), as before;
* ``mirrored``: ``MirroredStrategy`` over every local GPU, or over ``--cpu-devices N`` logical CPUs
  (for testing the distributed path on a machine without GPUs);
* ``multiworker``: ``MultiWorkerMirroredStrategy``, workers named by ``TF_CONFIG``; every worker runs the
  same command, and the chief (task ``chief``, or ``worker`` 0) alone writes the bundle.

The whole conversion runs inside the strategy's scope, so every model and optimizer a family builds is
mirrored. Batches are ``per-replica batch × replicas``, as TensorFlow's guides scale them. Quantization
and export run the LiteRT converter and interpreter, on the CPU, on the chief.

Keras 3's ``Model.fit`` fails under ``MultiWorkerMirroredStrategy`` (keras-team/keras#20585: it reduces
per-replica batches across workers before its first step); :func:`fit` then runs the same ``train_step``
in a loop of our own with ``strategy.run``, calling the same callbacks.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any, Callable, Sequence

import numpy as np

from edge_runtime.core.image_rows import FloatRows

from .errors import ConvertError

STRATEGIES = ("default", "mirrored", "multiworker")


def make_strategy(name: str, cpu_devices: int | None, say: Callable[[str], None]) -> Any:
    """The ``tf.distribute`` strategy called ``name``; must run before TensorFlow executes anything.

    Raises:
        ConvertError: an unknown name, ``--cpu-devices`` without ``mirrored``, or ``multiworker`` without
            a usable ``TF_CONFIG``.
    """
    import tensorflow as tf

    if name not in STRATEGIES:
        raise ConvertError(f"--strategy {name}: expected one of {', '.join(STRATEGIES)}")
    if cpu_devices is not None and name != "mirrored":
        raise ConvertError(f"--cpu-devices {cpu_devices}: only --strategy mirrored splits the CPU into devices")
    if name == "default":
        strategy = tf.distribute.get_strategy()
    elif name == "mirrored":
        if cpu_devices:
            cpus = tf.config.list_physical_devices("CPU")
            tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * cpu_devices)
            devices = [d.name for d in tf.config.list_logical_devices("CPU")]
        else:
            devices = [d.name for d in tf.config.list_logical_devices("GPU")] or None
        strategy = tf.distribute.MirroredStrategy(devices)
    else:
        check_tf_config()
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    say(f"training on {describe_devices(strategy)}")
    return strategy


def check_tf_config() -> None:
    """Refuse a missing or malformed ``TF_CONFIG`` before any long work."""
    text = os.environ.get("TF_CONFIG")
    if not text:
        raise ConvertError("--strategy multiworker: TF_CONFIG is not set; expected e.g. "
                           '{"cluster": {"worker": ["host1:2222", "host2:2222"]}, "task": {"type": "worker", '
                           '"index": 0}} in each worker\'s environment')
    try:
        config = json.loads(text)
        workers = config["cluster"]["worker"]
        task = config["task"]
        if not isinstance(workers, list) or task["type"] not in config["cluster"]:
            raise ValueError("task type is not in the cluster")
    except (ValueError, KeyError, TypeError) as exc:
        raise ConvertError(f"TF_CONFIG: {exc}; expected JSON with cluster.worker (a list of host:port) and "
                           "task.type and task.index") from exc


def describe_devices(strategy: Any) -> str:
    """Which devices train, said to users: ``2 replicas: /CPU:0, /CPU:1`` or ``/GPU:0``."""
    import tensorflow as tf

    if not tf.distribute.has_strategy() and strategy is tf.distribute.get_strategy() and strategy.num_replicas_in_sync == 1 \
            and not isinstance(strategy, (tf.distribute.MirroredStrategy, tf.distribute.MultiWorkerMirroredStrategy)):
        gpus = tf.config.list_logical_devices("GPU")
        return gpus[0].name + " (GPU)" if gpus else "the CPU (no GPU visible)"
    devices = list(strategy.extended.worker_devices)
    text = f"{strategy.num_replicas_in_sync} replica(s): {', '.join(devices)}"
    if is_multiworker(strategy):
        resolver = strategy.cluster_resolver
        text += f" (worker {resolver.task_type} {resolver.task_id} of {len(resolver.cluster_spec().as_dict()['worker'])})"
    return text


def current() -> Any:
    import tensorflow as tf

    return tf.distribute.get_strategy()


def replicas() -> int:
    """Replicas training in step: the factor batches are scaled by."""
    return int(current().num_replicas_in_sync)


def is_multiworker(strategy: Any = None) -> bool:
    import tensorflow as tf

    return isinstance(strategy or current(), tf.distribute.MultiWorkerMirroredStrategy)


def is_chief(strategy: Any = None) -> bool:
    """Whether this process writes the bundle: always, except on a multi-worker run's other workers."""
    strategy = strategy or current()
    if not is_multiworker(strategy):
        return True
    resolver = strategy.cluster_resolver
    return resolver.task_type == "chief" or (resolver.task_type == "worker" and resolver.task_id == 0
                                             and "chief" not in resolver.cluster_spec().as_dict())


def wait_for_workers() -> None:
    """On a multi-worker run, return once every worker has called this: the others wait here for the chief's
    export, so no worker leaves while another still runs (TensorFlow then reports the one gone as unhealthy
    in the others' output). Elsewhere, return at once."""
    import tensorflow as tf

    strategy = current()
    if not is_multiworker(strategy):
        return

    @tf.function
    def everyone() -> Any:
        return strategy.reduce("SUM", strategy.run(lambda: tf.constant(1.0)), axis=None)

    everyone()


class History:
    """What :func:`fit` ran: ``epoch`` lists the epochs, as Keras' History does."""

    def __init__(self) -> None:
        self.epoch: list[int] = []
        self.history: dict[str, list[float]] = {}


def fit(model: Any, x: Any, y: Any = None, *, epochs: int, batch_size: int = 32, shuffle: bool = True,
        class_weight: dict[int, float] | None = None, callbacks: Sequence[Any] = (), seed: int = 0) -> Any:
    """``model.fit`` (compiled already) on arrays ``x, y`` (batches of ``batch_size`` per replica) or a
    ``tf.data.Dataset`` ``x`` of global batches, under the current strategy.

    Returns:
        Keras' History, or an object with the same ``epoch`` and ``history``.
    """
    import tensorflow as tf

    global_batch = batch_size * replicas()
    if isinstance(x, FloatRows):  # a streamed dataset: read batch by batch through tf.data
        from .training import pixel_pipeline

        x = pixel_pipeline(x.pixels, y, float(x.scale), float(x.offset), global_batch, seed, shuffle,
                           _sample_weights(y, class_weight))
    if not is_multiworker():
        if isinstance(x, tf.data.Dataset):
            return model.fit(x, epochs=epochs, verbose=0, shuffle=False, callbacks=list(callbacks))  # shuffled already
        return model.fit(x, y, epochs=epochs, batch_size=global_batch, verbose=0, shuffle=shuffle,
                         class_weight=class_weight, callbacks=list(callbacks))
    if not isinstance(x, tf.data.Dataset):
        x = _array_dataset(x, y, global_batch, shuffle, class_weight, seed)
    return _multiworker_fit(model, x, epochs, callbacks)


def _array_dataset(x: Any, y: Any, global_batch: int, shuffle: bool, class_weight: dict[int, float] | None,
                   seed: int) -> Any:
    """Arrays as a tf.data pipeline of global batches; ``x`` and ``y`` may each be a list of arrays (a model with
    several inputs or outputs: tf.data takes a tuple of them, a list would be read as one tensor)."""
    import tensorflow as tf

    def several(v: Any) -> Any:
        return tuple(v) if isinstance(v, (list, tuple)) else v

    parts: tuple = (several(x), several(y))
    weights = _sample_weights(y, class_weight)
    if weights is not None:
        parts = parts + (weights,)
    data = tf.data.Dataset.from_tensor_slices(parts)
    if shuffle:
        data = data.shuffle(len(x[0] if isinstance(x, (list, tuple)) else x), seed=seed, reshuffle_each_iteration=True)
    return data.batch(global_batch).prefetch(tf.data.AUTOTUNE)


def _sample_weights(y: Any, class_weight: dict[int, float] | None) -> np.ndarray | None:
    """Keras' ``class_weight`` as a weight per image (of the first target's class), for a tf.data pipeline."""
    if not class_weight:
        return None
    first = y[0] if isinstance(y, (list, tuple)) else y
    return np.array([class_weight.get(int(label), 1.0) for label in first], dtype=np.float32)


def _multiworker_fit(model: Any, data: Any, epochs: int, callbacks: Sequence[Any]) -> History:
    import keras
    import tensorflow as tf

    strategy = current()
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    data = data.with_options(options)
    with strategy.scope():
        model._symbolic_build(data_batch=next(iter(data)))  # builds optimizer and metric variables, mirrored
    batches = strategy.experimental_distribute_dataset(data)

    @tf.function
    def step(batch: Any) -> Any:
        logs = strategy.run(model.train_step, args=(batch,))
        return strategy.reduce("MEAN", logs["loss"], axis=None)

    history = History()
    callback_list = keras.callbacks.CallbackList(list(callbacks), model=model)
    model.stop_training = False
    callback_list.on_train_begin()
    for epoch in range(epochs):
        callback_list.on_epoch_begin(epoch)
        started, losses = time.monotonic(), []
        for batch in batches:
            losses.append(float(step(batch)))
        logs = {"loss": float(np.mean(losses)) if losses else float("nan"), "seconds": time.monotonic() - started}
        history.epoch.append(epoch)
        history.history.setdefault("loss", []).append(logs["loss"])
        callback_list.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    callback_list.on_train_end()
    return history


def predict(model: Any, x: np.ndarray, batch_size: int | None = None) -> Any:
    """The model's outputs on ``x``, batch by batch, called directly (not ``Model.predict``, which a
    multi-worker strategy would split across workers): an array, or a list for several outputs.
    ``batch_size`` defaults to 256, fewer for large images (:func:`.training.eval_batch_size`)."""
    from .training import eval_batch_size, inference

    if batch_size is None:
        batch_size = eval_batch_size(x.shape[1:]) if np.ndim(x) == 4 else 256
    call = inference(model)
    parts: list[list[np.ndarray]] = []
    for start in range(0, len(x), batch_size):
        out = call(x[start:start + batch_size])
        parts.append([np.asarray(o) for o in (out if isinstance(out, (list, tuple)) else [out])])
    if not parts:
        out = model(x[:1], training=False)
        shapes = [np.asarray(o).shape[1:] for o in (out if isinstance(out, (list, tuple)) else [out])]
        return [np.empty((0, *s), np.float32) for s in shapes] if len(shapes) > 1 else np.empty((0, *shapes[0]))
    joined = [np.concatenate([p[k] for p in parts]) for k in range(len(parts[0]))]
    return joined if len(joined) > 1 else joined[0]
