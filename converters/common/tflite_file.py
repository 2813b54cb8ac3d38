"""Reading, rewriting and writing ``.tflite`` flatbuffers with TensorFlow's generated schema (object API).

Two rewrites use it: a model with one signature per segment cut out of one converted graph
(:mod:`.tflite_slice`), and one file per signature for the Edge TPU compiler
(:mod:`converters.edgetpu.split`). Both keep tensors, quantization and operators as the converter wrote
them, so what a rewritten subgraph computes is bit for bit what the original computed.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

FILE_IDENTIFIER = b"TFL3"


def schema() -> Any:
    from tensorflow.lite.python import schema_py_generated  # the workstation side: TensorFlow's own schema

    return schema_py_generated


def read_model(data: bytes) -> Any:
    s = schema()
    return s.ModelT.InitFromObj(s.Model.GetRootAsModel(data, 0))


def write_model(model: Any) -> bytes:
    import flatbuffers

    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=FILE_IDENTIFIER)
    return bytes(builder.Output())


@functools.cache
def builtin_names() -> dict[int, str]:
    """Builtin operator number → its name (``CONV_2D``…)."""
    return {value: name for name, value in vars(schema().BuiltinOperator).items() if not name.startswith("_")}


def builtin_name(code: Any) -> str:
    """An operator code's name; ``CUSTOM`` ops by the number the schema gives them."""
    number = max(code.builtinCode, code.deprecatedBuiltinCode)
    return builtin_names().get(number, str(number))


def operator_names(data: bytes) -> list[str]:
    """The operators of a ``.tflite`` file's subgraphs, in order (``["CONV_2D", "MEAN", …]``)."""
    model = read_model(data)
    return [builtin_name(model.operatorCodes[op.opcodeIndex]) for sg in model.subgraphs for op in sg.operators or []]


def assemble(model: Any, subgraphs: list[Any], signatures: list[Any]) -> Any:
    """A copy of ``model`` holding only ``subgraphs`` (whose tensors and operators index ``model``'s buffers
    and operator codes) and their ``signatures``: the buffers and operator codes they use are kept and
    renumbered, the file's metadata kept."""
    used = sorted({t.buffer for sg in subgraphs for t in sg.tensors or [] if t.buffer}
                  | {m.buffer for m in model.metadata or []})
    renumber = {old: i + 1 for i, old in enumerate(used)}  # buffer 0 stays the empty sentinel
    codes = sorted({op.opcodeIndex for sg in subgraphs for op in sg.operators or []})
    code_index = {old: i for i, old in enumerate(codes)}
    new = copy.copy(model)
    new.buffers = [model.buffers[0]] + [model.buffers[i] for i in used]
    new.operatorCodes = [model.operatorCodes[i] for i in codes]
    new.subgraphs = []
    for subgraph in subgraphs:
        sg = copy.copy(subgraph)
        sg.tensors = [_with(t, buffer=renumber.get(t.buffer, 0)) for t in subgraph.tensors or []]
        sg.operators = [_with(op, opcodeIndex=code_index[op.opcodeIndex]) for op in subgraph.operators or []]
        new.subgraphs.append(sg)
    new.signatureDefs = list(signatures)
    new.metadata = [_with(m, buffer=renumber[m.buffer]) for m in model.metadata or []] or None
    return new


def _with(obj: Any, **fields: Any) -> Any:
    clone = copy.copy(obj)
    for name, value in fields.items():
        setattr(clone, name, value)
    return clone
