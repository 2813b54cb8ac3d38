"""Segments cut out of one converted int8 graph, so that chaining them computes exactly what the whole does.

Converting each segment as its own signature calibrates each one separately, and the quantizer's choices
depend on each graph's context: a convolution feeding a residual ``Add`` takes the ``Add``'s scale when the
sum is used inside the graph and its own when the sum is a signature's output, and joint tensors computed
by different graphs differ in the last float bit. Chained segments then disagreed with the monolithic
model on a third of MobileNetV2's outputs (up to 130 int8 codes; 2% of labels). Instead the whole network,
with every head and every cut tensor as outputs, is converted once as one signature, and each segment
is the set of that graph's operators between its input tensors and its output tensors, with the same
tensors, quantization and weights: the chain and the monolithic model are the same int8 arithmetic.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from .errors import ConvertError
from .tflite_file import assemble, read_model, schema, write_model


@dataclass(frozen=True)
class Slice:
    """One signature to cut out: its key, and its inputs and outputs as ``name → name in the whole graph's
    signature``."""

    key: str
    inputs: dict[str, str]
    outputs: dict[str, str]


def slice_models(data: bytes, files: list[list[Slice]]) -> list[bytes]:
    """One model per list of ``files``, each with one signature per slice, cut out of the single-signature model
    ``data`` (read once).

    Raises:
        ConvertError: a slice names a tensor the whole graph's signature does not have, or needs a tensor
            that is neither computed after its inputs nor one of them (its inputs do not separate the graph).
    """
    model = read_model(data)
    if not model.signatureDefs or len(model.signatureDefs) != 1:
        raise ConvertError("slicing expects a model with exactly one signature")
    whole = model.signatureDefs[0]
    graph = model.subgraphs[whole.subgraphIndex]
    named = {m.name.decode(): m.tensorIndex for m in list(whole.inputs or []) + list(whole.outputs or [])}
    producer = {t: i for i, op in enumerate(graph.operators or []) for t in op.outputs}
    constant = {i for i, t in enumerate(graph.tensors) if _has_data(model.buffers[t.buffer])}
    written = []
    for slices in files:
        subgraphs, signatures = [], []
        for piece in slices:
            missing = [n for n in list(piece.inputs.values()) + list(piece.outputs.values()) if n not in named]
            if missing:
                raise ConvertError(f"slice {piece.key}: the converted graph has no tensor named {', '.join(missing)}")
            inputs = {name: named[source] for name, source in piece.inputs.items()}
            outputs = {name: named[source] for name, source in piece.outputs.items()}
            ops = _operators_between(graph, producer, constant, set(inputs.values()), outputs.values(), piece.key)
            subgraph, index = _subgraph(graph, ops, inputs, outputs, piece.key)
            subgraphs.append(subgraph)
            signatures.append(_signature(piece.key, len(signatures), inputs, outputs, index))
        written.append(write_model(assemble(model, subgraphs, signatures)))
    return written


def _has_data(buffer: Any) -> bool:
    return (buffer.data is not None and len(buffer.data) > 0) or bool(getattr(buffer, "size", 0))


def _operators_between(graph: Any, producer: dict[int, int], constant: set[int], inputs: set[int],
                       outputs: Any, key: str) -> list[int]:
    """Indices (in graph order) of the operators computing ``outputs`` from ``inputs`` and constants."""
    needed: set[int] = set()
    stack = [t for t in outputs if t not in inputs]
    seen: set[int] = set()
    while stack:
        tensor = stack.pop()
        if tensor in seen or tensor in inputs or tensor in constant or tensor < 0:
            continue
        seen.add(tensor)
        if tensor not in producer:
            name = graph.tensors[tensor].name.decode()
            raise ConvertError(f"slice {key}: needs tensor {name!r}, which its inputs do not lead to")
        op = producer[tensor]
        if op not in needed:
            needed.add(op)
            stack.extend(graph.operators[op].inputs)
    return sorted(needed)


def _subgraph(graph: Any, ops: list[int], inputs: dict[str, int], outputs: dict[str, int],
              key: str) -> tuple[Any, dict[int, int]]:
    """A subgraph of ``graph``'s operators ``ops``, its tensors renumbered; returns it and old → new index."""
    used: list[int] = []
    index: dict[int, int] = {}

    def keep(tensor: int) -> int:
        if tensor < 0:
            return tensor
        if tensor not in index:
            index[tensor] = len(used)
            used.append(tensor)
        return index[tensor]

    for tensor in inputs.values():
        keep(tensor)
    operators = []
    for i in ops:
        op = copy.copy(graph.operators[i])
        op.inputs = [keep(t) for t in graph.operators[i].inputs]
        op.outputs = [keep(t) for t in graph.operators[i].outputs]
        if graph.operators[i].intermediates is not None:
            op.intermediates = [keep(t) for t in graph.operators[i].intermediates]
        operators.append(op)
    for tensor in outputs.values():
        keep(tensor)
    subgraph = copy.copy(graph)
    subgraph.tensors = [graph.tensors[t] for t in used]
    subgraph.operators = operators
    subgraph.inputs = [index[t] for t in inputs.values()]
    subgraph.outputs = [index[t] for t in outputs.values()]
    subgraph.name = key.encode()
    return subgraph, index


def _signature(key: str, subgraph_index: int, inputs: dict[str, int], outputs: dict[str, int],
               index: dict[int, int]) -> Any:
    s = schema()

    def tensor_map(name: str, tensor: int) -> Any:
        entry = s.TensorMapT()
        entry.name = name.encode()
        entry.tensorIndex = index[tensor]
        return entry

    signature = s.SignatureDefT()
    signature.signatureKey = key.encode()
    signature.subgraphIndex = subgraph_index
    signature.inputs = [tensor_map(n, t) for n, t in inputs.items()]
    signature.outputs = [tensor_map(n, t) for n, t in outputs.items()]
    return signature
