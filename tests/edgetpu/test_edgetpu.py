"""The Edge TPU path end to end, with a stand-in compiler and a stand-in libedgetpu: the export (one
signature per file, int8, the segments' shapes), the compile step and its report, the manifest, the
runtime on the TPU build, every delegate failure, and CPU bundles unchanged."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from converters.cli.main import main as convert_main
from converters.edgetpu.compiler import MAPPED, parse_report, size_bytes
from converters.edgetpu.split import read_model, write_model
from edge_runtime.core.backends import load_backend
from edge_runtime.core.bundle import read_manifest, sha256_of
from edge_runtime.registry import load_bundle, open_runtime
from tests.edgetpu.conftest import copy_bundle, runtime_cli

REPORT = """Edge TPU Compiler version 16.0.384591198
Started a compilation timeout timer of 180 seconds.

Models compiled successfully in 812 ms.

Input model: tpu_a.tflite
Input size: 3.07MiB
Output model: out/tpu_a_edgetpu.tflite
Output size: 3.06MiB
On-chip memory used for caching model parameters: 2.93MiB
On-chip memory remaining for caching model parameters: 4.75MiB
Off-chip memory used for streaming uncached model parameters: 0.00B
Number of Edge TPU subgraphs: 1
Total number of operations: 31
Operation log: out/tpu_a_edgetpu.log

Model successfully compiled but not all operations are supported by the Edge TPU. A percentage of the model will \
instead run on the CPU, which is slower. If possible, consider updating your model to use only operations supported \
by the Edge TPU. For details, visit g.co/coral/model-reqs.
Number of operations that will run on Edge TPU: 29
Number of operations that will run on CPU: 2

Operator                       Count      Status

CONV_2D                        27         Mapped to Edge TPU
SOFTMAX                        1          Mapped to Edge TPU
FULLY_CONNECTED                1          Mapped to Edge TPU
DEQUANTIZE                     1          Operation is working on an unsupported data type
ARG_MAX                        1          Operation not supported

Input model: tpu_b.tflite
Input size: 120.00KiB
Output model: out/tpu_b_edgetpu.tflite
Output size: 130.50KiB
On-chip memory used for caching model parameters: 0.00B
On-chip memory remaining for caching model parameters: 0.00B
Off-chip memory used for streaming uncached model parameters: 112.25KiB
Number of Edge TPU subgraphs: 1
Total number of operations: 4
Operation log: out/tpu_b_edgetpu.log
See the operation log file for individual operation details.
Compilation child process completed within timeout period.
Compilation succeeded!
"""


def test_the_compilers_report_is_read_per_model():
    version, models = parse_report(REPORT)
    assert version == "16.0.384591198" and [m.input_model for m in models] == ["tpu_a.tflite", "tpu_b.tflite"]
    a, b = models
    assert (a.ops_tpu, a.ops_cpu, a.total_operations, a.edgetpu_subgraphs) == (29, 2, 31, 1)
    assert a.on_chip_bytes == size_bytes("2.93MiB") == round(2.93 * 1024 ** 2)
    assert [op for op, _, status in a.operations if status != MAPPED] == ["DEQUANTIZE", "ARG_MAX"]
    assert (b.off_chip_bytes, b.operations, b.ops_tpu, b.ops_cpu) == (round(112.25 * 1024), [], 0, 4)


def test_export_writes_one_signature_per_segment_that_computes_the_same(tpu_bundle, digits_bundle):
    bundle = load_bundle(tpu_bundle)
    build = bundle.header.edgetpu
    assert build is not None and build.compiler == "16.0.384591198"
    assert set(build.segments) == set(bundle.segments)  # every segment the runtime can invoke, the monolithic too
    backend = load_backend()
    original = {}
    rng = np.random.default_rng(0)
    for name, compiled in build.segments.items():
        segment = bundle.segments[name]
        source = backend.make_interpreter(bundle.file_path(compiled.source), 1)
        assert list(source.get_signature_list()) == [segment.signature]
        runner = source.get_signature_runner(segment.signature)
        details = runner.get_input_details() | runner.get_output_details()
        assert all(d["dtype"] == np.int8 for d in details.values())
        assert {n: tuple(d["shape"]) for n, d in details.items()} == \
            {n: t.shape for n, t in (segment.inputs | segment.outputs).items()}
        if segment.file not in original:
            original[segment.file] = backend.make_interpreter(os.path.join(digits_bundle, segment.file), 1)
        x = rng.integers(-128, 128, segment.inputs["x"].shape, dtype=np.int8)
        mine, theirs = runner(x=x), original[segment.file].get_signature_runner(segment.signature)(x=x)
        assert all(np.array_equal(mine[k], theirs[k]) for k in theirs)
        assert compiled.ops_tpu > 0 and compiled.tensors.keys() == segment.inputs.keys() | segment.outputs.keys()
    # the segments chain: every features output is some segment's input
    inputs = {t.shape for s in bundle.segments.values() for t in s.inputs.values()}
    assert all(s.outputs["features"].shape in inputs for s in bundle.segments.values() if "features" in s.outputs)


def test_export_in_place_again_replaces_the_build(tpu_bundle, compiler_on_path, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", f"{compiler_on_path}{os.pathsep}{os.environ['PATH']}")
    bundle = copy_bundle(tpu_bundle, tmp_path / "b")
    before = sorted(os.listdir(bundle))
    assert convert_main(["edgetpu", bundle, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert sorted(os.listdir(bundle)) == before and summary["compiler"] == "16.0.384591198"
    assert load_bundle(bundle).header.edgetpu is not None


def test_no_compiler_or_a_failing_one_leaves_the_bundle_as_it_was(digits_bundle, compiler_on_path, tmp_path,
                                                                monkeypatch, capsys):
    bundle = copy_bundle(digits_bundle, tmp_path / "b")
    manifest = sha256_of(os.path.join(bundle, "manifest.json"))
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    assert convert_main(["edgetpu", bundle]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Error: edgetpu_compiler is not on PATH") and "x86-64" in err and err.count("\n") == 1
    monkeypatch.setenv("PATH", f"{compiler_on_path}{os.pathsep}/usr/bin:/bin")
    monkeypatch.setenv("EDGETPU_STANDIN_FAIL", "1")
    assert convert_main(["edgetpu", bundle]) == 1
    err = capsys.readouterr().err
    assert "Error: edgetpu_compiler failed (exit status 1)" in err and "dynamic-sized" in err
    assert sha256_of(os.path.join(bundle, "manifest.json")) == manifest
    assert sorted(os.listdir(tmp_path)) == ["b"] and not any(f.startswith("tpu_") for f in os.listdir(bundle))


def test_info_shows_what_runs_on_the_tpu(tpu_bundle, digits_bundle, capsys):
    from edge_runtime.cli.main import main

    assert main(["info", tpu_bundle]) == 0
    out = capsys.readouterr().out
    assert "edge tpu    compiled by Edge TPU Compiler 16.0.384591198" in out
    assert "exit_0" in out and " TPU " in out and "on the CPU" in out
    assert main(["info", digits_bundle]) == 0
    assert "edge tpu    no build" in capsys.readouterr().out


@pytest.fixture(scope="module")
def pngs(tmp_path_factory, digits):
    folder = tmp_path_factory.mktemp("tpu-pngs")
    paths = []
    for i in range(6):
        path = folder / f"{i}.png"
        Image.fromarray(digits.x_test[i][..., 0], mode="L").save(path)
        paths.append(str(path))
    return paths


def answers(done) -> list[tuple[int, str]]:
    assert done.returncode == 0, done.stderr
    return [(r["class_index"], r["exit_name"]) for r in map(json.loads, done.stdout.splitlines())]


def warnings(done) -> list[str]:
    return [line for line in done.stderr.splitlines() if line.startswith("warning:")]


def test_the_tpu_build_runs_through_the_delegate(tpu_bundle, standin_library, pngs):
    cpu = runtime_cli("run", tpu_bundle, *pngs, "--json", "--alpha", "0.3", library=None)
    tpu = runtime_cli("run", tpu_bundle, *pngs, "--json", "--alpha", "0.3", "--delegate", "edgetpu",
                      library=standin_library)
    assert answers(tpu) == answers(cpu) and not warnings(tpu), tpu.stderr
    assert not warnings(cpu)


@pytest.mark.parametrize("mode,library,expected", [
    ("absent", True, "found no usable Edge TPU"),
    ("crash", True, "crashed the probe (SIGABRT)"),
    (None, False, "libedgetpu1-std"),
])
def test_every_delegate_failure_is_one_warning_and_the_cpu_answers(tpu_bundle, standin_library, pngs, mode,
                                                                   library, expected):
    cpu = runtime_cli("run", tpu_bundle, *pngs, "--json", library=None)
    done = runtime_cli("run", tpu_bundle, *pngs, "--json", "--delegate", "edgetpu",
                       library=standin_library if library else None, mode=mode)
    assert answers(done) == answers(cpu)
    (warning,) = warnings(done)
    assert expected in warning and warning.endswith("running the CPU segments")


def test_a_device_that_is_not_there_and_a_bundle_without_a_build(tpu_bundle, digits_bundle, standin_library, pngs):
    done = runtime_cli("run", tpu_bundle, *pngs, "--json", "--delegate", "edgetpu", "--edgetpu-device", "usb:3",
                       library=standin_library)
    (warning,) = warnings(done)
    assert "the device 'usb:3'" in warning
    done = runtime_cli("run", digits_bundle, *pngs, "--json", "--delegate", "edgetpu", library=standin_library)
    (warning,) = warnings(done)
    assert "has no Edge TPU build" in warning and "edge-convert edgetpu" in warning


def test_a_compiled_file_that_kept_no_signature_runs_by_tensor_names(tpu_bundle, standin_library, pngs, tmp_path):
    bundle = copy_bundle(tpu_bundle, tmp_path / "b")
    manifest = read_manifest(bundle)
    for compiled in manifest["edgetpu"]["segments"].values():
        path = os.path.join(bundle, compiled["file"])
        model = read_model(Path(path).read_bytes())
        model.signatureDefs = []
        Path(path).write_bytes(write_model(model))
        manifest["files"][compiled["file"]] = {"sha256": sha256_of(path), "bytes": os.path.getsize(path)}
    Path(bundle, "manifest.json").write_text(json.dumps(manifest))
    cpu = runtime_cli("run", bundle, *pngs, "--json", "--alpha", "0", library=None)
    tpu = runtime_cli("run", bundle, *pngs, "--json", "--alpha", "0", "--delegate", "edgetpu",
                      library=standin_library)
    assert answers(tpu) == answers(cpu) and not warnings(tpu), tpu.stderr


def test_cpu_runs_of_a_tpu_bundle_never_open_a_compiled_file(tpu_bundle, digits_bundle, test_images):
    tpu, plain = open_runtime(tpu_bundle), open_runtime(digits_bundle)
    assert tpu.placement is None and set(tpu.open_files) <= {"segments.tflite", "monolithic.tflite"}
    plan_a, plan_b = tpu.plan_for_alpha(0.4), plain.plan_for_alpha(0.4)
    images, _ = test_images
    for image in images[:40]:
        assert tpu.classify(image, plan_a) == plain.classify(image, plan_b)
