"""The gated-family runtime (EnergyNet/SkipNet): before each block its gate decides, and a skipped
block is not invoked at all.

The stem computes the first gate; every later segment runs one block (or only its shortcut) and
then the next gate, threading the gates' shared LSTM state (h, c) through. Each block therefore
costs one invocation whether it runs or not, and a skipped block's convolutions never execute.
α moves the gates' logit threshold δ through a table calibrated on held-out data (α = 0.5 is the
trained threshold; α → 1 skips more). Gate decisions compare int8 codes.

Thread rules: a :class:`GatedRuntime` and its plans belong to one thread.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from ...core.backends import Backend
from ...core.bundle import Bundle
from ...core.decision import Decision
from ...core.operating import Mix
from ...core.manifest import Segment
from ...core.quant import Joint, Quantization
from ...core.runtime_base import BundleRuntime, check_table_rule
from ...core.timing import timed_pass
from ...core.units import check_unit_interval
from .manifest import GatedPart, table_delta

ALWAYS, NEVER = -128, 128  # int8 thresholds every code reaches / no code reaches
ROUTES = ("head",)


class GatePlan(NamedTuple):
    """Logit threshold δ for one α, as an int8 code per gate-computing segment (block runs when code ≥ it).

    ``every_block`` plans (δ = −∞) skip the gates and run the ungated network as one invocation.
    """

    alpha: float
    delta: float
    thresholds: dict[str, int]
    every_block: bool = False


@dataclass
class _Seg:
    """A segment's views and callables, unpacked once."""

    name: str
    segment: Segment
    run: Any
    x: np.ndarray
    h: np.ndarray | None
    c: np.ndarray | None
    features: np.ndarray | None
    logit: np.ndarray | None
    h_out: np.ndarray | None
    c_out: np.ndarray | None
    probs: np.ndarray | None
    confidence: np.ndarray | None
    confidence_values: tuple[float, ...]
    macs: int = 0
    x_from: dict[str, Joint] | None = None  # features producer's name → joint into x
    state_from: dict[str, tuple[Joint, Joint]] | None = None  # state producer's name → joints into h, c

    def q_in(self, name: str) -> Quantization:
        return self.segment.inputs[name].quantization

    def q_out(self, name: str) -> Quantization:
        return self.segment.outputs[name].quantization


class GatedRuntime(BundleRuntime):
    """Runs a ``gated`` bundle (arguments as :class:`~edge_runtime.core.runtime_base.BundleRuntime`)."""

    route_names = ROUTES

    def __init__(self, bundle: Bundle, backend: Backend | None = None, num_threads: int = 1,
                 delegates: list[Any] | None = None, fast: bool = True, rule: str = "frontier", **_: Any) -> None:
        check_table_rule(bundle, rule, "gated")
        super().__init__(bundle, backend, num_threads, delegates, fast)
        self.part: GatedPart = bundle.part
        spec = self.part.gated
        self.spec = spec
        self.block_names = tuple(b.name for b in spec.blocks)
        self._joints: dict[tuple[Quantization, Quantization], Joint] = {}
        self._stem = self._unpack(spec.stem)
        self._stem_joint = self._joint(self.input_quantization, self._stem.q_in("x"))
        self._blocks = [(b.name, self._unpack(b.run), self._unpack(b.skip)) for b in spec.blocks]
        self._wire()
        self._table = [(a, table_delta(d)) for a, d in zip(spec.alpha_table.alpha, spec.alpha_table.delta)]
        self._alphas = [a for a, _ in self._table]
        self._mono_values = bundle.monolithic.outputs["probs"].quantization.values_by_code()
        self._plans: dict[float, GatePlan] = {}
        self.follow_bundle_table("α moves the gates' threshold through held-out logit quantiles (every block at "
                                 "α = 0, the trained threshold at 0.5, none at 1)")

    def _unpack(self, name: str) -> _Seg:
        segment = self.bundle.segments[name]
        handle = self.handle(segment)
        out = handle.outputs
        values: tuple[float, ...] = ()
        if "confidence" in out:
            values = segment.outputs["confidence"].quantization.values_by_code()
        return _Seg(name, segment, handle.run, handle.inputs["x"], handle.inputs.get("h"), handle.inputs.get("c"),
                    out.get("features"), out.get("logit"), out.get("h"), out.get("c"), out.get("probs"), out.get("confidence"),
                    values, segment.macs)

    def _wire(self) -> None:
        """Precompute every joint a block's segments can need: from each segment that may have
        produced its features (the last one with a features output) and its LSTM state."""
        feature_producers = [self._stem]
        state_producers = [self._stem]
        for _, run, skip in self._blocks:
            for seg in (run, skip):
                seg.x_from = {p.name: self._joint(p.q_out("features"), seg.q_in("x")) for p in feature_producers}
                seg.state_from = {} if seg.h is None else {
                    p.name: (self._joint(p.q_out("h"), seg.q_in("h")), self._joint(p.q_out("c"), seg.q_in("c")))
                    for p in state_producers}
            feature_producers = feature_producers + [s for s in (run, skip) if s.features is not None]
            state_producers = [run, skip]

    def _joint(self, source: Quantization, target: Quantization) -> Joint:
        key = (source, target)
        joint = self._joints.get(key)
        if joint is None:
            joint = self._joints[key] = Joint(source, target)
        return joint

    # ------------------------------------------------------------------ plans
    def plan_for_delta(self, delta: float, alpha: float = float("nan")) -> GatePlan:
        """Run a block when its gate's logit ≥ ``delta`` (0 is the trained threshold; −∞ every block, +∞ none)."""
        thresholds = {}
        for seg in [self._stem] + [s for _, run, skip in self._blocks for s in (run, skip)]:
            if seg.logit is None:
                continue
            if math.isinf(delta):
                code = ALWAYS if delta < 0 else NEVER
            else:
                found = seg.q_out("logit").smallest_code_at_least(delta)
                code = NEVER if found is None else found
            thresholds[seg.name] = code
        return GatePlan(alpha, delta, thresholds, every_block=delta == -math.inf)

    def plan_for_setting(self, setting: dict[str, Any]) -> GatePlan:
        """The plan of an α table row: ``{"delta": δ}`` (±1e9 for every block / none)."""
        return self.plan_for_delta(table_delta(float(setting["delta"])))

    def expected_accuracy(self, alpha: float) -> float | None:
        """The α table's held-out accuracy at α (None for bundles without one)."""
        return None if self.alpha_plans is None else self.alpha_plans.expected(alpha)[1]

    def plan_for_alpha(self, alpha: float) -> GatePlan | Mix:
        """The plan for α: along the bundle's α table, or (older bundles) the nearest row of its δ table."""
        if self.alpha_plans is not None:
            return self.alpha_plans.plan(alpha)
        alpha = check_unit_interval("alpha", alpha)
        plan = self._plans.get(alpha)
        if plan is None:
            table = self._table
            i = bisect.bisect_left(self._alphas, alpha)
            best = min((j for j in (i - 1, i) if 0 <= j < len(table)), key=lambda j: abs(table[j][0] - alpha))
            plan = self._plans[alpha] = self.plan_for_delta(table[best][1], alpha)
        return plan

    def every_block_plan(self) -> GatePlan:
        """Every block runs: answered by the ungated network in one invocation."""
        return self.plan_for_delta(-math.inf, 0.0)

    def deepest_plan(self) -> GatePlan:
        """Every block (the ungated network): what ``--adapt`` falls back to when no row agrees as promised."""
        return self.every_block_plan()

    def only_block_plan(self, index: int) -> GatePlan:
        """Block ``index`` (0-based) runs, every other is skipped, whatever the gates say (for profiling)."""
        producers = {self._stem.name} if index == 0 else {s.name for s in self._blocks[index - 1][1:]}
        thresholds = {seg.name: (ALWAYS if seg.name in producers else NEVER)
                      for seg in [self._stem] + [s for _, run, skip in self._blocks for s in (run, skip)]
                      if seg.logit is not None}
        return GatePlan(float("nan"), float("nan"), thresholds)

    def no_block_plan(self) -> GatePlan:
        """Every block is skipped (only the shortcuts and gates run)."""
        return self.plan_for_delta(math.inf, 1.0)

    def describe(self, decision: Decision) -> dict[str, Any]:
        """The fields of a ``run`` record: how many and which blocks ran."""
        return {"exit": len(decision.ran), "exit_name": f"{len(decision.ran)}_blocks", "blocks_run": list(decision.ran)}

    # ------------------------------------------------------------------ running
    def classify(self, image: np.ndarray, plan: GatePlan) -> Decision:
        """Classify one quantized image (int8, ``(1, H, W, C)``); skipped blocks are never invoked.

        When every block runs anyway, the gates decide nothing: the ungated network answers in one
        invocation instead of a chain of them (the same weights; cheaper than any chain).
        """
        if plan.__class__ is Mix:
            plan = plan.pick()
        if plan.every_block:
            probs = self.monolithic_probs(image)
            label = int(probs.argmax())
            return Decision(label, self._mono_values[int(probs[0, label]) + 128], "head", self.block_names,
                            self.bundle.monolithic.macs)
        return self.classify_chain(image, plan)

    def classify_chain(self, image: np.ndarray, plan: GatePlan) -> Decision:
        """Through the gated chain, whatever the plan (what :meth:`classify` does for all but every-block plans)."""
        return self._chain(image, plan, None)

    def trace(self, image: np.ndarray, plan: GatePlan) -> dict[str, Any]:
        """The real-valued logit of every gate met and the blocks that ran, for one image (calibration)."""
        logits: list[float] = []
        decision = self._chain(image, plan, logits)
        return {"label": decision.label, "blocks": decision.ran, "logits": logits}

    def _chain(self, image: np.ndarray, plan: GatePlan, logits: list[float] | None) -> Decision:
        stem = self._stem
        self._stem_joint(image, stem.x)
        stem.run()
        macs = stem.macs
        features, source, producer = stem.features, stem.name, stem
        thresholds = plan.thresholds
        ran = []
        for name, run, skip in self._blocks:
            code = producer.logit[0, 0]
            if logits is not None:
                logits.append(float(producer.q_out("logit").dequantize(int(code))))
            if code >= thresholds[producer.name]:
                seg = run
                ran.append(name)
            else:
                seg = skip
            seg.x_from[source](features, seg.x)
            if seg.h is not None:
                to_h, to_c = seg.state_from[producer.name]
                to_h(producer.h_out, seg.h)
                to_c(producer.c_out, seg.c)
            seg.run()
            macs += seg.macs
            if seg.features is not None:
                features, source = seg.features, seg.name
            producer = seg
        probs = producer.probs
        label = int(probs.argmax())
        confidence = producer.confidence_values[int(producer.confidence[0, 0]) + 128]
        return Decision(label, confidence, "head", tuple(ran), macs)


def chain_overhead(runtime: GatedRuntime, images: list[np.ndarray], rounds: int = 5) -> dict[str, float]:
    """What the gated chain costs on this machine beside the ungated network, in µs per image (medians of
    interleaved rounds): every block skipped, every block run through the chain, and the ungated network.
    ``no_block_share`` near 1 means invoking segments and copying joints eats what skipping saves."""
    plans = {"no_block_us": runtime.no_block_plan(), "every_block_chain_us": runtime.every_block_plan()}
    runs = {"ungated_us": runtime.classify_monolithic,
            **{name: (lambda image, plan=plan: runtime.classify_chain(image, plan)) for name, plan in plans.items()}}
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for name, run in runs.items():
        timed_pass(run, images[:16])  # warm every segment
    for _ in range(rounds):
        for name, run in runs.items():
            samples[name].append(timed_pass(run, images)[1])
    result = {name: round(float(np.median(values)), 3) for name, values in samples.items()}
    result["no_block_share"] = round(result["no_block_us"] / result["ungated_us"], 4)
    return result
