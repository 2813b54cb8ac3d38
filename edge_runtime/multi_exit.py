"""The multi-exit runtime: chain a bundle's segments and leave at the first good-enough exit.

For a desired accuracy Ã the runtime builds an :class:`ExitPlan` once (which exits can
fire, the int8 confidence code each one needs, which blocks run head-less) and then
classifies each input with integer comparisons only. The plan is the compiled form of
eq. 10 and gives the same exit as :func:`edge_runtime.exit_rule.choose_exit` on the
dequantized confidences (tested).

Thread rules: a :class:`MultiExitRuntime` and its plans belong to one thread.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from .backends import Backend, load_backend
from .bundle import Bundle, Segment
from .exit_rule import check_unit_interval, desired_accuracy
from .quant import Joint
from .runtime_base import BundleRuntime


class Decision(NamedTuple):
    """The answer for one input: class index, its softmax probability, the exit (or route) taken
    (0-based), the MACs of the segments that ran, and for gated bundles the blocks that ran."""

    label: int
    confidence: float
    exit_index: int
    macs: int
    blocks: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Step:
    """One invocation of a plan. The views and callables are unpacked here so the hot loop
    does no dict look-ups."""

    exit_index: int
    segment: Segment
    from_image: bool
    joint: Joint  # from the image (quantized as the monolithic input) or the feeding stage's features
    always: bool
    threshold: int | None  # int8 confidence code at or above which the input leaves here
    macs: int  # cumulative MACs of the steps up to and including this one
    x: np.ndarray
    run: Any
    confidence: np.ndarray
    probs: np.ndarray
    features: np.ndarray | None
    confidence_values: tuple[float, ...]  # dequantized confidence, indexed by code + 128


@dataclass(frozen=True)
class ExitPlan:
    """Eq. 10 compiled for one desired accuracy Ã (see :meth:`MultiExitRuntime.plan`)."""

    desired_accuracy: float
    steps: tuple[_Step, ...]

    @property
    def invocations(self) -> int:
        return len(self.steps)


class MultiExitRuntime(BundleRuntime):
    """Runs a multi-exit bundle.

    Args:
        bundle: a bundle from :func:`edge_runtime.bundle.load_bundle`.
        backend: interpreter package (default: the first installed).
        num_threads: interpreter threads; 1 is fastest for small models (a second thread
            must be woken for every segment).
        delegates: delegates from :mod:`edge_runtime.delegates`.
        fast: use direct subgraph calls (see :mod:`edge_runtime.signature_model`).
        beta1, beta2: eq. 10's β; default to the bundle's calibrated values.
    """

    def __init__(self, bundle: Bundle, backend: Backend | None = None, num_threads: int = 1,
                 delegates: list[Any] | None = None, fast: bool = True,
                 beta1: float | None = None, beta2: float | None = None) -> None:
        super().__init__(bundle, backend, num_threads, delegates, fast)
        self.beta1 = bundle.beta1 if beta1 is None else beta1
        self.beta2 = bundle.beta2 if beta2 is None else beta2
        self.accuracies = tuple(ex.accuracy for ex in bundle.exits)
        self._plans: dict[float, ExitPlan] = {}
        self._probe: ExitPlan | None = None
        # Open every signature now so that a broken file fails at load, not mid-run.
        for stage in bundle.stages.values():
            self._handle(bundle.segments[stage.segment])

    @property
    def route_names(self) -> tuple[str, ...]:
        """What ``Decision.exit_index`` indexes: the exits' names."""
        return tuple(ex.name for ex in self.bundle.exits)

    # ------------------------------------------------------------------ planning
    def desired_accuracy(self, alpha: float) -> float:
        """Eq. 7 for this bundle: α ∈ [0, 1] → Ã, clamped to the exits' accuracy range."""
        return desired_accuracy(alpha, self.bundle.energy_fit, min(self.accuracies), max(self.accuracies))

    def alpha_where_exits_start(self, tolerance: float = 1e-4) -> float:
        """The smallest α (to ``tolerance``) at which some exit before the last can fire.

        Below it every input runs to the last exit: how far up α's range that lies depends on
        the bundle's energy–accuracy fit and β (see eq. 7), so policies tuned for one bundle
        should be placed relative to it.
        """
        last = len(self.bundle.exits) - 1

        def early(alpha: float) -> bool:
            plan = self.plan_for_alpha(alpha)
            return plan.invocations > 1 or plan.steps[0].exit_index != last

        if early(0.0):
            return 0.0  # β1 lets an early exit fire even at full desired accuracy
        if not early(1.0):
            return 1.0
        low, high = 0.0, 1.0
        while high - low > tolerance:
            middle = (low + high) / 2
            low, high = (low, middle) if early(middle) else (middle, high)
        return high

    def plan_for_alpha(self, alpha: float) -> ExitPlan:
        """The plan for trade-off factor α (eq. 7, then eq. 10)."""
        return self.plan(self.desired_accuracy(alpha))

    def plan(self, desired: float) -> ExitPlan:
        """Compile eq. 10 for desired accuracy Ã ∈ [0, 1] (cached per Ã)."""
        desired = check_unit_interval("desired accuracy", desired)
        plan = self._plans.get(desired)
        if plan is None:
            plan = self._build_plan(desired)
            if len(self._plans) > 4096:
                self._plans.clear()
            self._plans[desired] = plan
        return plan

    def _build_plan(self, desired: float) -> ExitPlan:
        steps: list[_Step] = []
        source: int | None = None
        last = len(self.bundle.exits) - 1
        for index, ex in enumerate(self.bundle.exits):
            segment = self._stage_segment(source if ex.has_block else None, index)
            conf_quant = segment.outputs["confidence"].quantization
            always = index == last or self.beta1 * ex.accuracy >= desired
            threshold = None if always else conf_quant.smallest_code_at_least(self.beta2 * desired)
            if not always and threshold is None:
                continue  # this exit cannot fire: its block runs inside the next stage
            steps.append(self._step(index, segment, steps, always, threshold))
            if always:
                break
            if ex.has_block:
                source = index
        return ExitPlan(desired, tuple(steps))

    def fixed_plan(self, exit_index: int) -> ExitPlan:
        """Run the network truncated at exit ``exit_index`` and answer there (fixed depth): one invocation."""
        return ExitPlan(float("nan"), (self._step(exit_index, self._stage_segment(None, exit_index), [], True, None),))

    def every_exit_plan(self) -> ExitPlan:
        """Every exit's head in turn (consecutive stages), answering only at the last."""
        steps: list[_Step] = []
        source: int | None = None
        last = len(self.bundle.exits) - 1
        for index, ex in enumerate(self.bundle.exits):
            segment = self._stage_segment(source if ex.has_block else None, index)
            steps.append(self._step(index, segment, steps, index == last, None))
            if ex.has_block:
                source = index
        return ExitPlan(float("nan"), tuple(steps))

    def _stage_segment(self, source: int | None, target: int) -> Segment:
        return self.bundle.segments[self.bundle.stages[(source, target)].segment]

    def _step(self, index: int, segment: Segment, previous: list[_Step], always: bool,
              threshold: int | None) -> _Step:
        handle = self._handle(segment)
        from_image = self.bundle.stages_by_segment[segment.name].source is None
        if from_image:
            joint = Joint(self.input_quantization, segment.inputs["x"].quantization)
        else:
            feeder = next(s for s in reversed(previous) if "features" in s.segment.outputs)
            joint = Joint(feeder.segment.outputs["features"].quantization, segment.inputs["x"].quantization)
        macs = (previous[-1].macs if previous else 0) + segment.macs
        conf_quant = segment.outputs["confidence"].quantization
        values = conf_quant.values_by_code()
        return _Step(index, segment, from_image, joint, always, threshold, macs, handle.inputs["x"], handle.run, handle.outputs["confidence"].reshape(-1),
                     handle.outputs["probs"], handle.outputs.get("features"), values)

    # ------------------------------------------------------------------ running
    def classify(self, image: np.ndarray, plan: ExitPlan) -> Decision:
        """Classify one quantized image (int8, shape ``(1, H, W, C)``) under ``plan``."""
        features = None
        for step in plan.steps:
            step.joint(image if step.from_image else features, step.x)
            step.run()
            code = step.confidence.item()
            if step.always or (step.threshold is not None and code >= step.threshold):
                return Decision(int(step.probs.argmax()), step.confidence_values[code + 128], step.exit_index, step.macs)
            if step.features is not None:
                features = step.features
        raise AssertionError("a plan always ends with an exit that answers")

    def exit_scores(self, image: np.ndarray) -> tuple[list[int], list[float]]:
        """Run every exit's head for one image: each exit's label and dequantized confidence."""
        if self._probe is None:
            self._probe = self.every_exit_plan()
        labels, confidences = [], []
        features = None
        for step in self._probe.steps:
            step.joint(image if step.from_image else features, step.x)
            step.run()
            labels.append(int(step.probs.argmax()))
            confidences.append(step.confidence_values[int(step.confidence[0]) + 128])
            if step.features is not None:
                features = step.features
        return labels, confidences


def open_runtime(bundle_path: str, backend_name: str | None = None, num_threads: int = 1,
                 delegate_names: list[str] | None = None, **kwargs: Any) -> Any:
    """Load and verify a bundle and create the runtime of its family (the usual entry point)."""
    from .bundle import load_bundle
    from .delegates import load_delegates

    bundle = load_bundle(os.fspath(bundle_path))
    backend = load_backend(backend_name)
    delegates = load_delegates(backend, delegate_names) if delegate_names else None
    if bundle.family == "pruned":
        from .pruned import PrunedRuntime

        return PrunedRuntime(bundle, backend, num_threads, delegates, **kwargs)
    if bundle.family == "gated":
        from .gated import GatedRuntime

        return GatedRuntime(bundle, backend, num_threads, delegates, **kwargs)
    return MultiExitRuntime(bundle, backend, num_threads, delegates, **kwargs)
