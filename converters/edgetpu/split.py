"""One ``.tflite`` per signature: what the Edge TPU compiler takes (Coral's partitioner checks for
exactly one subgraph, and nothing documents several signatures in one file).

The file's flatbuffer is read with TensorFlow's generated schema (object API) and, for each
signature, a model is written holding only that signature's subgraph, the buffers and operator
codes it uses (renumbered) and the file's metadata. Tensors, quantization and operators are kept as
they are, so the new file computes exactly what the signature did.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from ..common.errors import ConvertError

FILE_IDENTIFIER = b"TFL3"
# operators whose options name other subgraphs (control flow): such a signature cannot stand alone
CALLS_SUBGRAPHS = {"WHILE", "IF", "CALL_ONCE", "STABLEHLO_CASE", "STABLEHLO_WHILE"}


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


def split_signatures(data: bytes, source: str) -> dict[str, bytes]:
    """Signature key → a model file holding only that signature (``source`` names the file in errors)."""
    model = read_model(data)
    if not model.signatureDefs:
        raise ConvertError(f"{source}: has no signatures; a bundle's segments are signatures")
    out: dict[str, bytes] = {}
    for signature in model.signatureDefs:
        key = signature.signatureKey.decode()
        out[key] = write_model(single_signature(model, signature, f"{source}:{key}"))
    return out


def single_signature(model: Any, signature: Any, where: str) -> Any:
    subgraph = model.subgraphs[signature.subgraphIndex]
    for op in subgraph.operators or []:
        if builtin_name(model.operatorCodes[op.opcodeIndex]) in CALLS_SUBGRAPHS:
            raise ConvertError(f"{where}: calls other subgraphs (control flow), which one file per segment cannot hold")
    new = copy.copy(model)
    new.subgraphs = [subgraph]
    sig = copy.copy(signature)
    sig.subgraphIndex = 0
    new.signatureDefs = [sig]
    # buffers: 0 stays the empty sentinel; keep those the tensors and the metadata use, renumbered
    used = sorted({t.buffer for t in subgraph.tensors or [] if t.buffer} | {m.buffer for m in model.metadata or []})
    renumber = {old: i + 1 for i, old in enumerate(used)}
    new.buffers = [model.buffers[0]] + [model.buffers[i] for i in used]
    tensors = []
    for tensor in subgraph.tensors or []:
        t = copy.copy(tensor)
        t.buffer = renumber.get(tensor.buffer, 0)
        tensors.append(t)
    codes = sorted({op.opcodeIndex for op in subgraph.operators or []})
    code_index = {old: i for i, old in enumerate(codes)}
    operators = []
    for op in subgraph.operators or []:
        o = copy.copy(op)
        o.opcodeIndex = code_index[op.opcodeIndex]
        operators.append(o)
    new_subgraph = copy.copy(subgraph)
    new_subgraph.tensors, new_subgraph.operators = tensors, operators
    new.subgraphs = [new_subgraph]
    new.operatorCodes = [model.operatorCodes[i] for i in codes]
    metadata = []
    for entry in model.metadata or []:
        m = copy.copy(entry)
        m.buffer = renumber[entry.buffer]
        metadata.append(m)
    new.metadata = metadata or None
    return new
