"""Multi-exit Keras models: Merkel's reference CNN, and exits attached to any functional model.

A :class:`MultiExitModel` is a chain of blocks with an exit head after each cut:

    image ─ B_1 ─ T_1 ─ B_2 ─ T_2 … ─ B_n ─ T_n ─ final → probs
      │            │            │
     H_0          H_1          H_2 …        (H_0 only when there is an exit on the input)

Each B_i, H_i and ``final`` is a Keras model sharing its layers (and weights) with the
training model, so the converter can export them as separate signatures. The cuts T_i are tensors
of the backbone's flat graph (:mod:`converters.common.keras_graph`) that carry everything forward.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod

import keras

from ..common.errors import ConvertError
from ..common.keras_graph import Cut, FlatGraph, ends_in_softmax, flatten
from .heads import HEAD_GRIDS, head_grid, head_macs, pool_size


@dataclass
class MultiExitModel:
    """A backbone cut into blocks, with exit heads. See the module docstring.

    Attributes:
        training_model: image → [every exit's probs, in exit order] (for the summed loss).
        blocks: B_1 … B_n, each T_{i-1} → T_i.
        final: T_n → the last exit's probs (softmax added if the backbone ends in logits).
        heads: H_1 … H_n, each T_i → probs.
        input_head: H_0 on the image, or None.
        exit_names: one name per exit, in order.
        cut_tensors: T_1 … T_n, as tensors of ``training_model``'s graph.
    """

    training_model: keras.Model
    blocks: list[keras.Model]
    final: keras.Model
    heads: list[keras.Model]
    input_head: keras.Model | None
    exit_names: list[str]
    cut_tensors: list

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(self.training_model.input.shape[1:])


# Where TileMean pays: on MobileNetV2's 48×48×8 map it saved 3.5 µs of 8, on a 24×24×8 map 0.4 µs, while each of
# its two int8 means rounds once (python -m tools.bench_heads).
TILE_MEAN_MIN_VALUES = 16384


@keras.saving.register_keras_serializable(package="edge_adaptive")
class TileMean(keras.layers.Layer):
    """Average pooling over ``pool``-sized tiles that cover the feature map exactly (``AveragePooling2D`` with
    pool = strides), computed as two means over axis 2 of 4-D tensors.

    Why not ``AveragePooling2D``: LiteRT's XNNPACK runs int8 ``MEAN`` but not int8 ``AVERAGE_POOL_2D``; a
    48×48×8 → 4×4 exit head took 8.0 µs pooled and 4.7 µs this way (``python -m tools.bench_heads``). Every
    tensor stays 4-D with at most three axes over 1, the shapes the Edge TPU compiler maps. Used on maps of
    :data:`TILE_MEAN_MIN_VALUES` values or more.
    """

    def __init__(self, pool: tuple[int, int], **kwargs) -> None:
        super().__init__(**kwargs)
        self.pool = (int(pool[0]), int(pool[1]))

    def call(self, x):
        _, height, width, channels = x.shape
        rows, cols = height // self.pool[0], width // self.pool[1]
        x = keras.ops.reshape(x, (-1, rows, self.pool[0], width * channels))
        x = keras.ops.mean(x, axis=2, keepdims=True)  # (batch, rows, 1, width · channels)
        x = keras.ops.reshape(x, (-1, rows * cols, self.pool[1], channels))
        x = keras.ops.mean(x, axis=2, keepdims=True)  # (batch, rows · cols, 1, channels)
        return keras.ops.reshape(x, (-1, rows, cols, channels))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1] // self.pool[0], input_shape[2] // self.pool[1], input_shape[3])

    def get_config(self) -> dict:
        return {**super().get_config(), "pool": self.pool}


def exit_head(shape: tuple[int, ...], num_classes: int, name: str, grid: int = HEAD_GRIDS[0]) -> keras.Model:
    """An exit head for features of ``shape`` (no batch axis): pooled and flattened, then a softmax dense layer.

    Pooling keeps at most ``grid``×``grid`` positions: global pooling alone (grid 1) is too weak after
    shallow blocks of few channels (about 38% on digits), a pooled-and-flattened dense head is not; on wide
    features of a big backbone the coarser grids keep the head within its MAC budget.
    """
    features = keras.Input(shape, name=f"{name}_in")
    tensor = features
    if len(shape) == 3:
        pool = (pool_size(shape[0], grid), pool_size(shape[1], grid))
        if pool != (1, 1):
            tiled = prod(shape) >= TILE_MEAN_MIN_VALUES and shape[0] % pool[0] == 0 and shape[1] % pool[1] == 0
            layer = TileMean(pool, name=f"{name}_pool") if tiled else \
                keras.layers.AveragePooling2D(pool, padding="same", name=f"{name}_pool")
            tensor = layer(tensor)
    if len(shape) > 1:
        tensor = keras.layers.Flatten(name=f"{name}_flatten")(tensor)
    probs = keras.layers.Dense(num_classes, activation="softmax", name=f"{name}_dense")(tensor)
    return keras.Model(features, probs, name=name)


def plan_heads(graph: FlatGraph, cuts: list[Cut], num_classes: int, budget: float) -> list[int]:
    """Each cut's head grid within ``budget`` (a share of the backbone's MACs).

    Raises:
        ConvertError: a cut whose smallest head (global pooling + dense) is over budget, named with its cost.
    """
    grids = []
    for cut in cuts:
        grid = head_grid(cut.shape, num_classes, budget * graph.total_macs)
        if grid is None:
            cost = head_macs(cut.shape, num_classes, 1)
            raise ConvertError(f"--exits {cut.name}: even a global-pooling head costs {cost:,d} MACs there, "
                               f"{cost / max(graph.total_macs, 1):.1%} of the network's {graph.total_macs:,d} (the "
                               f"budget is {budget:.0%} per head; --head-budget to allow more, or cut elsewhere)")
        grids.append(grid)
    return grids


def attach_exits(graph: FlatGraph, cuts: list[Cut], num_classes: int, grids: list[int] | None = None,
                 input_exit: bool = False, train_backbone: bool = False) -> MultiExitModel:
    """Attach an exit head at each of ``cuts`` of a flattened backbone.

    Args:
        graph: the backbone, image → class scores (softmax or logits), flattened.
        cuts: where the exits go, from input to output (:meth:`FlatGraph.cut` checked them).
        num_classes: classes of the dataset (must match the backbone's output).
        grids: each head's pooling grid (default 4×4 for all).
        input_exit: also put an exit on the input image (Merkel's structure).
        train_backbone: False freezes the backbone so only the heads train.

    Raises:
        ConvertError: a backbone whose classes differ from the dataset's, or cuts out of order.
    """
    out_classes = graph.output.shape[-1]
    if out_classes != num_classes:
        raise ConvertError(f"the model's output has {out_classes} classes, the dataset has {num_classes}")
    for before, after in zip(cuts, cuts[1:]):
        if after.index <= before.index:
            raise ConvertError(f"--exits: {after.name!r} comes before or at {before.name!r} in the network; list the "
                               "exits from input to output")
    grids = grids or [HEAD_GRIDS[0]] * len(cuts)
    tensors = [graph.image] + [graph.tensor(c.index) for c in cuts]
    blocks = [keras.Model(tensors[i - 1], tensors[i], name=f"block_{i}") for i in range(1, len(tensors))]
    final_body = keras.Model(tensors[-1], graph.output, name="final")
    if ends_in_softmax(graph):
        final = final_body
    else:
        inp = keras.Input(tuple(tensors[-1].shape[1:]), name="final_in")
        final = keras.Model(inp, keras.layers.Softmax(name="final_softmax")(final_body(inp)), name="final")
    for layer in graph.model.layers:
        layer.trainable = train_backbone
    heads = [exit_head(tuple(t.shape[1:]), num_classes, f"exit_{i}", grid)
             for i, (t, grid) in enumerate(zip(tensors[1:], grids), start=1)]
    input_head = exit_head(tuple(graph.image.shape[1:]), num_classes, "exit_0") if input_exit else None
    outputs = ([input_head(graph.image)] if input_head else []) + [h(t) for h, t in zip(heads, tensors[1:])]
    final_probs = final(tensors[-1]) if final is not final_body else graph.output
    training = keras.Model(graph.image, outputs + [final_probs], name="multi_exit")
    exit_names = (["exit_0"] if input_head else []) + [f"exit_{i}" for i in range(1, len(tensors))] + \
        [f"exit_{len(tensors)}"]
    return MultiExitModel(training, blocks, final, heads, input_head, exit_names, tensors[1:])


SCALED_RESOLUTION = 8  # blocks pool by 2 until the feature map is at most this many pixels on its short side
MIN_FILTERS = 16


def block_plan(image_shape: tuple[int, int, int], blocks: int, filters: int) -> list[tuple[int, bool]]:
    """(filters, pools after) of each block of the scaled reference network.

    A block at resolution r (short side) keeps ``filters`` · 8 / r filters (at least 16) and pools by 2
    while r > 8, so a block's MACs stay about those of an 8×8 block: at 8×8 (digits) no block pools
    and the network is Merkel's; at 32×32 the first blocks are cheap and at 96×96 the total is bounded.
    """
    side = min(image_shape[0], image_shape[1])
    plan = []
    for _ in range(blocks):
        width = max(MIN_FILTERS, min(filters, int(round(filters * SCALED_RESOLUTION / side))))
        pools = side > SCALED_RESOLUTION
        plan.append((width, pools))
        if pools:
            side = (side + 1) // 2
    return plan


def reference_backbone(image_shape: tuple[int, int, int], num_classes: int, blocks: int = 5,
                       filters: int = 64, architecture: str = "scaled") -> tuple[keras.Model, list[str]]:
    """Merkel's CNN: ``blocks`` blocks of a 3×3 convolution (ReLU), then a softmax head.

    ``merkel`` keeps every block at full resolution with ``filters`` filters (the paper's CNN, whose cost
    grows with the image area); ``scaled`` (the default) pools as in :func:`block_plan`. Returns the
    backbone and the names of the layers after which the exits go (every block but the last, whose exit
    is the backbone's own head).
    """
    image = keras.Input(image_shape, name="image")
    tensor = image
    names = []
    plan = block_plan(image_shape, blocks, filters) if architecture == "scaled" else [(filters, False)] * blocks
    for i, (width, pools) in enumerate(plan, start=1):
        tensor = keras.layers.Conv2D(width, 3, padding="same", activation="relu", name=f"conv_{i}")(tensor)
        name = f"conv_{i}"
        if pools:
            tensor = keras.layers.MaxPooling2D(2, padding="same", name=f"pool_{i}")(tensor)
            name = f"pool_{i}"
        names.append(name)
    head = exit_head(tuple(tensor.shape[1:]), num_classes, f"exit_{blocks}")
    backbone = keras.Model(image, head(tensor), name=f"{architecture}_cnn" if architecture != "merkel" else "merkel_cnn")
    return backbone, names[:-1]


def reference_multi_exit(image_shape: tuple[int, int, int], num_classes: int, blocks: int = 5,
                         filters: int = 64, architecture: str = "scaled") -> MultiExitModel:
    """Merkel's structure: a softmax exit on the input and after each block (blocks + 1 exits)."""
    backbone, names = reference_backbone(image_shape, num_classes, blocks, filters, architecture)
    graph = flatten(backbone)
    return attach_exits(graph, [graph.cut(name) for name in names], num_classes, input_exit=True,
                        train_backbone=True)
