"""A user's Keras classifier as one flat graph of layer calls, and the places it can be cut.

``keras.applications`` models are flat functional graphs; users also nest them (a ``MobileNetV2`` inside
a model that adds ``Rescaling`` in front and a head behind) or write ``Sequential`` models. :func:`flatten`
calls every layer of the model again, in order, on new symbolic tensors, stepping into nested models, so
the result is one functional model whose layers are the user's own (same objects, same weights) and whose
every intermediate tensor can be named by its layer.

A **cut** is a tensor that carries everything forward: every later layer reaches the input only through
it (it dominates the output). Exits attach at cuts and segments end at them. In a graph whose calls are in
topological order, the output of call ``k`` is a cut exactly when no tensor computed before it is read
after it, which :class:`FlatGraph` checks in one sweep. Inside a residual block (an ``Add`` joining the
block's input again) or a squeeze-excite branch (a ``Multiply`` joining it) there is none, and a cut
asked for there is refused with the branch named.

Keras 3 has no public API for walking a functional graph; the walk uses ``Functional._run_through_graph``
(Keras' own interpreter of the graph, stable since Keras 3.0) in this one module.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import Any, Callable

import keras

from .errors import ConvertError
from .macs import layer_macs

JOIN_KINDS = {"Add": "residual", "Multiply": "squeeze-excite", "Concatenate": "concatenated",
              "Average": "averaged", "Subtract": "residual", "Maximum": "merged", "Minimum": "merged"}
# layers that only move or reshape data: a cut is better placed before them than after
DATA_MOVES = {"ZeroPadding2D", "Cropping2D", "Dropout", "SpatialDropout2D", "GaussianNoise", "GaussianDropout",
              "Flatten", "Reshape", "ActivityRegularization"}


@dataclass(frozen=True)
class Call:
    """One call of a layer (or a Keras operation) in the flat graph.

    Attributes:
        name: the layer's name; ``outer/inner`` when two nested models use the same inner name.
        operation: the layer (or operation) called.
        reads: indices of the calls whose outputs this call reads (-1: the image).
        output: the call's (first) output tensor.
        macs: multiply-accumulates of this call for one image.
    """

    name: str
    operation: Any
    reads: tuple[int, ...]
    output: Any
    macs: int

    @property
    def kind(self) -> str:
        return type(self.operation).__name__


@dataclass(frozen=True)
class Cut:
    """A tensor at which the network can be cut.

    Attributes:
        index: the call producing it.
        name: that call's name (what ``--exits`` takes).
        macs_before: MACs of the network up to and including this call, per image.
        boundary: True for one cut of each run of cuts with no MACs between them (conv → batch norm →
            activation → padding): the last that computes something, so an exit there does not split a
            convolution from its batch normalization or activation (what ``auto:N`` picks from).
    """

    index: int
    name: str
    macs_before: int
    shape: tuple[int, ...]
    boundary: bool


class FlatGraph:
    """A functional classifier flattened to one graph: its calls in order, their names, its cuts.

    Attributes:
        model: the flat model, image → the user's output (the user's layers and weights).
        calls: every call in topological order.
        total_macs: MACs of the whole network per image.
    """

    def __init__(self, model: keras.Model, calls: list[Call], aliases: dict[str, int], ambiguous: set[str]) -> None:
        self.model = model
        self.calls = calls
        self.total_macs = sum(c.macs for c in calls)
        self._by_name = {c.name: i for i, c in enumerate(calls)}
        self.aliases = dict(aliases)  # a nested model's name → the call producing its output
        self._by_name.update(aliases)
        self._ambiguous = ambiguous
        last_read = [-1] * (len(calls) + 1)  # by producer index + 1 (0: the image)
        for i, call in enumerate(calls):
            for producer in call.reads:
                last_read[producer + 1] = max(last_read[producer + 1], i)
        self._last_read = last_read
        self._cuts = self._find_cuts()

    def add_aliases(self, aliases: dict[str, int]) -> None:
        """Name more calls (nested models' names, from the graph this one was rebuilt from)."""
        self.aliases.update(aliases)
        self._by_name.update(aliases)

    @property
    def image(self) -> Any:
        return self.model.inputs[0]

    @property
    def output(self) -> Any:
        return self.model.outputs[0]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.calls]

    @property
    def cuts(self) -> list[Cut]:
        """Every tensor the network can be cut at, in order, but the output."""
        return list(self._cuts)

    def _find_cuts(self) -> list[Cut]:
        found: list[tuple[int, int]] = []  # (call index, MACs up to it)
        reach = self._last_read[0]  # the latest call reading anything computed before the current one
        cumulative = 0
        for i, call in enumerate(self.calls[:-1]):
            cumulative += call.macs
            if reach <= i < self._last_read[i + 1]:
                found.append((i, cumulative))
            reach = max(reach, self._last_read[i + 1])
        # Runs of cuts with no MACs between them (conv → batch norm → activation → padding): one boundary per
        # run, the last call that computes something (padding, dropout and reshapes only move data).
        boundaries = set()
        run: list[int] = []
        for k, (i, macs) in enumerate(found):
            run.append(i)
            if k + 1 == len(found) or found[k + 1][1] > macs:
                computing = [j for j in run if self.calls[j].kind not in DATA_MOVES]
                boundaries.add((computing or run)[-1])
                run = []
        return [Cut(i, self.calls[i].name, macs, tuple(self.calls[i].output.shape[1:]), i in boundaries)
                for i, macs in found]

    def index_of(self, name: str) -> int:
        """The call named ``name`` (a layer name, or a nested model's name for its output).

        Raises:
            ConvertError: no such layer (with close names), or a name several calls share.
        """
        if name in self._ambiguous:
            options = sorted(n for n in self._by_name if n.endswith("/" + name))
            raise ConvertError(f"--exits: several nested models have a layer named {name!r}; name one of "
                               f"{', '.join(options)}")
        if name not in self._by_name:
            names = self.names
            close = [n for n in names if name.lower() in n.lower()][:5]
            hint = (f" (did you mean {', '.join(close)}?)" if close else
                    f" (layers: {', '.join(names[:12])}{'…' if len(names) > 12 else ''}; --list-cuts shows where "
                    "exits can go)")
            raise ConvertError(f"--exits: the model has no layer named {name!r}{hint}")
        return self._by_name[name]

    def cut(self, name: str) -> Cut:
        """The cut after the layer ``name``.

        Raises:
            ConvertError: the layer is the output, or inside a branch (the branch, its join and the nearest
                cuts on either side named).
        """
        index = self.index_of(name)
        if index == len(self.calls) - 1:
            raise ConvertError(f"--exits: {name!r} is the output layer; the model's output is always the last exit")
        for cut in self._cuts:
            if cut.index == index:
                return cut
        raise ConvertError(self._why_not_a_cut(index, name))

    def _why_not_a_cut(self, index: int, name: str) -> str:
        # The tensor computed at or before `index` that is read furthest after it: the branch's other arm.
        join, bypass = -1, -1
        for producer in range(-1, index + 1):
            if producer != index and self._last_read[producer + 1] > index and self._last_read[producer + 1] > join:
                join, bypass = self._last_read[producer + 1], producer
        if join < 0:  # nothing bypasses it, so it is a dead end: its output is read by nobody after it
            return f"--exits: {name!r} does not lead to the output; choose a layer the output depends on"
        joiner = self.calls[join]
        kind = JOIN_KINDS.get(joiner.kind, "parallel")
        source = "the image" if bypass < 0 else repr(self.calls[bypass].name)
        before = [c.name for c in self._cuts if c.index < index]
        after = [c.name for c in self._cuts if c.index > index]
        options = " or ".join(repr(n) for n in (before[-1:] + after[:1])) or "a block boundary"
        return (f"--exits: {name!r} is inside a {kind} branch: {joiner.kind} {joiner.name!r} joins it with {source}, "
                f"computed before it, so no single tensor there carries everything forward; cut at {options} "
                "(--list-cuts shows every place an exit can go)")

    def tensor(self, index: int) -> Any:
        return self.calls[index].output


def ends_in_softmax(graph: FlatGraph) -> bool:
    """True when the network's last layer is a softmax (else it gives logits)."""
    operation = graph.calls[-1].operation
    if isinstance(operation, keras.layers.Softmax):
        return True
    return getattr(getattr(operation, "activation", None), "__name__", "") == "softmax"


def replay(model: keras.Model, inputs: list, call: Callable[..., Any]) -> Any:
    """``model``'s graph run on new ``inputs``, each operation applied as ``call(operation, *args, **kwargs)``
    (which may call a modified copy of it); returns the new outputs, structured as the model's."""
    if not hasattr(model, "_run_through_graph"):
        raise ConvertError(f"cannot trace {type(model).__name__} {model.name!r}: expected a functional Keras model")
    return model._run_through_graph(inputs, call_fn=call)  # see the module docstring


def variable_size(model: keras.Model) -> bool:
    """True when ``model`` takes images of any height or width (``keras.applications`` built without
    ``input_shape``: an input of (None, None, 3))."""
    return any(side is None for side in tuple(model.inputs[0].shape)[1:3])


def flatten(model: keras.Model, image_size: tuple[int, int] | None = None) -> FlatGraph:
    """``model`` (functional or ``Sequential``, nested models inside) as one flat graph of its own layers.

    Args:
        image_size: (height, width) to fix where the model takes images of any size (ignored otherwise):
            shapes, MACs and int8 segments need one.

    Raises:
        ConvertError: a model with more than one input or output, one Keras cannot trace, or one that takes
            images of any size when no ``image_size`` is given.
    """
    if not getattr(model, "inputs", None) or len(model.inputs) != 1 or len(model.outputs) != 1:
        inputs = len(getattr(model, "inputs", None) or [])
        raise ConvertError(f"the model must have one image input and one output (it has {inputs} input(s) and "
                           f"{len(getattr(model, 'outputs', None) or [])} output(s))")
    shape = tuple(model.inputs[0].shape[1:])
    if variable_size(model):
        if image_size is None:
            raise ConvertError(f"the model takes images of any size (input {shape}): give the size it will run at "
                               "(--size H,W)")
        shape = (int(image_size[0]), int(image_size[1]), *shape[2:])
    image = keras.Input(shape, name="image", dtype=model.inputs[0].dtype)
    recorder = _Recorder()
    output = recorder.call_model(model, image, prefix="")
    flat = keras.Model(image, output, name=model.name)
    graph = recorder.graph(flat)
    return _at_fixed_size(graph, model.name) if variable_size(model) else graph


def _at_fixed_size(graph: FlatGraph, name: str) -> FlatGraph:
    """The flat graph of a model that takes any size, called at a fixed one: its layers' own shapes (their
    first call's, which MACs and every sub-model's cost read) are still the any-size ones, so the layers are
    cloned at the fixed size (same names, same weights) and flattened again; nested models' names still
    name their outputs."""
    try:
        clone = keras.models.clone_model(graph.model)
        clone.set_weights(graph.model.get_weights())
    except Exception as error:  # Keras raises many kinds here (a Lambda, an operation it cannot clone)
        raise ConvertError(f"the model takes images of any size and could not be rebuilt at one "
                           f"({type(error).__name__}: {error}); save it built with input_shape=(H, W, C)") from None
    fixed = flatten(keras.Model(clone.inputs, clone.outputs, name=name))
    if [c.name for c in fixed.calls] == [c.name for c in graph.calls]:
        fixed.add_aliases(graph.aliases)
    return fixed


class _Recorder:
    """Calls every layer of a model again on new tensors, noting each call (see :func:`flatten`)."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.producer: dict[int, int] = {}  # id(tensor) → index of the call producing it (-1: the image)
        self.paths: list[str] = []  # each call's full path, outer/inner
        self.aliases: dict[str, int] = {}  # a nested model's name → the call producing its output

    def call_model(self, model: Any, tensor: Any, prefix: str) -> Any:
        if not self.calls and not self.producer:
            self.producer[id(tensor)] = -1
        if isinstance(model, keras.Sequential):
            for layer in model.layers:
                tensor = self.call(layer, (tensor,), {}, prefix)
            return tensor
        def call_fn(operation: Any, *args: Any, **kwargs: Any) -> Any:
            return self.call(operation, args, kwargs, prefix)

        return replay(model, [tensor], call_fn)

    def call(self, operation: Any, args: tuple, kwargs: dict, prefix: str) -> Any:
        if isinstance(operation, keras.Model):
            if len(getattr(operation, "inputs", None) or []) != 1:
                raise ConvertError(f"nested model {operation.name!r} must take one input")
            output = self.call_model(operation, args[0], prefix + operation.name + "/")
            self.aliases[prefix + operation.name] = self.producer[id(output)]
            return output
        output = operation(*args, **kwargs)
        reads = tuple(sorted({self.producer[id(t)] for t in keras.tree.flatten((args, kwargs))
                              if isinstance(t, keras.KerasTensor) and id(t) in self.producer}))
        index = len(self.calls)
        outputs = keras.tree.flatten(output)
        for t in outputs:
            self.producer[id(t)] = index
        macs = layer_macs(operation) if isinstance(operation, keras.layers.Layer) else 0
        self.calls.append(Call(operation.name, operation, reads, outputs[0], macs))
        self.paths.append(prefix + operation.name)
        return output

    def graph(self, flat: keras.Model) -> FlatGraph:
        counts: dict[str, int] = {}
        for call in self.calls:
            counts[call.name] = counts.get(call.name, 0) + 1
        ambiguous = {name for name, n in counts.items() if n > 1}
        calls = [call if call.name not in ambiguous else Call(path, call.operation, call.reads, call.output, call.macs)
                 for call, path in zip(self.calls, self.paths)]
        aliases = {}
        for path, index in self.aliases.items():
            short = path.rsplit("/", 1)[-1]
            aliases[path] = index
            if short not in counts:
                aliases[short] = index
        return FlatGraph(flat, calls, aliases, ambiguous)


def spaced_cuts(graph: FlatGraph, count: int, allowed: Callable[[Cut], bool] = lambda cut: True) -> list[Cut]:
    """``count`` boundary cuts spread evenly by MACs: the one nearest k/(count+1) of the network's MACs for
    each k, each used once, in order.

    Raises:
        ConvertError: fewer usable cuts than asked for.
    """
    total = max(graph.total_macs, 1)
    usable = [c for c in graph.cuts if c.boundary and 0 < c.macs_before < total and allowed(c)]
    if count < 1:
        raise ConvertError(f"--exits auto:{count}: expected a positive number of exits")
    if len(usable) < count:
        raise ConvertError(f"--exits auto:{count}: the model has {len(usable)} place(s) an exit can go "
                           f"(--list-cuts shows them)")
    chosen: list[Cut] = []
    start = 0
    spacing = total / (count + 1)
    for k in range(1, count + 1):
        target = total * k / (count + 1)
        window = usable[start:len(usable) - (count - k)]  # leave room for the exits still to place
        near = [c for c in window if abs(c.macs_before - target) <= spacing / 4] or window
        # Near the target, the narrowest tensor: a block's output rather than its expanded inside (a cheaper head
        # and a smaller joint).
        best = min(near, key=lambda c: (prod(c.shape), abs(c.macs_before - target)))
        chosen.append(best)
        start = usable.index(best) + 1
    return chosen
