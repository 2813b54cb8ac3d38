"""Structured ℓ1 filter pruning of Keras functional models (Li et al.; Maleki et al.'s pruning step).

Pruning removes whole output channels — Conv2D filters or Dense units — with the smallest ℓ1
norms, and slices everything that reads those channels: the next Conv2D's or Dense's input
weights (through ``Flatten``, position by position), BatchNormalization, depthwise
convolutions, pooling and activations. Channels that meet at an ``Add`` (a residual
connection) form one group: its producers are pruned together, ranked by their summed ℓ1
norms, so both branches keep the same channels. The result is an ordinary, smaller Keras
model whose MACs drop as computed; nothing is masked.

A layer type this module does not know is passed through untouched when no pruned channel
reaches it, and is a :class:`~converters.errors.ConvertError` naming it when one would.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import keras
import numpy as np

from ..common.errors import ConvertError
from ..common.keras_graph import replay

# Layers whose output channel i is computed from input channel i alone (or that merge inputs channel-wise).
_CHANNELWISE = (
    keras.layers.BatchNormalization, keras.layers.Activation, keras.layers.ReLU, keras.layers.LeakyReLU,
    keras.layers.ELU, keras.layers.Softmax, keras.layers.MaxPooling2D, keras.layers.AveragePooling2D,
    keras.layers.GlobalAveragePooling2D, keras.layers.GlobalMaxPooling2D, keras.layers.Dropout,
    keras.layers.SpatialDropout2D, keras.layers.ZeroPadding2D, keras.layers.Cropping2D, keras.layers.UpSampling2D,
    keras.layers.Add, keras.layers.Subtract, keras.layers.Multiply, keras.layers.Average, keras.layers.Maximum,
    keras.layers.Minimum, keras.layers.Identity, keras.layers.DepthwiseConv2D,
)


def _is_producer(layer: keras.layers.Layer) -> bool:
    """Conv2D and Dense define their output channels (depthwise convolutions do not)."""
    return (isinstance(layer, keras.layers.Conv2D) and not isinstance(layer, keras.layers.DepthwiseConv2D)
            and getattr(layer, "groups", 1) == 1) or isinstance(layer, keras.layers.Dense)


# Keras operations that are not layers (``x + 3.0``, ``keras.ops.multiply``: MobileNetV3's hard sigmoid and hard
# swish) whose output channel i depends on input channel i alone when their other arguments are scalars.
_ELEMENTWISE_OPS = frozenset({
    "Add", "Subtract", "Multiply", "Divide", "TrueDivide", "Maximum", "Minimum", "Power", "Negative", "Abs",
    "Square", "Sqrt", "Exp", "Log", "Clip", "Relu", "Relu6", "Sigmoid", "HardSigmoid", "Silu", "HardSilu", "Swish",
    "HardSwish", "Gelu", "Tanh", "Elu", "Selu", "LeakyRelu", "Softplus",
})


def _channelwise(operation: Any, scalar_constants: bool) -> bool:
    """Whether ``operation``'s output channels follow its input channels one to one (see :data:`_CHANNELWISE`)."""
    if isinstance(operation, keras.layers.DepthwiseConv2D):
        return operation.depth_multiplier == 1
    if isinstance(operation, _CHANNELWISE):
        return True
    if isinstance(operation, keras.layers.Reshape):  # EfficientNet's squeeze-excite: (N, C) → (N, 1, 1, C)
        before, after = tuple(operation.input.shape[1:]), tuple(operation.output.shape[1:])
        return (bool(before) and bool(after) and before[-1] == after[-1] and None not in before + after
                and int(np.prod(before[:-1] or (1,))) == int(np.prod(after[:-1] or (1,))))
    return (not isinstance(operation, keras.layers.Layer) and type(operation).__name__ in _ELEMENTWISE_OPS
            and scalar_constants)


def _scalar_constants(args: Any) -> bool:
    """True when every argument of a call that is not a tensor is a number (or None, or a bool)."""
    if isinstance(args, dict):
        if "class_name" in args:  # a serialized object: a tensor is fine, any other (an array) is not a scalar
            return args["class_name"] == "__keras_tensor__"
        return all(_scalar_constants(value) for value in args.values())  # keyword arguments
    if isinstance(args, (list, tuple)):
        return all(_scalar_constants(value) for value in args)
    return args is None or isinstance(args, (bool, int, float))


def _inbound(model: keras.Model) -> tuple[dict[str, list[str]], dict[str, bool]]:
    """Operation name → names of the operations it reads, and whether its other arguments are all scalars, from
    the functional model's config."""
    result: dict[str, list[str]] = {}
    scalars: dict[str, bool] = {}
    for entry in model.get_config()["layers"]:
        nodes = entry.get("inbound_nodes", [])
        if len(nodes) > 1:
            raise ConvertError(f"layer {entry['name']!r} is called more than once (a shared layer): the pruner needs "
                               "each layer used once")
        names: list[str] = []

        def walk(obj: Any) -> None:
            if isinstance(obj, dict):
                history = obj.get("config", {}).get("keras_history") if obj.get("class_name") == "__keras_tensor__" else None
                if history:
                    names.append(history[0])
                else:
                    for value in obj.values():
                        walk(value)
            elif isinstance(obj, (list, tuple)):
                for value in obj:
                    walk(value)

        walk(nodes[0]["args"] if nodes else [])
        result[entry["name"]] = names
        scalars[entry["name"]] = _scalar_constants([nodes[0].get("args", []), nodes[0].get("kwargs", {})]
                                                   if nodes else [])
    return result, scalars


@dataclass
class ChannelGroup:
    """Tensors whose channels must stay identical, and the layers that define them."""

    id: int
    producers: list[str] = field(default_factory=list)
    members: list[str] = field(default_factory=list)
    fixed: str = ""  # why the group cannot be pruned ("" if it can)


@dataclass
class ChannelGraph:
    """Which channel group each layer's output belongs to, and Flatten's spatial repeat."""

    groups: dict[int, ChannelGroup]
    group_of: dict[str, int]
    repeat: dict[str, int]
    inbound: dict[str, list[str]]
    order: list[str]

    def prunable(self) -> list[ChannelGroup]:
        """Groups that can be pruned, in the order of their first producer (first to last)."""
        position = {name: i for i, name in enumerate(self.order)}
        groups = [g for g in self.groups.values() if g.producers and not g.fixed]
        return sorted(groups, key=lambda g: min(position[p] for p in g.producers))

    def group_named(self, layer: str) -> ChannelGroup:
        return self.groups[self.group_of[layer]]


def analyse(model: keras.Model) -> ChannelGraph:
    """Build the channel groups of a functional model."""
    if not isinstance(model, keras.Model) or not hasattr(model, "get_config"):
        raise ConvertError("the pruner needs a functional Keras model")
    inbound, scalar_constants = _inbound(model)
    parent: dict[int, int] = {}

    def find(g: int) -> int:
        while parent[g] != g:
            parent[g] = parent[parent[g]]
            g = parent[g]
        return g

    def new_group() -> int:
        g = len(parent)
        parent[g] = g
        return g

    raw_group: dict[str, int] = {}
    repeat: dict[str, int] = {}
    fixed: dict[int, str] = {}
    order = [operation.name for operation in model.operations]
    layers = {operation.name: operation for operation in model.operations}
    for layer in model.operations:
        name = layer.name
        sources = inbound.get(name, [])
        if isinstance(layer, keras.layers.InputLayer) or not sources:
            raw_group[name] = new_group()
            fixed[raw_group[name]] = "the model's input"
            repeat[name] = 1
        elif _is_producer(layer):
            raw_group[name] = new_group()
            repeat[name] = 1
        elif isinstance(layer, keras.layers.Flatten):
            raw_group[name] = raw_group[sources[0]]
            shape = layer.input.shape
            repeat[name] = repeat[sources[0]] * int(np.prod([d for d in shape[1:-1]] or [1]))
        elif _channelwise(layer, scalar_constants.get(name, False)):
            g = raw_group[sources[0]]
            for other in sources[1:]:
                h = raw_group[other]
                parent[find(h)] = find(g)
            raw_group[name] = g
            repeat[name] = 1 if isinstance(layer, (keras.layers.GlobalAveragePooling2D,
                                                     keras.layers.GlobalMaxPooling2D)) else repeat[sources[0]]
        else:
            for source in sources:  # an unknown layer reads these channels: they must stay as they are
                fixed.setdefault(raw_group[source], f"layer {name!r} ({type(layer).__name__}) reads them and the "
                                 "pruner cannot slice that layer type")
            raw_group[name] = new_group()
            fixed[raw_group[name]] = f"produced by {name!r} ({type(layer).__name__})"
            repeat[name] = 1
    for output in model.outputs:
        name = output._keras_history.operation.name
        fixed.setdefault(raw_group[name], "the model's output")
    groups: dict[int, ChannelGroup] = {}
    group_of = {}
    for name in order:
        root = find(raw_group[name])
        group = groups.setdefault(root, ChannelGroup(root))
        group.members.append(name)
        if _is_producer(layers[name]) and inbound.get(name):
            group.producers.append(name)
        group_of[name] = root
    for g, reason in fixed.items():
        groups[find(g)].fixed = groups[find(g)].fixed or reason
    return ChannelGraph(groups, group_of, repeat, inbound, order)


def filter_norms(model: keras.Model, group: ChannelGroup) -> np.ndarray:
    """Summed ℓ1 norm of each output channel over the group's producers."""
    total = None
    for name in group.producers:
        kernel = model.get_layer(name).get_weights()[0]
        norms = np.abs(kernel).reshape(-1, kernel.shape[-1]).sum(axis=0)
        total = norms if total is None else total + norms
    assert total is not None
    return total


def channels_to_keep(model: keras.Model, group: ChannelGroup, ratio: float) -> np.ndarray:
    """Indices (ascending) of the channels that survive pruning ``ratio`` of them."""
    norms = filter_norms(model, group)
    keep = max(1, int(round(len(norms) * (1.0 - ratio))))
    return np.sort(np.argsort(-norms, kind="stable")[:keep])


def check_ratio(ratio: float) -> float:
    if not 0.0 < ratio < 1.0:
        raise ConvertError(f"a pruning ratio must be in (0, 1), got {ratio}")
    return ratio


def prune_group(model: keras.Model, graph: ChannelGraph, group: ChannelGroup, keep: np.ndarray) -> keras.Model:
    """A new model in which ``group`` keeps only the channels ``keep``; weights sliced to match."""
    return prune_groups(model, graph, {group.id: keep})


def prune_groups(model: keras.Model, graph: ChannelGraph, keeps: dict[int, np.ndarray]) -> keras.Model:
    """A new model in which each group ``g`` of ``keeps`` keeps only the channels ``keeps[g]`` (ascending
    indices); every layer reading a pruned group is sliced to match."""
    for g in keeps:
        if graph.groups[g].fixed:
            group = graph.groups[g]
            raise ConvertError(f"cannot prune the channels of {', '.join(group.producers) or group.members[0]}: "
                               f"{group.fixed}")
    widths = {g: model.get_layer(graph.groups[g].producers[0]).get_weights()[0].shape[-1] for g in keeps}

    def kept(layer_name: str) -> tuple[np.ndarray, int] | None:
        """The channels kept of ``layer_name``'s output and its width before pruning, if its group is pruned."""
        g = graph.group_of[layer_name]
        return (keeps[g], widths[g]) if g in keeps else None

    def sliced(layer: keras.layers.Layer) -> tuple[keras.layers.Layer, list[np.ndarray]]:
        """A copy of ``layer`` (not yet built) and its weights, following the pruned channels it produces and
        reads."""
        name = layer.name
        sources = graph.inbound.get(name, [])
        config = layer.get_config()
        weights = layer.get_weights()
        read = next((kept(s) for s in sources if kept(s) is not None), None)
        produced = kept(name) if name in graph.groups[graph.group_of[name]].producers else None
        if produced is not None:
            keep = produced[0]
            key = "filters" if "filters" in config else "units"
            config[key] = len(keep)
            weights[0] = weights[0][..., keep]
            if len(weights) > 1:
                weights[1] = weights[1][keep]
        if read is not None and _is_producer(layer):
            keep, width = read
            rows = keep
            rep = graph.repeat[next(s for s in sources if kept(s) is not None)]
            if rep > 1:
                rows = (np.arange(rep)[:, None] * width + keep[None, :]).ravel()
            weights[0] = weights[0][..., rows, :] if not isinstance(layer, keras.layers.Dense) else weights[0][rows, :]
        elif read is not None and isinstance(layer, keras.layers.Reshape):
            config["target_shape"] = (*tuple(config["target_shape"])[:-1], len(read[0]))
        elif read is not None and isinstance(layer, keras.layers.BatchNormalization):
            weights = [w[read[0]] for w in weights]
        elif read is not None and isinstance(layer, keras.layers.DepthwiseConv2D):
            weights[0] = weights[0][:, :, read[0], :]
            if len(weights) > 1:
                weights[1] = weights[1][read[0]]
        elif read is not None and weights and not isinstance(layer, _CHANNELWISE):
            raise ConvertError(f"layer {name!r} ({type(layer).__name__}) reads pruned channels and the pruner cannot "
                               "slice its weights")
        return type(layer).from_config(config), weights

    def call(operation: Any, *args: Any, **kwargs: Any) -> Any:
        if not isinstance(operation, keras.layers.Layer):
            return operation(*args, **kwargs)  # a stateless operation (x + 3.0) on the new tensors
        copy, weights = sliced(operation)
        output = copy(*args, **kwargs)  # builds the copy: its weights can be set now
        if weights:
            copy.set_weights(weights)
        return output

    input_names = {id(op.output): op.name for op in model.operations if isinstance(op, keras.layers.InputLayer)}
    inputs = [keras.Input(shape=t.shape[1:], dtype=t.dtype, name=input_names.get(id(t))) for t in model.inputs]
    outputs = replay(model, inputs, call)
    return keras.Model(inputs if len(inputs) > 1 else inputs[0], outputs, name=model.name)


Retrain = Callable[[keras.Model, str], None]


LAYER_BY_LAYER_GROUPS = 8  # more channel groups than this: pruned in one shot (a retrain per group would take hours)


def prune_model(model: keras.Model, ratio: float, retrain: Retrain | None = None,
                say: Callable[[str], None] = lambda m: None) -> keras.Model:
    """Prune ``ratio`` of the channels of every prunable group, from the first layer to the last.

    After each group, ``retrain(model, last_producer)`` is called: the caller freezes that layer
    and everything before it and trains the rest briefly (Maleki et al.'s schedule). A network with more
    than :data:`LAYER_BY_LAYER_GROUPS` groups (MobileNet-, EfficientNet-, ResNet-class graphs) is pruned in one
    shot instead, every group ranked on the original weights, as dependency-graph pruners do; the caller's
    fine-tune then trains it as a whole.
    """
    check_ratio(ratio)
    graph = analyse(model)
    if not any(isinstance(layer, keras.layers.Conv2D) and _is_producer(layer) for layer in model.layers):
        raise ConvertError("the model has no Conv2D layer: structured filter pruning needs convolutions")
    pending = [g.producers[0] for g in graph.prunable()]
    if not pending:
        raise ConvertError("no layer can be pruned (every channel group reaches the output or an unknown layer)")
    if len(pending) > LAYER_BY_LAYER_GROUPS:
        groups = graph.prunable()
        keeps = {g.id: channels_to_keep(model, g, ratio) for g in groups}
        say(f"pruned {len(groups)} channel groups at once to {1 - ratio:.0%} of their channels")
        return prune_groups(model, graph, keeps)
    for first in pending:
        graph = analyse(model)
        group = graph.group_named(first)
        keep = channels_to_keep(model, group, ratio)
        model = prune_group(model, graph, group, keep)
        last = max(group.producers, key=graph.order.index)
        say(f"pruned {', '.join(group.producers)} to {len(keep)} channels")
        if retrain is not None:
            retrain(model, last)
    return model


def one_shot(model: keras.Model) -> bool:
    """True when :func:`prune_model` prunes ``model`` in one shot (see there)."""
    return len(analyse(model).prunable()) > LAYER_BY_LAYER_GROUPS
