"""One ``.tflite`` with one signature per segment, run through one interpreter.

Chaining segments costs little only when every segment shares one interpreter (one
thread pool) and each call skips the public API's per-call resizing, allocation and
dict building. :class:`SignatureModel` therefore keeps, for every signature, persistent
numpy views of its input and output tensors and invokes its subgraph directly through
the interpreter's internal wrapper. That wrapper is not public API, so the fast path is
feature-checked at construction and falls back to ``SignatureRunner`` (same results,
slower) when it is missing. Thread rules: one SignatureModel belongs to one thread.
Views stay valid for the model's lifetime because tensors are never resized.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .backends import Backend


@dataclass(frozen=True)
class SignatureHandle:
    """A signature ready to run.

    Attributes:
        key: the signature key.
        inputs: name → writable int8 array; write the input here before :attr:`run`.
        outputs: name → array holding the output after :attr:`run`; read before the next run
            of the same signature.
        run: invokes the signature's subgraph.
    """

    key: str
    inputs: dict[str, np.ndarray]
    outputs: dict[str, np.ndarray]
    run: Callable[[], None]


class SignatureModel:
    """All signatures of one model file behind one interpreter.

    Args:
        backend: interpreter package.
        path: the ``.tflite`` file.
        num_threads: CPU threads of the interpreter's pool.
        delegates: delegates from :mod:`edge_runtime.delegates`.
        fast: use the direct-subgraph fast path when the backend offers it.
    """

    def __init__(self, backend: Backend, path: str, num_threads: int = 1, delegates: list[Any] | None = None,
                 fast: bool = True) -> None:
        self.path = path
        self.interpreter = backend.make_interpreter(path, num_threads, delegates)
        self._signatures: dict[str, dict[str, dict[str, int]]] = self.interpreter._get_full_signature_list()
        wrapper = getattr(self.interpreter, "_interpreter", None)
        self.fast = fast and wrapper is not None and all(
            hasattr(wrapper, name) for name in ("Invoke", "tensor", "GetSubgraphIndexFromSignature", "AllocateTensors")
        )
        self._handles: dict[str, SignatureHandle] = {}
        self._named: set[str] = set()

    @property
    def signature_keys(self) -> list[str]:
        return list(self._signatures)

    def name_signature(self, key: str, tensors: dict[str, str], inputs: set[str], outputs: set[str]) -> None:
        """Treat the file's one subgraph as signature ``key``: each input and output name → the tensor
        called ``tensors[name]`` (a compiled Edge TPU model may keep no signature of its own)."""
        details = {d["name"]: d["index"] for d in self.interpreter.get_tensor_details()}
        missing = sorted(name for name in inputs | outputs if tensors.get(name) not in details)
        if missing:
            raise ValueError(f"no signature, and no tensor for {', '.join(missing)} among the file's tensors")
        self._signatures[key] = {"inputs": {n: details[tensors[n]] for n in sorted(inputs)},
                                 "outputs": {n: details[tensors[n]] for n in sorted(outputs)}}
        self._named.add(key)
        self.interpreter.allocate_tensors()

    def signature_io(self, key: str) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
        """Input and output tensor details (name, shape, dtype, quantization) of signature ``key``."""
        if key in self._named:
            by_index = {d["index"]: d for d in self.interpreter.get_tensor_details()}
            return tuple({name: by_index[index] for name, index in self._signatures[key][kind].items()}
                         for kind in ("inputs", "outputs"))  # type: ignore[return-value]
        runner = self.interpreter.get_signature_runner(key)
        return runner.get_input_details(), runner.get_output_details()

    def handle(self, key: str) -> SignatureHandle:
        """The handle of signature ``key`` (created once, then cached)."""
        if key in self._named and key not in self._handles:
            self._handles[key] = self._named_handle(key)
        if key not in self._handles:
            if self.fast:
                try:
                    self._handles[key] = self._fast_handle(key)
                except (TypeError, ValueError, AttributeError):
                    self.fast = False
            if key not in self._handles:
                self._handles[key] = self._public_handle(key)
        return self._handles[key]

    def _fast_handle(self, key: str) -> SignatureHandle:
        wrapper = self.interpreter._interpreter
        subgraph = wrapper.GetSubgraphIndexFromSignature(key)
        wrapper.AllocateTensors(subgraph)
        signature = self._signatures[key]
        inputs = {name: wrapper.tensor(wrapper, index, subgraph) for name, index in signature["inputs"].items()}
        for view in inputs.values():
            view.fill(0)
        # Output buffers of delegated subgraphs exist only after a first invoke.
        wrapper.Invoke(subgraph)
        outputs = {name: wrapper.tensor(wrapper, index, subgraph) for name, index in signature["outputs"].items()}

        # A partial of the C method: no Python frame per call (about 0.1 µs of each joint).
        return SignatureHandle(key, inputs, outputs, functools.partial(wrapper.Invoke, subgraph))

    def _public_handle(self, key: str) -> SignatureHandle:
        runner = self.interpreter.get_signature_runner(key)
        input_details, output_details = runner.get_input_details(), runner.get_output_details()
        inputs = {name: np.zeros(d["shape"], d["dtype"]) for name, d in input_details.items()}
        outputs = {name: np.zeros(d["shape"], d["dtype"]) for name, d in output_details.items()}

        def run() -> None:
            results = runner(**inputs)
            for name, value in results.items():
                np.copyto(outputs[name], value)

        return SignatureHandle(key, inputs, outputs, run)

    def _named_handle(self, key: str) -> SignatureHandle:
        interpreter = self.interpreter
        signature = self._signatures[key]
        shapes = {d["index"]: tuple(d["shape"]) for d in interpreter.get_tensor_details()}
        inputs = {name: np.zeros(shapes[index], np.int8) for name, index in signature["inputs"].items()}
        outputs = {name: np.zeros(shapes[index], np.int8) for name, index in signature["outputs"].items()}

        def run() -> None:
            for name, index in signature["inputs"].items():
                interpreter.set_tensor(index, inputs[name])
            interpreter.invoke()
            for name, index in signature["outputs"].items():
                np.copyto(outputs[name], interpreter.get_tensor(index))

        return SignatureHandle(key, inputs, outputs, run)
