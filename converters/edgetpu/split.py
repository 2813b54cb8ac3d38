"""One ``.tflite`` per signature: what the Edge TPU compiler takes (Coral's partitioner checks for
exactly one subgraph, and nothing documents several signatures in one file).

For each signature a model is written holding only that signature's subgraph, the buffers and operator
codes it uses (renumbered) and the file's metadata (:func:`converters.common.tflite_file.assemble`).
Tensors, quantization and operators are kept as they are, so the new file computes exactly what the
signature did.
"""

from __future__ import annotations

import copy
from typing import Any

from ..common.errors import ConvertError
from ..common.tflite_file import assemble, builtin_name, read_model, write_model

__all__ = ["split_signatures", "single_signature", "read_model", "write_model", "builtin_name"]

# operators whose options name other subgraphs (control flow): such a signature cannot stand alone
CALLS_SUBGRAPHS = {"WHILE", "IF", "CALL_ONCE", "STABLEHLO_CASE", "STABLEHLO_WHILE"}


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
    sig = copy.copy(signature)
    sig.subgraphIndex = 0
    return assemble(model, [subgraph], [sig])
