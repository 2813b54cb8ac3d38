"""The multi-exit runtime: chain a bundle's segments and leave at the first good-enough exit.

For a desired accuracy Ã the runtime builds an :class:`ExitPlan` once (which exits can
fire, the int8 confidence code each one needs, which blocks run head-less) and then
classifies each input with integer comparisons only. The plan is the compiled form of
eq. 10 and gives the same exit as :func:`.exit_rule.choose_exit` on the
dequantized confidences (tested).

Thread rules: a :class:`MultiExitRuntime` and its plans belong to one thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ...core.backends import Backend
from ...core.bundle import Bundle
from ...core.decision import Decision
from ...core.manifest import Segment
from ...core.quant import Joint
from ...core.runtime_base import BundleRuntime
from ...core.units import check_unit_interval
from .exit_rule import desired_accuracy
from .manifest import MultiExitPart


@dataclass(frozen=True)
class _Step:
    """One invocation of a plan. The views and callables are unpacked here so the hot loop
    does no dict look-ups."""

    exit_index: int
    exit_name: str
    ran: tuple[str, ...]  # the exits whose heads have run once this step has
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
    """Runs a multi-exit bundle (arguments as :class:`~edge_runtime.core.runtime_base.BundleRuntime`).

    Args:
        beta1, beta2: eq. 10's β; default to the bundle's calibrated values.
    """

    def __init__(self, bundle: Bundle, backend: Backend | None = None, num_threads: int = 1,
                 delegates: list[Any] | None = None, fast: bool = True,
                 beta1: float | None = None, beta2: float | None = None) -> None:
        super().__init__(bundle, backend, num_threads, delegates, fast)
        self.part: MultiExitPart = bundle.part
        self.exits = self.part.exits
        calibration = self.part.calibration
        self.beta1 = calibration.beta1 if beta1 is None else beta1
        self.beta2 = calibration.beta2 if beta2 is None else beta2
        self.accuracies = tuple(ex.accuracy for ex in self.exits)
        self._plans: dict[float, ExitPlan] = {}
        self._probe: ExitPlan | None = None
        # Open every signature now so that a broken file fails at load, not mid-run.
        for stage in self.part.stages:
            self.handle(bundle.segments[stage.segment])

    @property
    def route_names(self) -> tuple[str, ...]:
        """Where a decision can answer: the exits' names, in order."""
        return self.part.names

    def describe(self, decision: Decision) -> dict[str, Any]:
        """The fields of a ``run`` record that say where the input left."""
        return {"exit": self.part.names.index(decision.answered_by), "exit_name": decision.answered_by}

    # ------------------------------------------------------------------ planning
    def desired_accuracy(self, alpha: float) -> float:
        """Eq. 7 for this bundle: α ∈ [0, 1] → Ã, clamped to the exits' accuracy range."""
        return desired_accuracy(alpha, self.part.calibration.energy_fit, min(self.accuracies), max(self.accuracies))

    def alpha_where_exits_start(self, tolerance: float = 1e-4) -> float:
        """The smallest α (to ``tolerance``) at which some exit before the last can fire.

        Below it every input runs to the last exit: how far up α's range that lies depends on
        the bundle's energy–accuracy fit and β (see eq. 7), so policies tuned for one bundle
        should be placed relative to it.
        """
        last = len(self.exits) - 1

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
        last = len(self.exits) - 1
        for index, ex in enumerate(self.exits):
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
        last = len(self.exits) - 1
        for index, ex in enumerate(self.exits):
            segment = self._stage_segment(source if ex.has_block else None, index)
            steps.append(self._step(index, segment, steps, index == last, None))
            if ex.has_block:
                source = index
        return ExitPlan(float("nan"), tuple(steps))

    def _stage_segment(self, source: int | None, target: int) -> Segment:
        return self.bundle.segments[self.part.stage_map[(source, target)].segment]

    def _step(self, index: int, segment: Segment, previous: list[_Step], always: bool,
              threshold: int | None) -> _Step:
        handle = self.handle(segment)
        from_image = self.part.stages_by_segment[segment.name].source is None
        if from_image:
            joint = Joint(self.input_quantization, segment.inputs["x"].quantization)
        else:
            feeder = next(s for s in reversed(previous) if "features" in s.segment.outputs)
            joint = Joint(feeder.segment.outputs["features"].quantization, segment.inputs["x"].quantization)
        macs = (previous[-1].macs if previous else 0) + segment.macs
        conf_quant = segment.outputs["confidence"].quantization
        values = conf_quant.values_by_code()
        ran = tuple(step.exit_name for step in previous) + (self.exits[index].name,)
        return _Step(index, self.exits[index].name, ran, segment, from_image, joint, always, threshold, macs,
                     handle.inputs["x"], handle.run, handle.outputs["confidence"].reshape(-1), handle.outputs["probs"],
                     handle.outputs.get("features"), values)

    # ------------------------------------------------------------------ running
    def classify(self, image: np.ndarray, plan: ExitPlan) -> Decision:
        """Classify one quantized image (int8, shape ``(1, H, W, C)``) under ``plan``."""
        features = None
        for step in plan.steps:
            step.joint(image if step.from_image else features, step.x)
            step.run()
            code = step.confidence.item()
            if step.always or (step.threshold is not None and code >= step.threshold):
                return Decision(int(step.probs.argmax()), step.confidence_values[code + 128], step.exit_name, step.ran,
                                step.macs)
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
