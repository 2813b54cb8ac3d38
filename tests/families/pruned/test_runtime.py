"""The pruned family end to end: a real converted bundle, the device runtime, eval, run, bad bundles."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from edge_runtime.registry import load_bundle
from edge_runtime.errors import BundleError
from edge_runtime.registry import open_runtime
from edge_runtime.core.preprocess import Preprocessor
from edge_runtime.families.pruned.runtime import AP, MP, PrunedRuntime


@pytest.fixture(scope="module")
def pruned(pruned_bundle, digits):
    runtime = open_runtime(pruned_bundle)
    pre = Preprocessor(runtime.bundle.input, runtime.input_quantization)
    return runtime, [pre.from_pixels(p) for p in digits.x_test], digits.y_test


def test_the_bundle_says_what_the_device_needs(pruned_bundle):
    bundle = load_bundle(pruned_bundle)
    spec = bundle.part.pruned
    assert bundle.family == "pruned" and spec.selector == "selector"
    assert bundle.monolithic.name == "original"
    figures = spec.figures
    assert figures["phi_mp"] == 0.3 and figures["phi_ap"] in (0.5, 0.8)
    assert [row["phi_ap"] for row in figures["sweep"]] == [0.5, 0.8]
    segments = bundle.segments
    # AP (trunk + its head) and MP are smaller than the original, and the selector is trunk + both heads
    assert segments["trunk"].macs + segments["ap_head"].macs < segments["mp"].macs < bundle.monolithic.macs
    assert segments["selector"].macs == segments["trunk"].macs + segments["icnn_head"].macs + segments["ap_head"].macs
    alphas = [row.alpha for row in spec.alpha_table.rows]
    assert alphas[0] == 0.0 and alphas[-1] == 1.0 and len(alphas) == 21
    fractions = [row.hci_fraction for row in spec.alpha_table.rows]
    assert fractions[0] == 1.0 and fractions[-1] == 0.0 and fractions == sorted(fractions, reverse=True)


def test_selection_goes_to_mp_when_the_selector_says_hci(pruned):
    runtime, images, labels = pruned
    everything_mp = runtime.fixed_plan(MP)
    nothing_mp = runtime.fixed_plan(AP)
    for image in images[:40]:
        code, ap_label, mp_label = runtime.scores(image)
        to_mp = runtime.classify(image, everything_mp)
        to_ap = runtime.classify(image, nothing_mp)
        assert (to_mp.answered_by, to_mp.label, to_mp.macs) == ("mp", mp_label, runtime.mp_macs)
        assert (to_ap.answered_by, to_ap.label, to_ap.macs) == ("ap", ap_label, runtime.ap_macs)
        plan = runtime.trained_plan()
        assert runtime.classify(image, plan).answered_by == ("mp" if code >= plan.threshold_q else "ap")


def test_fused_selector_agrees_with_the_separate_segments(pruned):
    runtime, images, labels = pruned
    plan = runtime.fixed_plan(AP)  # everything answered by AP
    fused = [runtime.classify(image, plan).label for image in images]
    separate = [runtime.classify_by_segments(image, plan).label for image in images]
    assert np.mean(np.array(fused) == np.array(separate)) >= 0.97


def test_alpha_moves_work_from_mp_to_ap(pruned_bundle, pruned):
    _, images, labels = pruned
    runtime = open_runtime(pruned_bundle, floor="none")
    mp_share, macs = [], []
    for alpha in (0.0, 0.25, 0.5, 0.75, 1.0):
        plan = runtime.plan_for_alpha(alpha)
        decisions = [runtime.classify(image, plan) for image in images]
        mp_share.append(np.mean([d.answered_by == "mp" for d in decisions]))
        macs.append(np.mean([d.macs for d in decisions]))
    assert mp_share[-1] == 0.0 and mp_share[0] > 0.0  # α = 1 is AP alone, the cheapest point
    # expected cost falls with α (on the test split a mix may wobble by an input or two)
    assert all(b <= a + 0.01 * runtime.bundle.full_macs for a, b in zip(macs, macs[1:]))
    assert macs[0] > macs[-1]


def test_eval_json_has_table_2_and_the_sweep(pruned_bundle, tmp_path, capsys):
    from edge_runtime.cli.main import main

    png = tmp_path / "fig10.png"
    assert main(["eval", pruned_bundle, "--dataset", "digits", "--limit", "60", "--json", "--plot", str(png)]) == 0
    report = json.loads(capsys.readouterr().out)
    for key in ("acc_original", "phi_mp", "acc_mp", "phi_ap", "ap_mac_reduction", "acc_ap", "acc_system",
                "saving_vs_original", "saving_vs_mp"):
        assert key in report["pruned"]
    assert len(report["rows"]) == 21 and {"alpha", "accuracy", "mac_saving", "latency_saving"} <= set(report["rows"][0])
    assert report["monolithic"]["macs"] > report["rows"][-1]["mean_macs"]
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_run_names_the_route(pruned_bundle, tmp_path, digits, capsys):
    from PIL import Image

    from edge_runtime.cli.main import main

    path = tmp_path / "digit.png"
    Image.fromarray(digits.x_test[0][..., 0], mode="L").save(path)
    assert main(["run", pruned_bundle, str(path), "--alpha", "0", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    table = load_bundle(pruned_bundle).header.alpha_table
    assert record["exit_name"] in ("ap", "mp") and record["desired_accuracy"] == table.points[0].expected_accuracy
    assert main(["run", pruned_bundle, str(path), "--alpha", "1", "--json", "--floor", "none"]) == 0
    assert json.loads(capsys.readouterr().out)["exit_name"] == "ap"  # α = 1 without a floor: AP answers everything
    assert main(["run", pruned_bundle, str(path), "--accuracy", "0.9"]) == 1
    assert "--accuracy applies to multi-exit bundles" in capsys.readouterr().err


def test_a_broken_pruned_manifest_is_one_clear_error(pruned_bundle, tmp_path):
    target = tmp_path / "b"
    shutil.copytree(pruned_bundle, target)
    manifest = json.loads((target / "manifest.json").read_text())
    manifest["pruned"]["icnn_head"] = "nope"
    (target / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="pruned.icnn_head: segment 'nope' is not in segments"):
        load_bundle(str(target))
    manifest["pruned"]["icnn_head"] = "ap_head"  # 10 outputs where the selector must give 2
    (target / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=r"probs must be \[1, 2\]"):
        load_bundle(str(target))


def test_converter_rejects_bad_ratios(tmp_path, capsys):
    from converters.cli.main import main

    for args in (["--ap-ratios", "0.5,1.2"], ["--mild", "0"], ["--max-loss", "2"]):
        assert main(["pruned", "--out", str(tmp_path / "x"), *args]) == 1
        err = capsys.readouterr().err
        assert err.startswith("Error: ") and err.count("\n") == 1
    assert not (tmp_path / "x").exists()


def test_runtime_class(pruned):
    runtime, _, _ = pruned
    assert isinstance(runtime, PrunedRuntime) and runtime.route_names == ("ap", "mp")


@pytest.mark.slow
def test_a_users_keras_model_is_pruned(tmp_path, capsys):
    """--model: the user's own trained CNN (a residual one) goes through the same pipeline."""
    import keras

    from converters.cli.main import main
    from converters.pruned.algorithm import fit
    from edge_runtime.core.datasets import load_digits_dataset

    data = load_digits_dataset()
    keras.utils.set_random_seed(0)
    x = keras.Input((8, 8, 1), name="x")
    a = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="c1")(x)
    b = keras.layers.Conv2D(8, 3, padding="same", name="c2")(a)
    t = keras.layers.ReLU(name="r")(keras.layers.Add(name="add")([a, b]))
    t = keras.layers.MaxPooling2D(2, name="pool")(t)
    t = keras.layers.Flatten(name="flat")(t)
    t = keras.layers.Dense(16, activation="relu", name="fc1")(t)
    model = keras.Model(x, keras.layers.Dense(10, activation="softmax", name="fc2")(t))
    fit(model, data.to_float(data.x_train), data.y_train, 3)
    path = tmp_path / "mine.keras"
    model.save(path)
    out = tmp_path / "bundle"
    assert main(["pruned", "--model", str(path), "--out", str(out), "--mild", "0.25", "--ap-ratios", "0.5",
                 "--retrain-epochs", "1", "--quiet", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["phi_ap"] == 0.5
    bundle = load_bundle(str(out))
    assert bundle.manifest["producer"]["model"] == "mine.keras"
    # the residual pair c1/c2 was pruned as one group: AP keeps 4 of their 8 channels
    assert bundle.segments["trunk"].macs < bundle.monolithic.macs / 2


@pytest.mark.slow
def test_an_aggressive_copy_must_prune_more_than_the_mild_one(tmp_path, capsys):
    """φ_AP at or below φ_MP gives an 'aggressive' copy no cheaper than MP: such ratios are skipped and said,
    and a request with only such ratios is refused before anything trains (MobileNetV2's MP came out at
    φ 0.5 and the sweep spent half its time on φ_AP 0.1–0.5)."""
    from converters.cli.main import main
    from converters.pruned.algorithm import fit, reference_cnn
    from edge_runtime.core.datasets import load_digits_dataset

    data = load_digits_dataset()
    model = reference_cnn((8, 8, 1), 10, 8)
    fit(model, data.to_float(data.x_train), data.y_train, 2)
    path = tmp_path / "mine.keras"
    model.save(path)
    assert main(["pruned", "--model", str(path), "--out", str(tmp_path / "b2"), "--mild", "0.4", "--ap-ratios",
                 "0.2,0.4", "--quiet"]) == 1
    assert "Error: every φ_AP asked (0.2, 0.4) prunes no more than MP (φ_MP = 0.4)" in capsys.readouterr().err
    assert main(["pruned", "--model", str(path), "--out", str(tmp_path / "bundle"), "--mild", "0.4", "--ap-ratios",
                 "0.3,0.4,0.7", "--retrain-epochs", "0", "--json"]) == 0
    captured = capsys.readouterr()
    assert "skipping φ_AP 0.3, 0.4: no more than φ_MP = 0.4" in captured.err
    assert [row["phi_ap"] for row in json.loads(captured.out)["sweep"]] == [0.7]


def test_calibrate_refuses_an_invocation_cost_for_a_pruned_bundle(pruned_bundle, capsys):
    """Only a multi-exit table chooses which exits to invoke; the pruned bundle is left as it was."""
    from pathlib import Path

    from edge_runtime.cli.main import main

    manifest = Path(pruned_bundle) / "manifest.json"
    before = manifest.read_bytes()
    assert main(["calibrate", pruned_bundle, "--dataset", "digits", "--invocation-cost", "1000"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == (f"Error: --invocation-cost 1000: only a multi-exit bundle chooses which exits to invoke; "
                           f"{pruned_bundle} is pruned")
    assert manifest.read_bytes() == before
