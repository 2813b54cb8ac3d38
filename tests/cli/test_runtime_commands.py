"""edge-runtime's commands, called in-process as a user would call them."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from edge_runtime.cli.main import main

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pngs(tmp_path_factory, digits):
    folder = tmp_path_factory.mktemp("pngs")
    paths = []
    for i in range(4):
        path = str(folder / f"digit{i}_{digits.y_test[i]}.png")
        Image.fromarray(digits.x_test[i][..., 0], mode="L").save(path)
        paths.append(path)
    big = str(folder / "big_rgb.png")
    Image.fromarray(np.repeat(np.kron(digits.x_test[0][..., 0], np.ones((4, 4), np.uint8))[..., None], 3, axis=2)).save(big)
    not_image = str(folder / "notes.png")
    with open(not_image, "w") as f:
        f.write("this is text")
    return paths, big, not_image


def test_run_json_lines(digits_bundle, pngs, capsys):
    paths, _, _ = pngs
    assert main(["run", digits_bundle, *paths, "--alpha", "0.9", "--json"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == 4
    for record in records:
        assert {"image", "label", "confidence", "exit", "macs", "latency_us", "alpha", "desired_accuracy"} <= set(record)
        assert 0 <= record["exit"] < 4 and record["macs"] > 0


def test_run_text_and_accuracy_option(digits_bundle, pngs, capsys):
    paths, _, _ = pngs
    assert main(["run", digits_bundle, paths[0], "--accuracy", "0.5"]) == 0
    captured = capsys.readouterr()
    assert paths[0] in captured.out and "MACs" in captured.out
    assert captured.err.startswith("# accuracy 0.5: α = ") and "→ expected accuracy" in captured.err.splitlines()[0]


def test_run_says_when_no_operating_point_reaches_the_accuracy_asked(digits_bundle, pngs, capsys):
    paths, _, _ = pngs
    assert main(["run", digits_bundle, paths[0], "--accuracy", "1", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["alpha"] == 0.0 and record["desired_accuracy"] < 1.0  # the table's most accurate point
    assert main(["run", digits_bundle, paths[0], "--accuracy", "1"]) == 0
    assert "no operating point is expected to reach it" in capsys.readouterr().err
    assert main(["run", digits_bundle, paths[0], "--accuracy", "0.9", "--rule", "merkel"]) == 0
    assert capsys.readouterr().err.startswith("# desired accuracy 0.9 (eq. 10)")


def test_run_resizes_and_converts_other_images(digits_bundle, pngs, capsys):
    _, big, _ = pngs
    assert main(["run", digits_bundle, big, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["label"] in [str(i) for i in range(10)]


def test_run_not_an_image(digits_bundle, pngs, capsys):
    paths, _, not_image = pngs
    assert main(["run", digits_bundle, not_image, paths[0], "--json"]) == 1
    captured = capsys.readouterr()
    assert f"Error: {not_image}: is not an image Pillow can read" in captured.err
    assert "Traceback" not in captured.err
    assert len(captured.out.strip().splitlines()) == 1  # the good image is still classified


def test_run_takes_folders_of_images(digits_bundle, pngs, tmp_path, capsys):
    """A folder stands for its images and its sub-folders', by name (it once was an error); hidden files, other
    files and an empty folder are not images, and an empty folder is an error line."""
    paths, _, _ = pngs
    (tmp_path / "b" / "inner").mkdir(parents=True)
    (tmp_path / "empty").mkdir()
    for target, source in (("b/2.png", paths[2]), ("b/inner/1.PNG", paths[1]), ("a.png", paths[0])):
        with open(source, "rb") as f, open(tmp_path / target, "wb") as out:
            out.write(f.read())
    (tmp_path / "b" / ".hidden.png").write_bytes(b"not read")
    (tmp_path / "b" / "notes.txt").write_text("not an image")
    assert main(["run", digits_bundle, str(tmp_path), paths[3], "--json"]) == 0
    images = [json.loads(line)["image"] for line in capsys.readouterr().out.splitlines()]
    assert images == [str(tmp_path / "a.png"), str(tmp_path / "b" / "2.png"), str(tmp_path / "b" / "inner" / "1.PNG"),
                      paths[3]]
    assert main(["run", digits_bundle, str(tmp_path / "empty"), paths[0], "--json"]) == 1
    captured = capsys.readouterr()
    assert f"Error: {tmp_path / 'empty'}: a folder with no images in it or its sub-folders" in captured.err
    assert len(captured.out.splitlines()) == 1


def test_run_audits_agreement_without_labels(digits_bundle, pngs, capsys):
    """--audit 0.5: every second image also runs the monolithic network; its record carries the running
    agreement, the table's promise at that α, and the MACs of both. (No budget here: on four images the
    default budget skips an audit after two cheap answers, which the budget's own tests cover.)"""
    from edge_runtime.registry import open_runtime

    paths, _, _ = pngs
    trace = os.path.join(os.path.dirname(paths[0]), "audit-trace.jsonl")
    assert main(["run", digits_bundle, *paths, "--alpha", "0.6", "--json", "--audit", "0.5", "--audit-budget", "1",
                 "--trace", trace]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    audited = [r for r in records if "audit" in r]
    assert [records.index(r) // 2 for r in audited] == [0, 1]  # one in each pair of images
    with open(trace) as f:
        events = [json.loads(line) for line in f]
    assert [e["audit"] is not None for e in events] == ["audit" in r for r in records]
    assert [e["audit"] for e in events if e["audit"]][-1] == audited[-1]["audit"]
    runtime = open_runtime(digits_bundle)
    promise = runtime.alpha_plans.expected_agreement(0.6)
    assert promise is not None and 0.5 < promise <= 1.0
    last = audited[-1]["audit"]
    assert last["audited"] == 2 and last["promise"] == pytest.approx(promise, abs=1e-6)
    assert last["agreed"] == sum(r["audit"]["agrees"] for r in audited)
    assert last["low"] <= last["agreement"] <= last["high"] and last["status"] in ("ok", "degraded")
    full = runtime.bundle.full_macs
    # an audit finishes the network from the exit taken: the image's MACs are the whole network's and its heads'
    assert all(r["macs"] >= full for r in audited) and all(r["macs"] < full for r in records if "audit" not in r)
    assert main(["run", digits_bundle, *paths, "--alpha", "0.6"]) == 0
    assert "audit: " not in capsys.readouterr().err  # the default 2% audits none of 4 images
    assert main(["run", digits_bundle, *paths, "--alpha", "0.6", "--audit", "1"]) == 0
    assert "audited answers agree with the monolithic network" in capsys.readouterr().err


def noise_images(count: int, seed: int) -> np.ndarray:
    """``count`` 8×8 greyscale images of uniform noise (uint8)."""
    return np.random.default_rng(seed).integers(0, 256, size=(count, 8, 8), dtype=np.uint8)


def pngs_of(folder, prefix: str, images: np.ndarray) -> list[str]:
    """Each 2-D uint8 image saved as ``folder/PREFIX<i>.png``, in order; their paths."""
    paths = []
    for i, pixels in enumerate(images):
        path = str(folder / f"{prefix}{i:03d}.png")
        Image.fromarray(pixels, mode="L").save(path)
        paths.append(path)
    return paths


def test_adapt_stops_using_points_whose_answers_no_longer_agree(digits_bundle, tmp_path, capsys):
    """Noise at the cheapest point: the input exit agrees with the monolithic network far less than the table
    promised on clean digits. With --adapt, after the audit says so, inputs run further and agree more."""
    paths = pngs_of(tmp_path, "noise", noise_images(160, seed=0))
    common = ["run", digits_bundle, *paths, "--alpha", "1", "--floor", "none", "--audit", "1", "--json"]
    assert main(common) == 0
    plain = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert plain[-1]["audit"]["status"] == "degraded"
    assert main(common + ["--adapt"]) == 0
    captured = capsys.readouterr()
    adapted = [json.loads(line) for line in captured.out.splitlines()]
    assert captured.err.count("inputs now run at least to the α table's point") >= 1
    changed = next(i for i, r in enumerate(adapted) if r["audit"]["cap"] < 1.0)
    assert 9 <= changed < 100  # not before 10 audited inputs
    after, before = adapted[changed + 1:], plain[changed + 1:]
    assert np.mean([r["audit"]["agrees"] for r in after]) > np.mean([r["audit"]["agrees"] for r in before]) + 0.1
    assert np.mean([r["macs"] for r in after]) > np.mean([r["macs"] for r in before])  # agreement costs energy
    for wrong in (["--adapt", "--audit", "0"], ["--audit-budget", "0"], ["--audit-budget", "1.5"]):
        with pytest.raises(SystemExit) as exit_info:
            main(["run", digits_bundle, paths[0], *wrong])
        assert exit_info.value.code == 2
    assert "expected a share in (0, 1], got 1.5" in capsys.readouterr().err


def test_adapt_lifts_the_cap_when_the_drift_ends(digits_bundle, digits, tmp_path, capsys):
    """Noise, then clean digits: the cap set under noise is lifted once the kept audited inputs are clean."""
    paths = pngs_of(tmp_path, "a", noise_images(60, seed=1)) + pngs_of(tmp_path, "b", digits.x_test[:300, ..., 0])
    assert main(["run", digits_bundle, *paths, "--alpha", "1", "--floor", "none", "--audit", "1", "--json",
                 "--adapt"]) == 0
    captured = capsys.readouterr()
    caps = [json.loads(line)["audit"]["cap"] for line in captured.out.splitlines()]
    assert min(caps[:60]) < 1.0 and caps[-1] > min(caps[:60])
    assert "agree as promised again" in captured.err


def test_eval_stream_replays_the_split_with_the_audit(digits_bundle, capsys):
    assert main(["eval", digits_bundle, "--dataset", "digits", "--stream", "--points", "3", "--audit", "0.1",
                 "--audit-budget", "1", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["floor"] == "-2" and len(report["stream"]["rows"]) == 3
    assert report["stream"]["audit_budget"] == 1.0
    for row in report["stream"]["rows"]:
        assert row["audited"] in (35, 36) and row["skipped_for_budget"] == 0  # one in each block of 10 of 359
        assert {"expected_accuracy", "expected_agreement", "agreement", "estimated_agreement",
                "estimated_agreement_interval", "accuracy", "mean_macs", "audit_mac_share", "cost_vs_table"} <= set(row)
        assert 0.5 < row["cost_vs_table"] < 2.0  # the test digits cost about what the held-out ones did
        low, high = row["estimated_agreement_interval"]
        assert low <= row["estimated_agreement"] <= high and 0 < row["audit_mac_share"] < 1
        # each audit runs the network after the exit taken: at most the whole network, nothing at the last exit
        assert 0 < row["audit_network_share"] < row["audited"] / 359
    unlimited = report["stream"]["rows"]
    # the default budget, 1.5 × the rate: at α = 1 an audit costs several answers, and some are skipped for it
    assert main(["eval", digits_bundle, "--dataset", "digits", "--stream", "--points", "3", "--audit", "0.1",
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["stream"]["audit_budget"] == pytest.approx(0.15)
    cheap = report["stream"]["rows"][-1]
    assert unlimited[-1]["audit_mac_share"] > 0.15 and cheap["skipped_for_budget"] > 0
    assert cheap["audit_mac_share"] < unlimited[-1]["audit_mac_share"] and cheap["audited"] < unlimited[-1]["audited"]
    assert main(["eval", digits_bundle, "--dataset", "digits", "--stream", "--points", "2"]) == 0
    assert "stream in order, audit 0.02 within 3% of the MACs" in capsys.readouterr().out
    for wrong in (["--adapt"], ["--audit-budget", "0.5"], ["--stream", "--audit-budget", "0"]):
        with pytest.raises(SystemExit) as exit_info:
            main(["eval", digits_bundle, "--dataset", "digits", *wrong])
        assert exit_info.value.code == 2


def test_floor_is_read_and_checked(digits_bundle, pngs, capsys):
    paths, _, _ = pngs
    assert main(["run", digits_bundle, paths[0], "--alpha", "1", "--json", "--floor", "0.9"]) == 0
    at_floor = json.loads(capsys.readouterr().out)
    assert at_floor["desired_accuracy"] >= 0.9 - 1e-6
    assert main(["run", digits_bundle, paths[0], "--alpha", "1", "--json", "--floor", "none"]) == 0
    cheapest = json.loads(capsys.readouterr().out)
    assert cheapest["desired_accuracy"] < at_floor["desired_accuracy"] and cheapest["macs"] < at_floor["macs"]
    with pytest.raises(SystemExit) as exit_info:
        main(["run", digits_bundle, paths[0], "--floor", "95"])
    assert exit_info.value.code == 2 and "an accuracy is a fraction" in capsys.readouterr().err


def test_alpha_out_of_range_is_a_usage_error(digits_bundle, pngs, capsys):
    paths, _, _ = pngs
    with pytest.raises(SystemExit) as exit_info:
        main(["run", digits_bundle, paths[0], "--alpha", "1.5"])
    assert exit_info.value.code == 2
    assert "argument --alpha: expected a number in [0, 1], got 1.5" in capsys.readouterr().err


def test_bad_bundle_is_one_line(tmp_path, pngs, capsys):
    paths, _, _ = pngs
    assert main(["run", str(tmp_path), paths[0]]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Error: ") and "manifest.json" in err and "Traceback" not in err


def test_info(digits_bundle, capsys):
    assert main(["info", digits_bundle]) == 0
    out = capsys.readouterr().out
    assert "exit_3" in out
    # the fixture's given figure over its 306,688-MAC network
    assert "invocation  charged 100,000 MACs in the α table (32.6% of the network, as given)" in out
    assert main(["info", digits_bundle, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["family"] == "multi_exit"


def test_info_shows_a_tiny_share_of_the_macs_instead_of_zero():
    from edge_runtime.core.operating import share_text

    assert share_text(160 / 9_484_288) == "0.0017%"  # the input exit of the demo bundle printed 0.00%
    assert share_text(0.062) == "6.2%" and share_text(0.0) == "0.0%"


def test_eval_json_and_plot(digits_bundle, tmp_path, capsys):
    plot = str(tmp_path / "fig.png")
    assert main(["eval", digits_bundle, "--dataset", "digits", "--json", "--plot", plot, "--points", "5",
                 "--limit", "120"]) == 0
    report = json.loads(capsys.readouterr().out)
    row_keys = {"alpha", "accuracy", "mean_macs", "mac_saving", "mean_latency_us", "latency_saving", "exit_histogram"}
    assert report["rule"] == "frontier" and report["rows"] == report["by_rule"]["frontier"]["rows"]
    assert [r["alpha"] for r in report["rows"]] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert all(row_keys | {"expected_accuracy", "expected_agreement", "agreement"} <= set(r) for r in report["rows"])
    assert report["floor"] == "-2"
    # agreement is with the monolithic network's answers: 1 where a plan answers what it does on every image
    assert all(0 <= r["agreement"] <= 1 for r in report["rows"])
    full = report["full_model"]["accuracy"] == report["monolithic"]["accuracy"]
    assert max(r["agreement"] for r in report["rows"]) <= 1 and (not full or report["rows"][0]["agreement"] > 0.9)
    merkel = report["by_rule"]["merkel"]["rows"]
    assert merkel and all(row_keys | {"desired_accuracy"} <= set(r) for r in merkel)
    assert {"accuracy", "mean_macs", "mac_saving", "thresholds"} <= set(report["hindsight"])
    assert {"accuracy", "macs", "latency_us"} <= set(report["full_model"])
    assert {"accuracy", "latency_us"} <= set(report["monolithic"])
    assert {"accuracy", "mean_macs"} <= set(report["oracle"])
    assert all(sum(r["exit_histogram"]) == 120 for r in report["rows"] + merkel)
    assert report["oracle"]["accuracy"] >= report["full_model"]["accuracy"]
    with Image.open(plot) as image:
        assert image.format == "PNG" and image.size[0] > 500
    assert not [f for f in os.listdir(tmp_path) if "partial" in f]


def test_eval_dataset_in_no_known_layout(digits_bundle, tmp_path, capsys):
    bogus = tmp_path / "data.csv"
    bogus.write_text("1,2,3")
    assert main(["eval", digits_bundle, "--dataset", str(bogus)]) == 1
    assert "is a file but not a .npz" in capsys.readouterr().err


def test_eval_dataset_of_another_shape(digits_bundle, tmp_path, capsys):
    path = str(tmp_path / "other.npz")
    rng = np.random.default_rng(0)
    np.savez(path, x_train=rng.integers(0, 255, (20, 28, 28), dtype=np.uint8), y_train=np.arange(20) % 10,
             x_test=rng.integers(0, 255, (10, 28, 28), dtype=np.uint8), y_test=np.arange(10))
    assert main(["eval", digits_bundle, "--dataset", path]) == 1
    assert "images are (28, 28, 1), the bundle takes (8, 8, 1)" in capsys.readouterr().err


def test_eval_with_classes_named_otherwise_is_refused(bundle_copy, digits, tmp_path, capsys):
    """A bundle whose classes have names is evaluated only on a dataset naming them the same (answers compared
    by index would be compared with the wrong class); numbered labels on either side are taken as they are."""
    manifest_path = os.path.join(bundle_copy, "manifest.json")
    with open(manifest_path) as f:
        manifest = json.load(f)
    manifest["labels"] = [f"digit {i}" for i in range(10)]
    with open(manifest_path, "w") as f:
        json.dump(manifest, f)
    path = str(tmp_path / "named.npz")
    for names, code in (([f"digit {i}" for i in range(10)], 0), ([f"class {i}" for i in range(10)], 1)):
        y = np.array(names)
        np.savez(path, x_train=digits.x_train[:40, ..., 0], y_train=y[digits.y_train[:40]],
                 x_test=digits.x_test[:20, ..., 0], y_test=y[digits.y_test[:20]])
        assert main(["eval", bundle_copy, "--dataset", path, "--points", "2", "--json"]) == code
    err = capsys.readouterr().err
    assert f"Error: {path}: names its classes class 0, class 1" in err and "the bundle's are digit 0, digit 1" in err


def test_plot_into_a_missing_folder_is_one_line(digits_bundle, tmp_path, capsys):
    plot = str(tmp_path / "no" / "such" / "fig.png")
    assert main(["eval", digits_bundle, "--dataset", "digits", "--plot", plot, "--points", "2", "--limit", "10"]) == 1
    err = capsys.readouterr().err
    assert err == f"Error: {plot}: cannot write the plot: the folder {tmp_path / 'no' / 'such'} does not exist\n"


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_flag_on_either_side_shows_the_traceback(tmp_path, pngs, capsys, where):
    paths, _, _ = pngs
    argv = ["run", str(tmp_path), paths[0]]
    argv = ["--debug", *argv] if where == "before" else [*argv, "--debug"]
    assert main(argv) == 1
    assert "Traceback" in capsys.readouterr().err


def test_an_image_over_the_pixel_limit_is_refused_before_decoding(digits_bundle, tmp_path, capsys):
    """One limit for run, eval's folders and serve, checked on the header; Pillow's own bomb warning (which
    printed a raw DecompressionBombWarning with a site-packages path) never reaches the user."""
    huge = str(tmp_path / "huge.png")
    Image.new("L", (10000, 9000)).save(huge)  # 90 M pixels: over Pillow's own warning threshold, a 90 KB file
    assert main(["run", digits_bundle, huge]) == 1
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1] == (f"Error: {huge}: is 10000×9000 = 90,000,000 pixels, more than the "
                                            "50,000,000 accepted (--max-pixels N to allow more)")
    assert "DecompressionBomb" not in err and "site-packages" not in err
    small = str(tmp_path / "small.png")
    Image.new("L", (300, 300)).save(small)
    assert main(["run", digits_bundle, small, "--max-pixels", "10000"]) == 1
    assert "is 300×300 = 90,000 pixels, more than the 10,000 accepted" in capsys.readouterr().err
    assert main(["run", digits_bundle, small]) == 0


def test_eval_skips_and_names_a_folder_image_over_the_limit(digits_bundle, digits, tmp_path, capsys):
    folder = tmp_path / "photos"
    for i in range(20):
        target = folder / str(digits.y_test[i])
        target.mkdir(parents=True, exist_ok=True)
        Image.fromarray(digits.x_test[i][..., 0]).save(target / f"{i}.png")
    for label in range(10):
        (folder / str(label)).mkdir(exist_ok=True)
        Image.fromarray(digits.x_test[label][..., 0]).save(folder / str(label) / f"extra{label}.png")
    Image.new("L", (400, 400)).save(folder / "3" / "big.png")
    assert main(["eval", digits_bundle, "--dataset", str(folder), "--max-pixels", "100000", "--json"]) == 0
    err = capsys.readouterr().err
    assert "big.png (400×400 pixels, over --max-pixels 100,000)" in err


def test_python_warnings_reach_the_terminal_as_one_line(capsys):
    import warnings

    from edge_runtime.cli.guard import one_line_warnings

    saved = warnings.showwarning
    try:
        one_line_warnings()
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.warn("something odd\nwith a second line", UserWarning)
    finally:
        warnings.showwarning = saved
    assert capsys.readouterr().err == "warning: something odd\n"


def test_without_a_monitor_alpha_defaults_to_the_most_accurate_point(gated_bundle, pngs, capsys):
    """α = 0.5 by default gave a gated user 72% where α = 0 gives 97%: the default is α = 0, for every family."""
    paths, _, _ = pngs
    assert main(["run", gated_bundle, paths[0], "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["alpha"] == 0.0


def test_the_runtime_does_not_print_litert_s_xnnpack_notice(digits_bundle, pngs):
    """'INFO: Created TensorFlow Lite XNNPACK delegate for CPU.' came before every command's output; it is shown
    under --debug only (a fresh process: the C++ runtime prints it once per process)."""
    import subprocess
    import sys

    paths, _, _ = pngs
    quiet = subprocess.run([sys.executable, "-m", "edge_runtime", "run", digits_bundle, paths[0]],
                           capture_output=True, text=True, timeout=120)
    assert quiet.returncode == 0 and quiet.stderr.startswith("# α = 0") and "XNNPACK" not in quiet.stderr
    debug = subprocess.run([sys.executable, "-m", "edge_runtime", "--debug", "run", digits_bundle, paths[0]],
                           capture_output=True, text=True, timeout=120)
    assert "Created TensorFlow Lite XNNPACK delegate" in debug.stderr


def test_the_demo_summary_agrees_with_the_table_above_it(runtime):
    """It said 'no operating point reached the monolithic model's accuracy' right under a Merkel table that
    listed α = 0.85 at that accuracy: the summary now speaks for each rule the table shows."""
    from edge_runtime.cli.demo import summary_lines
    from edge_runtime.cli.evaluate import run_eval

    report = run_eval(runtime, "digits", points=5)
    report["at_monolithic_accuracy"] = None  # the table's rule reached nothing; Merkel's rule did
    merkel = report["by_rule"]["merkel"]
    merkel["at_monolithic_accuracy"] = {**merkel["rows"][-1], "mac_saving": 0.42, "latency_saving": 0.3,
                                        "alpha": 0.85}
    text = "\n".join(summary_lines(report, "plot.png", "bundle", ["a.png"]))
    assert "the α table: no operating point reached the monolithic model's accuracy" in text
    assert "Merkel’s rule (--rule merkel), at the monolithic model's accuracy" in text and "(α = 0.85," in text
    assert "CPU" in text or "cores" in text  # which machine the times are from


def test_a_cached_demo_bundle_without_agreement_gets_its_promise(bundle_copy, tmp_path, capsys):
    """A demo bundle cached before tables stored agreement is calibrated again on first use, so its audit has a
    promise to check (it printed 'no promise in this bundle' before)."""
    from edge_runtime.cli.demo import ensure_bundle
    from edge_runtime.registry import load_bundle

    manifest_path = os.path.join(bundle_copy, "manifest.json")
    with open(manifest_path) as handle:
        manifest = json.load(handle)
    for row in manifest["alpha_table"]["points"]:
        row.pop("agreement", None)
    with open(manifest_path, "w") as handle:
        json.dump(manifest, handle)
    assert load_bundle(bundle_copy).header.alpha_table.points[0].agreement is None
    ensure_bundle(bundle_copy, retrain=False)
    assert "predates agreement promises" in capsys.readouterr().err
    points = load_bundle(bundle_copy).header.alpha_table.points
    assert all(0.0 < p.agreement <= 1.0 for p in points) and points[0].agreement > points[-1].agreement
