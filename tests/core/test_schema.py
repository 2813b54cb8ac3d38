"""One schema for writer and reader: records round-trip, and every mistake is one line naming the field."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

import pytest
from hypothesis import given, strategies as st

from edge_runtime.core.manifest import (AlphaTable, FileEntry, InputSpec, ManifestHeader, MonolithicRef, OperatingPoint,
                                        Segment, TensorSpec)
from edge_runtime.errors import BundleError, SchemaError
from edge_runtime.schema import Reader, dump, spec


def header(**changes: Any) -> ManifestHeader:
    x = TensorSpec("x", (1, 8, 8, 1), "int8", 0.0078125, -128)
    probs = TensorSpec("probs", (1, 10), "int8", 0.00390625, -128)
    fields = dict(format="edge-adaptive-bundle", format_version=1, family="multi_exit",
                  labels=tuple(str(i) for i in range(10)),
                  input=InputSpec(8, 8, 1, "L", 1 / 255, 0.0, "bilinear"),
                  files={"m.tflite": FileEntry("ab" * 32, 123)},
                  segments={"mono": Segment("mono", "m.tflite", "mono", {"x": x}, {"probs": probs}, 1000, 10, 2000)},
                  monolithic=MonolithicRef("mono"), producer={"tool": "test"},
                  alpha_table=AlphaTable("macs", 100, (OperatingPoint(0.0, 900.0, 0.99, 0.985, {"thresholds": [0.9]}),
                                                       OperatingPoint(1.0, 10.0, 0.8, 0.79, {"thresholds": [0.0]}))))
    fields.update(changes)
    return ManifestHeader(**fields)


def read(raw: Any) -> ManifestHeader:
    return Reader("b/manifest.json", BundleError).read(ManifestHeader, json.loads(json.dumps(raw)))


def test_a_header_written_is_the_header_read():
    written = header()
    raw = dump(written)
    assert raw["segments"]["mono"]["inputs"] == [{"name": "x", "shape": [1, 8, 8, 1], "dtype": "int8",
                                                  "scale": 0.0078125, "zero_point": -128}]
    assert "name" not in raw["segments"]["mono"]  # the dict key is the name
    assert read(raw) == written


@pytest.mark.parametrize("change, field, words", [
    (lambda m: m["segments"]["mono"].pop("macs"), "segments.mono.macs", "missing: expected a number of MACs ≥ 0"),
    (lambda m: m["input"].__setitem__("color_mode", "RGBA"), "input.color_mode",
     'expected one of "L", "RGB", got \'RGBA\''),
    (lambda m: m["input"].__setitem__("channels", 3), "input.channels", "expected 1 for color_mode L, got 3"),
    (lambda m: m["segments"]["mono"]["outputs"][0].__setitem__("scale", -1), "segments.mono.outputs[0].scale",
     "expected a positive number, got -1"),
    (lambda m: m["segments"]["mono"].__setitem__("file", "other.tflite"), "segments.mono.file",
     "'other.tflite' is not listed in files"),
    (lambda m: m.__setitem__("labels", "0123"), "labels", "expected a non-empty list of strings, got '0123'"),
    (lambda m: m["alpha_table"]["points"].reverse(), "alpha_table.points", "expected α ascending from 0 to 1"),
    (lambda m: m["alpha_table"].__setitem__("cost", "watts"), "alpha_table.cost", "expected one of \"macs\""),
    (lambda m: m["files"]["m.tflite"].__setitem__("bytes", True), "files.m.tflite.bytes",
     "expected a size in bytes, got True"),
])
def test_each_mistake_names_the_file_and_field(change, field, words):
    raw = dump(header())
    change(raw)
    with pytest.raises(BundleError) as info:
        read(raw)
    assert info.value.path == "b/manifest.json" and info.value.field == field, str(info.value)
    assert words in str(info.value) and "\n" not in str(info.value)


@dataclass(frozen=True)
class Part:
    mode: Literal["fast", "slow"] = "fast"
    size: int = spec("a size", default=1)
    extra: dict[str, Any] = spec(rest=True, default_factory=dict)


@dataclass(frozen=True)
class Strict:
    baud: int = 9600
    mode: Literal["fast", "slow"] = "fast"


def test_rest_keeps_unknown_keys_and_strict_names_them():
    assert Reader("p").read(Part, {"mode": "slow", "note": "kept"}) == Part("slow", 1, {"note": "kept"})
    assert dump(Part("slow", 2, {"note": "kept"})) == {"mode": "slow", "size": 2, "note": "kept"}
    with pytest.raises(SchemaError, match=r'p: baudrate: unknown key \(did you mean "baud"\?\)'):
        Reader("p", strict=True).read(Strict, {"baudrate": 1})
    with pytest.raises(SchemaError, match=r'p: mode: expected one of "fast", "slow", got \'fsat\' \(did you mean "fast"\?\)'):
        Reader("p").read(Strict, {"mode": "fsat"})


@given(st.dictionaries(st.sampled_from(["baud", "mode", "bad", "size"]),
                       st.one_of(st.integers(), st.text(max_size=5), st.booleans(), st.none(), st.floats())))
def test_any_input_is_a_record_or_one_schema_error(raw):
    try:
        record = Reader("p", strict=True).read(Strict, raw)
    except SchemaError as exc:
        assert str(exc).startswith("p: ") and "\n" not in str(exc)
    else:
        assert isinstance(record.baud, int) and record.mode in ("fast", "slow")
