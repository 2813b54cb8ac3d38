"""Multi-exit Keras models: Merkel's reference CNN, and exits attached to any functional model.

A :class:`MultiExitModel` is a chain of blocks with an exit head after each cut:

    image ─ B_1 ─ T_1 ─ B_2 ─ T_2 … ─ B_n ─ T_n ─ final → probs
      │            │            │
     H_0          H_1          H_2 …        (H_0 only when there is an exit on the input)

Each B_i, H_i and ``final`` is a Keras model sharing its layers (and weights) with the
training model, so the converter can export them as separate signatures.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras

from ..common.errors import ConvertError

HEAD_GRID = 4  # exit heads average-pool spatial features down to at most HEAD_GRID × HEAD_GRID


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
    """

    training_model: keras.Model
    blocks: list[keras.Model]
    final: keras.Model
    heads: list[keras.Model]
    input_head: keras.Model | None
    exit_names: list[str]

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(self.training_model.input.shape[1:])

    def monolithic(self) -> keras.Model:
        """The whole network to its last exit as one model (image → probs)."""
        image = keras.Input(self.image_shape, name="x")
        tensor = image
        for block in self.blocks:
            tensor = block(tensor)
        return keras.Model(image, self.final(tensor), name="monolithic")


def exit_head(shape: tuple[int, ...], num_classes: int, name: str) -> keras.Model:
    """An exit head for features of ``shape`` (no batch axis): pooled and flattened, then a softmax dense layer.

    Pooling keeps at most HEAD_GRID×HEAD_GRID positions: global pooling alone is too weak after
    shallow blocks (about 38% on digits), a pooled-and-flattened dense head is not.
    """
    features = keras.Input(shape, name=f"{name}_in")
    tensor = features
    if len(shape) == 3:
        pool = (max(1, -(-shape[0] // HEAD_GRID)), max(1, -(-shape[1] // HEAD_GRID)))
        if pool != (1, 1):
            tensor = keras.layers.AveragePooling2D(pool, padding="same", name=f"{name}_pool")(tensor)
    if len(shape) > 1:
        tensor = keras.layers.Flatten(name=f"{name}_flatten")(tensor)
    probs = keras.layers.Dense(num_classes, activation="softmax", name=f"{name}_dense")(tensor)
    return keras.Model(features, probs, name=name)


def _ends_in_softmax(model: keras.Model) -> bool:
    last = model.layers[-1]
    if isinstance(last, keras.Model):
        return _ends_in_softmax(last)
    if isinstance(last, keras.layers.Softmax):
        return True
    activation = getattr(last, "activation", None)
    return getattr(activation, "__name__", "") == "softmax"


def attach_exits(backbone: keras.Model, cut_names: list[str], num_classes: int, input_exit: bool = False,
                 train_backbone: bool = False) -> MultiExitModel:
    """Attach an exit head after each layer in ``cut_names`` of a functional ``backbone``.

    Args:
        backbone: a functional model, image → class scores (softmax or logits).
        cut_names: layers whose outputs become exits, in order from input to output.
        num_classes: classes of the dataset (must match the backbone's output).
        input_exit: also put an exit on the input image (Merkel's structure).
        train_backbone: False freezes the backbone so only the heads train.

    Raises:
        ConvertError: an unknown layer, a cut out of order, or a cut that does not separate
            the graph (for example inside a residual block).
    """
    if not isinstance(backbone, keras.Model) or not getattr(backbone, "inputs", None):
        raise ConvertError("the model must be a built Keras functional or Sequential model")
    if len(backbone.inputs) != 1 or len(backbone.outputs) != 1:
        raise ConvertError(f"the model must have one input and one output (it has {len(backbone.inputs)} and "
                           f"{len(backbone.outputs)})")
    out_classes = backbone.output.shape[-1]
    if out_classes != num_classes:
        raise ConvertError(f"the model's output has {out_classes} classes, the dataset has {num_classes}")
    names = [layer.name for layer in backbone.layers]
    tensors = [backbone.input]
    for name in cut_names:
        if name not in names:
            close = [n for n in names if name.lower() in n.lower()][:5]
            hint = f" (did you mean {', '.join(close)}?)" if close else f" (layers: {', '.join(names[:12])}{'…' if len(names) > 12 else ''})"
            raise ConvertError(f"--exits: the model has no layer named {name!r}{hint}")
        if name == backbone.layers[-1].name:
            raise ConvertError(f"--exits: {name!r} is the output layer; the model's output is always the last exit")
        tensors.append(backbone.get_layer(name).output)
    blocks = []
    for i in range(1, len(tensors)):
        blocks.append(_sub_model(tensors[i - 1], tensors[i], cut_names[i - 1], cut_names[i - 2] if i > 1 else None,
                                 f"block_{i}"))
    final_body = _sub_model(tensors[-1], backbone.output, None, cut_names[-1] if cut_names else None, "final")
    if _ends_in_softmax(backbone):
        final = final_body
    else:
        inp = keras.Input(tensors[-1].shape[1:], name="final_in")
        final = keras.Model(inp, keras.layers.Softmax(name="final_softmax")(final_body(inp)), name="final")
    for layer in backbone.layers:
        layer.trainable = train_backbone
    heads = [exit_head(tuple(t.shape[1:]), num_classes, f"exit_{i}") for i, t in enumerate(tensors[1:], start=1)]
    input_head = exit_head(tuple(backbone.input.shape[1:]), num_classes, "exit_0") if input_exit else None
    outputs = ([input_head(backbone.input)] if input_head else []) + [h(t) for h, t in zip(heads, tensors[1:])]
    image = backbone.input
    final_probs = final(tensors[-1]) if final is not final_body else backbone.output
    training = keras.Model(image, outputs + [final_probs], name="multi_exit")
    exit_names = (["exit_0"] if input_head else []) + [f"exit_{i}" for i in range(1, len(tensors))] + [f"exit_{len(tensors)}"]
    return MultiExitModel(training, blocks, final, heads, input_head, exit_names)


def _sub_model(start, end, end_name: str | None, start_name: str | None, name: str) -> keras.Model:
    try:
        return keras.Model(start, end, name=name)
    except ValueError as exc:
        culprit = end_name or "the model's output"
        after = f"layer {start_name!r}" if start_name else "the input"
        raise ConvertError(
            f"--exits: the cut after {after} does not separate the graph: {culprit} also depends on tensors "
            f"computed before {after} (a cut inside a residual block or a branch); cut at a block boundary ({exc})"
        ) from exc


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
    backbone, cuts = reference_backbone(image_shape, num_classes, blocks, filters, architecture)
    return attach_exits(backbone, cuts, num_classes, input_exit=True, train_backbone=True)
