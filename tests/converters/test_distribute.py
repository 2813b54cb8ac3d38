"""--strategy and streamed datasets through edge-convert, as users type them."""

import json
import os
import subprocess
import sys

import numpy as np
from PIL import Image

from converters.cli.main import main
from edge_runtime.registry import load_bundle
from tools.bench_strategies import run_workers

TINY = ["--epochs", "2", "--filters", "4", "--blocks", "2", "--quiet", "--json"]


def _convert(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "converters", *args], capture_output=True, text=True, timeout=900)


def test_multiworker_without_tf_config_is_refused_in_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert main(["multi-exit", "--out", str(tmp_path / "b"), "--strategy", "multiworker"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Error: --strategy multiworker: TF_CONFIG is not set") and err.count("\n") == 1
    assert main(["multi-exit", "--out", str(tmp_path / "b"), "--cpu-devices", "2"]) == 1
    assert "with --strategy mirrored" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "b")


def test_mirrored_over_two_logical_cpus_writes_a_bundle(tmp_path):
    done = _convert("multi-exit", "--out", str(tmp_path / "b"), "--strategy", "mirrored", "--cpu-devices", "2", *TINY)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert len(summary["exits"]) == 3 and summary["exits"][-1]["accuracy"] > 0.5  # chance is 0.1
    assert load_bundle(str(tmp_path / "b")).family == "multi_exit"


def test_two_workers_on_localhost_write_one_bundle(tmp_path):
    out = str(tmp_path / "b")
    chief, other = run_workers(["multi-exit", *TINY], out, timeout=900)
    assert chief.returncode == 0 and other.returncode == 0, chief.stderr[-2000:] + other.stderr[-2000:]
    summary = json.loads(chief.stdout)
    assert summary["exits"][-1]["accuracy"] > 0.5 and other.stdout == ""
    assert load_bundle(out).family == "multi_exit" and not os.path.exists(out + ".worker-1")


def test_a_streamed_folder_converts_and_eval_reads_the_same_test_split(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "photos"
    for label in range(3):
        (folder / f"c{label}").mkdir(parents=True)
        for i in range(40):
            pixels = rng.integers(0, 60, (12, 12, 3), dtype=np.uint8)
            pixels[2:8, 2:8, label] = 230  # one colour per class
            Image.fromarray(pixels, "RGB").save(folder / f"c{label}" / f"{i}.png")
    out = str(tmp_path / "b")
    done = _convert("multi-exit", "--dataset", str(folder), "--stream", "--out", out, "--epochs", "3", "--json")
    assert done.returncode == 0, done.stderr
    assert "read batch by batch" in done.stderr
    ev = subprocess.run([sys.executable, "-m", "edge_runtime", "eval", out, "--dataset", str(folder), "--json",
                         "--points", "2"], capture_output=True, text=True, timeout=600)
    assert ev.returncode == 0, ev.stderr
    report = json.loads(ev.stdout)
    assert report["test_samples"] == 24  # 20% of each class of 40
    assert report["rows"][0]["accuracy"] > 0.6


PRUNED = ["--epochs", "3", "--retrain-epochs", "1", "--ap-ratios", "0.7", "--mild", "0.3", "--filters", "8"]


def test_the_pruned_family_trains_on_a_streamed_dataset(tmp_path):
    from edge_runtime.core.datasets import load_digits_dataset

    digits = load_digits_dataset()
    path = str(tmp_path / "digits.npz")
    np.savez(path, x_train=digits.x_train, y_train=digits.y_train, x_test=digits.x_test, y_test=digits.y_test)
    out = str(tmp_path / "b")
    done = _convert("pruned", "--dataset", path, "--stream", "--out", out, *PRUNED)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "read batch by batch" in done.stderr
    assert load_bundle(out).family == "pruned"


def test_fit_reads_streamed_rows_batch_by_batch_for_several_outputs_and_class_weights():
    """What the gated family's fit gets for a streamed dataset: rows scaled when read, three targets (labels and
    two dummies), and the pruned family's class weights."""
    import keras

    from converters.common.distribute import fit, predict
    from edge_runtime.core.image_rows import ArrayRows, FloatRows

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 256)
    pixels = np.where(labels[:, None, None, None] == 1, 200, 30).astype(np.uint8) * np.ones((1, 4, 4, 1), np.uint8)
    rows = FloatRows(ArrayRows(pixels), 1 / 255, 0.0)
    x = keras.Input((4, 4, 1))
    t = keras.layers.Flatten()(x)
    probs = keras.layers.Dense(2, activation="softmax")(t)
    extra = keras.layers.Dense(3)(t)
    model = keras.Model(x, [probs, extra, extra])
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss=["sparse_categorical_crossentropy", "mse", "mse"])
    dummy = np.zeros((256, 3), np.float32)
    history = fit(model, rows, [labels, dummy, dummy], epochs=8, class_weight={0: 1.0, 1: 2.0})
    assert len(history.epoch) == 8
    predicted = np.argmax(predict(model, rows)[0], axis=-1)
    assert np.mean(predicted == labels) > 0.95


def test_inference_is_built_once_per_model_and_does_not_keep_it_alive():
    import gc
    import weakref

    import keras

    from converters.common.training import inference

    x = keras.Input((3,))
    model = keras.Model(x, keras.layers.Dense(2)(x))
    call = inference(model)
    assert inference(model) is call and np.allclose(np.asarray(call(np.ones((4, 3), np.float32))),
                                                   np.asarray(model(np.ones((4, 3), np.float32))))
    gone = weakref.ref(model)
    del model, call
    gc.collect()
    assert gone() is None


def test_arrays_for_a_model_with_several_inputs_become_one_pipeline():
    """The multi-worker fit of heads on a frozen backbone's features: one array per exit, each of its own shape
    (a list of them was read as one non-rectangular tensor)."""
    from converters.common.distribute import _array_dataset

    features = [np.ones((10, 4), np.float32), np.ones((10, 2, 2, 3), np.float32)]
    labels = np.arange(10) % 2
    data = _array_dataset(features, [labels, labels], 4, True, {0: 1.0, 1: 3.0}, seed=0)
    x, y, w = next(iter(data))
    assert [tuple(t.shape) for t in x] == [(4, 4), (4, 2, 2, 3)] and len(y) == 2
    assert set(np.asarray(w).tolist()) <= {1.0, 3.0}
