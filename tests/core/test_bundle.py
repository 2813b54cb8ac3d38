"""Loading verifies everything before any inference; each problem names the file and the field."""

import json
import os

import pytest

from edge_runtime.registry import load_bundle
from edge_runtime.errors import BundleError
from edge_runtime.families.multi_exit.runtime import MultiExitRuntime

pytestmark = pytest.mark.slow


def _edit(folder, change):
    path = os.path.join(folder, "manifest.json")
    with open(path) as f:
        manifest = json.load(f)
    change(manifest)
    with open(path, "w") as f:
        json.dump(manifest, f)


def test_loads(digits_bundle):
    bundle = load_bundle(digits_bundle)
    assert bundle.family == "multi_exit" and len(bundle.part.exits) == 4 and bundle.labels[3] == "3"


def test_missing_tflite(bundle_copy):
    os.remove(os.path.join(bundle_copy, "segments.tflite"))
    with pytest.raises(BundleError, match=r"segments\.tflite: file listed in the manifest is missing"):
        load_bundle(bundle_copy)


def test_truncated_tflite(bundle_copy):
    path = os.path.join(bundle_copy, "segments.tflite")
    with open(path, "r+b") as f:
        f.truncate(1000)
    with pytest.raises(BundleError, match=r"segments\.tflite: is 1000 bytes.*truncated"):
        load_bundle(bundle_copy)


def test_sha256_mismatch(bundle_copy):
    path = os.path.join(bundle_copy, "monolithic.tflite")
    with open(path, "r+b") as f:
        f.seek(500)
        byte = f.read(1)
        f.seek(500)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(BundleError, match=r"monolithic\.tflite: sha256 differs.*files\.monolithic\.tflite\.sha256"):
        load_bundle(bundle_copy)


def test_corrupt_tflite_with_matching_hash_fails_at_load(bundle_copy):
    from converters.common.bundle_writer import file_entry
    from edge_runtime.schema import dump

    path = os.path.join(bundle_copy, "monolithic.tflite")
    with open(path, "wb") as f:
        f.write(b"not a flatbuffer" * 64)
    _edit(bundle_copy, lambda m: m["files"].__setitem__("monolithic.tflite", dump(file_entry(path))))
    with pytest.raises(BundleError, match=r"monolithic\.tflite: the interpreter cannot load it"):
        MultiExitRuntime(load_bundle(bundle_copy))


def test_other_format_version(bundle_copy):
    _edit(bundle_copy, lambda m: m.__setitem__("format_version", 99))
    with pytest.raises(BundleError, match=r"manifest\.json: format_version: this runtime reads version 1, the bundle is version 99"):
        load_bundle(bundle_copy)


def test_not_json(bundle_copy):
    with open(os.path.join(bundle_copy, "manifest.json"), "w") as f:
        f.write("{ nope")
    with pytest.raises(BundleError, match="is not valid JSON"):
        load_bundle(bundle_copy)


def test_missing_field_is_named(bundle_copy):
    _edit(bundle_copy, lambda m: m["segments"]["stage_1_1"].pop("macs"))
    with pytest.raises(BundleError, match=r"segments\.stage_1_1\.macs: missing"):
        load_bundle(bundle_copy)


def test_shapes_that_do_not_chain(bundle_copy):
    def change(m):
        m["segments"]["stage_2_2"]["inputs"][0]["shape"] = [1, 8, 8, 99]
    _edit(bundle_copy, change)
    with pytest.raises(BundleError, match=r"segments\.stage_2_2\.inputs\[0\]\.shape: \[1, 8, 8, 99\] does not chain"):
        load_bundle(bundle_copy)


def test_missing_stage(bundle_copy):
    _edit(bundle_copy, lambda m: m.__setitem__("stages", [s for s in m["stages"] if s["segment"] != "stage_1_2"]))
    with pytest.raises(BundleError, match=r"stages: missing the stage image→2"):
        load_bundle(bundle_copy)


def test_manifest_shape_disagreeing_with_the_model(bundle_copy):
    def change(m):
        m["segments"]["monolithic"]["outputs"][0]["shape"] = [1, 11]
        m["labels"].append("extra")
        for name, seg in m["segments"].items():
            for t in seg["outputs"]:
                if t["name"] == "probs":
                    t["shape"] = [1, 11]
    _edit(bundle_copy, change)
    with pytest.raises(BundleError, match=r"in the model, the manifest says int8\[1, 11\]"):
        MultiExitRuntime(load_bundle(bundle_copy))


def test_not_a_folder(tmp_path):
    with pytest.raises(BundleError, match="is not a bundle folder"):
        load_bundle(str(tmp_path / "nothing"))


def test_manifest_quantization_disagreeing_with_the_model(bundle_copy):
    def change(m):
        for t in m["segments"]["stage_1_1"]["outputs"]:
            if t["name"] == "features":
                t["scale"] *= 2
    _edit(bundle_copy, change)
    with pytest.raises(BundleError, match=r"segments\.stage_1_1\.outputs: output 'features' is quantized"):
        MultiExitRuntime(load_bundle(bundle_copy))
