"""EnergyNet's gates on a user's residual network: a gate before every identity-shortcut block.

An identity-shortcut block is a stretch of the user's flat graph (:mod:`converters.common.keras_graph`)
between two consecutive cuts whose second cut is an ``Add`` that reads the first one unchanged:
MobileNetV2's ``block_N_add``, ResNet's ``convN_blockM_out`` (identity blocks), EfficientNet's ``blockNx_add``.
Skipping it leaves its input as it is, which is what the sum gives when the residual branch adds nothing.
Blocks that change the shape (a strided or widening block with a projection shortcut, or none) stay
ungated: they run in every path, inside the gated block before them (or the stem).

The network is then the reference gated network's structure (:class:`~converters.gated.model.GatedNet`):
a stem (image → the first gated block's input), blocks each running up to the next gated block's input,
and a head (the last gated block's sum → the user's output).
"""

from __future__ import annotations

import keras

from ..common.errors import ConvertError
from ..common.keras_graph import FlatGraph, ends_in_softmax
from .model import GatedNet, GraphBlock, gate_layers


def identity_blocks(graph: FlatGraph) -> list[tuple[int, int]]:
    """(input call, sum call) of each identity-shortcut block, in order (see the module docstring)."""
    cut_indices = [cut.index for cut in graph.cuts]
    blocks = []
    for previous, index in zip(cut_indices, cut_indices[1:]):
        call = graph.calls[index]
        if call.kind == "Add" and previous in call.reads and len(call.reads) == 2 and \
                tuple(graph.tensor(previous).shape) == tuple(call.output.shape):
            blocks.append((previous, index))
    return blocks


def gated_from_graph(graph: FlatGraph, name: str) -> GatedNet:
    """The user's network with a gate before each identity-shortcut block.

    Raises:
        ConvertError: a network without an identity-shortcut block (nothing to gate).
    """
    found = identity_blocks(graph)
    if not found:
        raise ConvertError(f"--model {name}: no residual block with an identity shortcut (an Add of a block's input "
                           "and its output, same shape) to gate; the gated family skips such blocks")
    inputs = [graph.tensor(a) for a, _ in found]
    sums = [graph.tensor(b) for _, b in found]
    stem = keras.Model(graph.image, inputs[0], name="stem")
    blocks = []
    for i, ((a, b), start, end) in enumerate(zip(found, inputs, sums)):
        until = inputs[i + 1] if i + 1 < len(found) else end
        run = keras.Model(start, until, name=f"run_{graph.calls[b].name}")
        skip = None if i + 1 == len(found) or found[i + 1][0] == b else keras.Model(end, until,
                                                                                   name=f"after_{graph.calls[b].name}")
        blocks.append(GraphBlock(graph.calls[b].name, run, skip, int(until.shape[-1])))
    probs = graph.output if ends_in_softmax(graph) else keras.layers.Softmax(name="head_softmax")(graph.output)
    head = keras.Model(sums[-1], probs, name="head")
    projections, lstm, gate_out, hard = gate_layers(len(blocks))
    return GatedNet(tuple(graph.image.shape[1:]), [stem], blocks, [head], projections, lstm, gate_out, hard,
                    int(inputs[0].shape[-1]))
