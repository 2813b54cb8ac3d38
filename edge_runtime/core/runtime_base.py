"""What every bundle runtime shares: one interpreter per model file, signatures opened and checked
against the manifest at load, and the monolithic reference model.

Thread rules: a runtime belongs to one thread.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import BundleError, EdgeRuntimeError
from .backends import Backend, load_backend
from .bundle import Bundle
from .floor import Floor, parse_floor
from .placement import Placement
from .manifest import AlphaTable, Segment
from .operating import AlphaPlans
from .quant import Quantization
from .signature_model import SignatureHandle, SignatureModel


def check_table_rule(bundle: Bundle, rule: str, family: str) -> None:
    """Only multi-exit bundles have a second rule (Merkel's); any other family's α follows its α table."""
    if rule != "frontier":
        raise EdgeRuntimeError(f"{bundle.path}: --rule {rule} applies to multi-exit bundles; a {family} bundle's α "
                               "follows its α table")


class BundleRuntime:
    """Loads a verified bundle's model files; the families' runtimes build on it.

    Args:
        bundle: a verified bundle (:func:`edge_runtime.registry.load_bundle`).
        backend: interpreter package (default: the first installed).
        num_threads: interpreter threads; 1 is fastest for small models (a second thread must be
            woken for every segment).
        delegates: delegates from :mod:`edge_runtime.core.delegates`, for every model file; or a
            :class:`~edge_runtime.core.placement.Placement`: its compiled files (one interpreter each) run
            with its delegates, every other segment on the CPU.
        fast: use direct subgraph calls (see :mod:`edge_runtime.core.signature_model`).
    """

    def __init__(self, bundle: Bundle, backend: Backend | None = None, num_threads: int = 1,
                 delegates: list[Any] | Placement | None = None, fast: bool = True) -> None:
        self.bundle = bundle
        self.backend = backend or load_backend()
        self.num_threads = num_threads
        self._models: dict[str, SignatureModel] = {}
        self.placement = delegates if isinstance(delegates, Placement) else None
        self._delegates = None if isinstance(delegates, Placement) else delegates
        self._fast = fast
        self._checked: set[tuple[str, str]] = set()
        self._mono = self.handle(bundle.monolithic)

    def model(self, file: str, delegates: list[Any] | None = None) -> SignatureModel:
        """The interpreter of one model file of the bundle (opened once)."""
        if file not in self._models:
            path = self.bundle.file_path(file)
            try:
                self._models[file] = SignatureModel(self.backend, path, self.num_threads,
                                                    delegates or self._delegates, self._fast)
            except (ValueError, RuntimeError) as exc:
                raise BundleError(path, f"the interpreter cannot load it: {exc}") from exc
        return self._models[file]

    @property
    def open_files(self) -> list[str]:
        """The bundle's model files opened so far, one interpreter each."""
        return list(self._models)

    def on_edgetpu(self, segment: Segment) -> bool:
        """Whether ``segment`` runs from its compiled file through the Edge TPU delegate."""
        return self.placement is not None and segment.name in self.placement.files

    def handle(self, segment: Segment) -> SignatureHandle:
        """The segment's signature, opened once and checked against the manifest (names, shapes, quantization)."""
        if self.on_edgetpu(segment):
            assert self.placement is not None
            file = self.placement.files[segment.name]
            model = self.model(file, self.placement.delegates)
            if not model.signature_keys:  # a compiler that kept no signature: the tensors by name
                model.name_signature(segment.signature, self.placement.tensors.get(segment.name, {}),
                                     set(segment.inputs), set(segment.outputs))
        else:
            file = segment.file
            model = self.model(file)
        path = self.bundle.file_path(file)
        if segment.signature not in model.signature_keys:
            raise BundleError(path, f"has no signature {segment.signature!r} (it has {', '.join(model.signature_keys)})",
                              f"segments.{segment.name}.signature")
        if (file, segment.signature) in self._checked:
            return model.handle(segment.signature)
        handle = model.handle(segment.signature)
        details = dict(zip(("inputs", "outputs"), model.signature_io(segment.signature)))
        for kind, declared, actual in (("inputs", segment.inputs, handle.inputs), ("outputs", segment.outputs, handle.outputs)):
            field = f"segments.{segment.name}.{kind}"
            for name, spec in declared.items():
                if name not in actual:
                    raise BundleError(path, f"signature {segment.signature!r} has no {kind[:-1]} {name!r}", field)
                if tuple(actual[name].shape) != spec.shape or actual[name].dtype != np.int8:
                    raise BundleError(path, f"{kind[:-1]} {name!r} is {actual[name].dtype}{list(actual[name].shape)} "
                                      f"in the model, the manifest says int8{list(spec.shape)}", field)
                scale, zero_point = details[kind][name]["quantization"]
                if not spec.quantization.matches(Quantization(float(scale), int(zero_point))):
                    raise BundleError(path, f"{kind[:-1]} {name!r} is quantized (scale {scale}, zero point {zero_point}) "
                                      f"in the model, the manifest says (scale {spec.quantization.scale}, zero point "
                                      f"{spec.quantization.zero_point})", field)
        self._checked.add((file, segment.signature))
        return handle

    def follow_bundle_table(self, without_table: str) -> None:
        """α follows the bundle's α table; a bundle made before tables keeps the family's older mapping, which
        ``without_table`` describes for the note the commands say once."""
        table = self.bundle.header.alpha_table
        self.rule = "frontier"
        self.rule_note = None if table is not None else (
            f"{self.bundle.path} has no α table (converted before there was one): {without_table}; "
            "'edge-runtime calibrate' adds a table")
        plan_for_setting = self.plan_for_setting  # type: ignore[attr-defined]
        self.alpha_plans = AlphaPlans(table, plan_for_setting, self.bundle_floor) if table is not None else None

    @property
    def bundle_floor(self) -> Floor:
        """The accuracy floor the bundle was converted with (its manifest's ``accuracy_floor``)."""
        return parse_floor(self.bundle.header.accuracy_floor)

    def use_alpha_table(self, table: AlphaTable) -> None:
        """Follow ``table`` from now on (a table fitted again on measured joules, say), with the same floor."""
        floor = self.alpha_plans.floor if getattr(self, "alpha_plans", None) is not None else self.bundle_floor
        self.alpha_plans = AlphaPlans(table, self.plan_for_setting, floor)  # type: ignore[attr-defined]
        self.rule = "frontier"
        self.rule_note = None

    @property
    def input_quantization(self) -> Quantization:
        """Quantization of the image input (the same for every segment that reads the image)."""
        return self.bundle.monolithic.inputs["x"].quantization

    @property
    def uses_fast_path(self) -> bool:
        return all(model.fast for model in self._models.values())

    def classify_monolithic(self, image: np.ndarray) -> int:
        """Class index from the single int8 model of the whole network (the reference)."""
        return int(self.monolithic_probs(image).argmax())

    def audit_reference(self, image: np.ndarray, decision: Any) -> tuple[int, int]:
        """The monolithic network's answer for ``image``, just classified as ``decision`` (what the label-free
        audit compares with), and the MACs spent to learn it: here the whole monolithic model; a family that can
        finish from what the plan already computed overrides it."""
        return self.classify_monolithic(image), self.bundle.full_macs

    def monolithic_probs(self, image: np.ndarray) -> np.ndarray:
        """Run the monolithic model on one quantized image; its int8 probs (a view, valid until the next run)."""
        np.copyto(self._mono.inputs["x"], image)
        self._mono.run()
        return self._mono.outputs["probs"]
