"""The multi-exit runtime: chain a bundle's segments and leave at the first exit whose confidence
reaches its threshold.

A plan (:class:`ExitPlan`) is compiled once per setting: which exits can fire, the int8 confidence
code each one needs, which blocks run head-less inside the next invocation. Each input is then
classified with integer comparisons only. Two rules set the thresholds from α:

* ``frontier`` (the default): the bundle's α table (:mod:`edge_runtime.core.frontier`): per-exit
  thresholds fitted on held-out data, expected energy linear in α;
* ``merkel``: eq. 7 (α → desired accuracy Ã) then eq. 10 (the first exit with β1·A_l ≥ Ã or
  C_l ≥ β2·Ã). Its plan gives the same exit as :func:`.exit_rule.choose_exit` on the dequantized
  confidences (tested). Bundles without an α table use it.

Thread rules: a :class:`MultiExitRuntime` belongs to one thread; plans may be built on another
(the live α does) because they only combine signature handles opened at construction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Literal, Sequence

import numpy as np

from ...core.backends import Backend
from ...core.bundle import Bundle
from ...core.decision import Decision
from ...core.manifest import Segment
from ...core.operating import AlphaPlans, Mix
from ...core.quant import Joint
from ...core.runtime_base import BundleRuntime
from ...core.units import check_unit_interval
from .exit_rule import desired_accuracy
from .manifest import MultiExitPart

Rule = Literal["frontier", "merkel"]
RULES: tuple[str, ...] = ("frontier", "merkel")
_ALWAYS = -128  # an int8 confidence code every input reaches
_NEVER = 128  # one no input reaches


@dataclass(frozen=True)
class _Resume:
    """The rest of the network after an exit, as one invocation: what an audit runs to learn the monolithic
    network's answer without recomputing the blocks the plan already ran."""

    into: Any  # numpy.copyto, or a requantizing copy (Joint.into)
    from_image: bool  # the exit is on the input: the rest is the whole network
    x: np.ndarray
    run: Any
    probs: np.ndarray
    macs: int


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
    resume: _Resume | None  # from this step's exit to the last one; None at the last exit


@dataclass(frozen=True)
class ExitPlan:
    """Confidence thresholds compiled into invocations.

    Attributes:
        thresholds: per exit but the last, the confidence (0–1) at or above which an input leaves
            there, or None where the exit is off.
        desired_accuracy: Ã when the plan comes from eq. 10 (else nan).
    """

    thresholds: tuple[float | None, ...]
    desired_accuracy: float
    steps: tuple[_Step, ...]
    hot: tuple[tuple[Any, ...], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # What classify's loop reads per step, flattened: tuple unpacking beats attribute look-ups, and on a
        # 220 µs network with five exits those look-ups were about 1% of the chain.
        hot = tuple((step.joint.into, step.from_image, step.x, step.run, step.confidence,
                     _ALWAYS if step.always else _NEVER if step.threshold is None else step.threshold,
                     step.features, step)
                    for step in self.steps)
        object.__setattr__(self, "hot", hot)

    @property
    def invocations(self) -> int:
        return len(self.steps)


class MultiExitRuntime(BundleRuntime):
    """Runs a multi-exit bundle (arguments as :class:`~edge_runtime.core.runtime_base.BundleRuntime`).

    Args:
        beta1, beta2: eq. 10's β; default to the bundle's calibrated values.
        rule: how α sets the thresholds (see the module docstring).
    """

    def __init__(self, bundle: Bundle, backend: Backend | None = None, num_threads: int = 1,
                 delegates: list[Any] | None = None, fast: bool = True,
                 beta1: float | None = None, beta2: float | None = None, rule: Rule = "frontier") -> None:
        super().__init__(bundle, backend, num_threads, delegates, fast)
        self.part: MultiExitPart = bundle.part
        self.exits = self.part.exits
        calibration = self.part.calibration
        self.beta1 = calibration.beta1 if beta1 is None else beta1
        self.beta2 = calibration.beta2 if beta2 is None else beta2
        self.accuracies = tuple(ex.accuracy for ex in self.exits)
        self._plans: dict[Any, ExitPlan] = {}
        self._probe: ExitPlan | None = None
        # classify's last answer and the step that gave it, which audit_reference resumes
        self._answered: tuple[_Step | None, Decision | None] = (None, None)
        # Open every signature now so that a broken file fails at load, not mid-run.
        for stage in self.part.stages:
            self.handle(bundle.segments[stage.segment])
        table = bundle.header.alpha_table
        self.rule_note: str | None = None  # said once by the commands, when α does not follow an α table
        if rule == "frontier" and table is None:
            self.rule_note = (f"{bundle.path} has no α table (converted before there was one): α follows eq. 7 and "
                              "eq. 10 (--rule merkel); 'edge-runtime calibrate' adds a table")
            rule = "merkel"
        if rule not in RULES:
            raise ValueError(f"rule {rule!r}: expected one of {', '.join(RULES)}")
        self.rule: Rule = rule
        self.alpha_plans = (AlphaPlans(table, self.plan_for_setting, self.bundle_floor)
                            if rule == "frontier" and table else None)

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

    def expected_accuracy(self, alpha: float) -> float:
        """What the rule in use aims at for α: the table's held-out accuracy, or eq. 7's Ã."""
        if self.alpha_plans is not None:
            return self.alpha_plans.expected(alpha)[1]
        return self.desired_accuracy(alpha)

    def plan_for_alpha(self, alpha: float) -> ExitPlan | Mix:
        """The plan for trade-off factor α under the runtime's rule."""
        if self.alpha_plans is not None:
            return self.alpha_plans.plan(alpha)
        return self.plan(self.desired_accuracy(alpha))

    def plan_for_accuracy(self, accuracy: float) -> ExitPlan | Mix:
        """The cheapest plan aiming at ``accuracy``: the table's largest α reaching it, or eq. 10 for Ã."""
        if self.alpha_plans is not None:
            return self.alpha_plans.plan(self.alpha_plans.alpha_for_accuracy(check_unit_interval("accuracy",
                                                                                              accuracy)))
        return self.plan(accuracy)

    def plan(self, desired: float) -> ExitPlan:
        """Compile eq. 10 for desired accuracy Ã ∈ [0, 1] (cached per Ã)."""
        desired = check_unit_interval("desired accuracy", desired)
        thresholds = tuple(0.0 if self.beta1 * ex.accuracy >= desired else self.beta2 * desired
                           for ex in self.exits[:-1])
        return self.plan_from_thresholds(thresholds, desired)

    def plan_for_setting(self, setting: dict[str, Any]) -> ExitPlan:
        """The plan of an α table row: ``{"thresholds": [confidence or null, …]}`` (one per exit but the last)."""
        thresholds = setting["thresholds"]
        return self.plan_from_thresholds(tuple(None if t is None else float(t) for t in thresholds))

    def plan_from_thresholds(self, thresholds: Sequence[float | None], desired: float = float("nan")) -> ExitPlan:
        """Compile per-exit confidence thresholds (None: the exit is off; 0: it always answers). Cached."""
        key = (tuple(thresholds), desired)
        plan = self._plans.get(key)
        if plan is None:
            if len(self._plans) > 4096:
                self._plans.clear()
            plan = self._plans[key] = self._compile(tuple(thresholds), desired)
        return plan

    def _compile(self, thresholds: tuple[float | None, ...], desired: float) -> ExitPlan:
        if len(thresholds) != len(self.exits) - 1:
            raise ValueError(f"expected {len(self.exits) - 1} thresholds (one per exit but the last), "
                             f"got {len(thresholds)}")
        steps: list[_Step] = []
        source: int | None = None
        last = len(self.exits) - 1
        for index, ex in enumerate(self.exits):
            segment = self._stage_segment(source if ex.has_block else None, index)
            code = None
            if index < last:
                value = thresholds[index]
                code = None if value is None else segment.outputs["confidence"].quantization.smallest_code_at_least(value)
                if code is None:
                    continue  # this exit cannot fire: its block runs inside the next stage
            always = index == last or code == -128
            steps.append(self._step(index, segment, steps, always, None if always else code))
            if always:
                break
            if ex.has_block:
                source = index
        return ExitPlan(thresholds, desired, tuple(steps))

    def fixed_plan(self, exit_index: int) -> ExitPlan:
        """Run the network truncated at exit ``exit_index`` and answer there (fixed depth): one invocation."""
        step = self._step(exit_index, self._stage_segment(None, exit_index), [], True, None)
        return ExitPlan((), float("nan"), (step,))

    def deepest_plan(self) -> ExitPlan:
        """Every input to the last exit (the whole network, one invocation): what ``--adapt`` falls back to when
        no row of the α table agrees as promised."""
        return self.fixed_plan(len(self.exits) - 1)

    def every_exit_plan(self) -> ExitPlan:
        """Every exit's head in turn (consecutive stages), answering only at the last."""
        return self.exits_plan(range(len(self.exits)))

    def exits_plan(self, exits: Iterable[int]) -> ExitPlan:
        """The heads of ``exits`` (indices) and the last exit's in turn, one invocation each, answering only at the
        last: what a chain through those exits costs when none fires (benchmarks)."""
        active = set(exits)
        steps: list[_Step] = []
        source: int | None = None
        last = len(self.exits) - 1
        for index, ex in enumerate(self.exits):
            if index != last and index not in active:
                continue  # its block runs inside the next stage
            segment = self._stage_segment(source if ex.has_block else None, index)
            steps.append(self._step(index, segment, steps, index == last, None))
            if ex.has_block:
                source = index
        return ExitPlan((), float("nan"), tuple(steps))

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
        values = segment.outputs["confidence"].quantization.values_by_code()
        ran = tuple(step.exit_name for step in previous) + (self.exits[index].name,)
        return _Step(index, self.exits[index].name, ran, segment, from_image, joint, always, threshold, macs,
                     handle.inputs["x"], handle.run, handle.outputs["confidence"].reshape(-1), handle.outputs["probs"],
                     handle.outputs.get("features"), values, self._resume(index, segment))

    def _resume(self, index: int, segment: Segment) -> _Resume | None:
        """How to finish the network from exit ``index``, reached by ``segment`` (None at the last exit)."""
        last = len(self.exits) - 1
        if index == last:
            return None
        has_block = self.exits[index].has_block
        rest = self._stage_segment(index if has_block else None, last)
        handle = self.handle(rest)
        source = segment.outputs["features"].quantization if has_block else self.input_quantization
        return _Resume(Joint(source, rest.inputs["x"].quantization).into, not has_block, handle.inputs["x"],
                       handle.run, handle.outputs["probs"], rest.macs)

    # ------------------------------------------------------------------ running
    def classify(self, image: np.ndarray, plan: ExitPlan | Mix) -> Decision:
        """Classify one quantized image (int8, shape ``(1, H, W, C)``) under ``plan``."""
        if plan.__class__ is Mix:
            plan = plan.pick()
        features = image
        for into, from_image, x, run, confidence, threshold, output, step in plan.hot:
            into(x, image if from_image else features)
            run()
            code = confidence.item()
            if code >= threshold:
                decision = Decision(int(step.probs.argmax()), step.confidence_values[code + 128], step.exit_name,
                                    step.ran, step.macs)
                self._answered = (step, decision)
                return decision
            if output is not None:
                features = output
        raise AssertionError("a plan always ends with an exit that answers")

    def audit_reference(self, image: np.ndarray, decision: Decision) -> tuple[int, int]:
        """The monolithic network's answer for ``image``, which :meth:`classify` just answered as ``decision``, and
        the MACs that took: the rest of the network from the features of the exit that answered (one invocation,
        bit-exact with the monolithic model), nothing when that exit is the last. Call it before anything else
        runs on this runtime."""
        step, answered = self._answered
        if answered is not decision:  # not classify's last answer: its features are gone
            return super().audit_reference(image, decision)
        resume = step.resume
        if resume is None:
            return decision.label, 0
        resume.into(resume.x, image if resume.from_image else step.features)
        resume.run()
        return int(resume.probs.argmax()), resume.macs

    def exit_scores(self, image: np.ndarray) -> tuple[list[int], list[float]]:
        """Run every exit's head for one image: each exit's label and confidence (0–1, as the int8 code says)."""
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
