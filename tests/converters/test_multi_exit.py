"""edge-convert on user models and datasets; every bad input is a clear error."""

import json
import os

import numpy as np
import pytest

from converters.cli.main import main
from tests.converters.user_models import train

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def residual_model(tmp_path_factory):
    import keras

    x = keras.Input((8, 8, 1), name="image")
    stem = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="stem")(x)
    inner = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="res_conv")(stem)
    added = keras.layers.Add(name="res_add")([stem, inner])
    top = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="top")(added)
    flat = keras.layers.Flatten(name="flat")(top)
    logits = keras.layers.Dense(10, name="logits")(flat)
    model = keras.Model(x, logits)
    train(model, 0.0, 1.0 / 255)  # as a user trains it: pixels 0–1, logits out
    path = str(tmp_path_factory.mktemp("models") / "residual.keras")
    model.save(path)
    return path


def test_user_model_with_exits(residual_model, tmp_path, capsys):
    out = str(tmp_path / "bundle")
    assert main(["multi-exit", "--model", residual_model, "--exits", "stem,res_add", "--dataset", "digits",
                 "--out", out, "--epochs", "2", "--quiet", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert [e["name"] for e in summary["exits"]] == ["exit_1", "exit_2", "exit_3"]
    with open(os.path.join(out, "manifest.json")) as f:
        manifest = json.load(f)
    assert manifest["producer"]["exits_after"] == ["stem", "res_add"]
    from edge_runtime.registry import open_runtime

    runtime = open_runtime(out)
    assert runtime.plan(1.0).invocations == 1


def test_cut_inside_a_residual_block(residual_model, tmp_path, capsys):
    out = str(tmp_path / "bundle")
    assert main(["multi-exit", "--model", residual_model, "--exits", "res_conv", "--dataset", "digits",
                 "--out", out, "--quiet"]) == 1
    err = capsys.readouterr().err
    line = err.strip().splitlines()[-1]
    assert line.startswith("Error: --exits: 'res_conv' is inside a residual branch: Add 'res_add' joins it with 'stem'")
    assert "cut at 'stem' or 'res_add'" in line
    assert not os.path.exists(out)


def test_unknown_exit_layer(residual_model, tmp_path, capsys):
    assert main(["multi-exit", "--model", residual_model, "--exits", "stm", "--dataset", "digits",
                 "--out", str(tmp_path / "b"), "--quiet"]) == 1
    assert "the model has no layer named 'stm'" in capsys.readouterr().err


def test_existing_output_is_refused(tmp_path, capsys):
    out = tmp_path / "exists"
    out.mkdir()
    assert main(["multi-exit", "--out", str(out), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "already exists" in err and "--force" in err


def test_dataset_in_no_known_layout(tmp_path, capsys):
    assert main(["multi-exit", "--dataset", str(tmp_path / "missing"), "--out", str(tmp_path / "b"), "--quiet"]) == 1
    assert "no such file or folder; expected 'digits', a .npz" in capsys.readouterr().err


def test_npz_dataset_and_interrupted_run_leaves_nothing(tmp_path, digits, monkeypatch, capsys):
    path = str(tmp_path / "digits.npz")
    np.savez(path, x_train=digits.x_train[..., 0], y_train=digits.y_train, x_test=digits.x_test[..., 0],
             y_test=digits.y_test)
    import converters.multi_exit.export as export

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(export, "convert_int8", crash)
    out = str(tmp_path / "bundle")
    assert main(["multi-exit", "--dataset", path, "--out", out, "--epochs", "1", "--filters", "4", "--blocks", "1",
                 "--quiet"]) == 130
    assert "Aborted!" in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == ["digits.npz"]  # no bundle, and no log of a failed conversion


def test_the_same_command_makes_the_same_bundle(digits_bundle, tmp_path):
    """Weights are created after the seed is set and kernels are deterministic: a fresh clone's demo bundle is the
    one whose figures the README gives. (The reference network was once built before the seed was set.) The α
    table also depends on what an invocation costs, timed by default: the same given figure gives the same table."""
    from tests.conftest import FIXTURE_INVOCATION_COST, TRAINING_SEED

    out = str(tmp_path / "again")
    code = main(["multi-exit", "--dataset", "digits", "--out", out, "--epochs", "6", "--filters", "8", "--blocks", "3",
                 "--quiet", "--seed", TRAINING_SEED, "--invocation-cost", FIXTURE_INVOCATION_COST])
    assert code == 0
    for name in ("segments.tflite", "monolithic.tflite"):
        with open(os.path.join(digits_bundle, name), "rb") as first, open(os.path.join(out, name), "rb") as second:
            assert first.read() == second.read(), name
    tables = []
    for folder in (digits_bundle, out):
        with open(os.path.join(folder, "manifest.json"), encoding="utf-8") as manifest:
            tables.append(json.load(manifest)["alpha_table"])
    assert tables[0] == tables[1]
