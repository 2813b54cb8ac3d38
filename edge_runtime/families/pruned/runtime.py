"""The pruned-family runtime (Maleki et al.): trunk → ICNN head → AP head or MP.

Each input runs AP's convolutional trunk, then the ICNN's head on the trunk's output. Below
the threshold (LCI) AP's dense head finishes from that same output, nothing recomputed;
at or above it (HCI) the mildly pruned network MP runs on the image. α moves the threshold
through the table calibrated on held-out data (α → 1 favours AP). Decisions compare int8
codes only.

Thread rules: a :class:`PrunedRuntime` and its plans belong to one thread.
"""

from __future__ import annotations

import bisect
from typing import Any, NamedTuple

import numpy as np

from ...core.backends import Backend
from ...core.bundle import Bundle
from ...core.decision import Decision
from ...core.operating import Mix
from ...core.quant import Joint
from ...core.runtime_base import BundleRuntime, check_table_rule
from ...core.units import check_unit_interval
from .manifest import NEVER, PrunedPart

AP, MP = 0, 1
ROUTES = ("ap", "mp")
RAN_AP, RAN_MP = ("selector",), ("selector", "mp")


class RoutePlan(NamedTuple):
    """The HCI threshold for one α: an input goes to MP when the ICNN's int8 HCI code ≥ ``threshold_q``."""

    alpha: float
    threshold_q: int


class PrunedRuntime(BundleRuntime):
    """Runs a ``pruned`` bundle (arguments as :class:`~edge_runtime.core.runtime_base.BundleRuntime`)."""

    route_names = ROUTES

    def __init__(self, bundle: Bundle, backend: Backend | None = None, num_threads: int = 1,
                 delegates: list[Any] | None = None, fast: bool = True, rule: str = "frontier", **_: Any) -> None:
        check_table_rule(bundle, rule, "pruned")
        super().__init__(bundle, backend, num_threads, delegates, fast)
        self.part: PrunedPart = bundle.part
        spec = self.part.pruned
        self.alpha_rows = spec.alpha_table.rows
        seg = bundle.segments
        self.trunk_segment, self.ap_segment = seg[spec.trunk], seg[spec.ap_head]
        self.icnn_segment, self.mp_segment = seg[spec.icnn_head], seg[spec.mp]
        trunk, ap, icnn, mp = (self.handle(s) for s in (self.trunk_segment, self.ap_segment, self.icnn_segment,
                                                          self.mp_segment))
        image_q = self.input_quantization
        features_q = self.trunk_segment.outputs["features"].quantization
        self._trunk_in = Joint(image_q, self.trunk_segment.inputs["x"].quantization)
        self._mp_in = Joint(image_q, self.mp_segment.inputs["x"].quantization)
        self._to_icnn = Joint(features_q, self.icnn_segment.inputs["x"].quantization)
        self._to_ap = Joint(features_q, self.ap_segment.inputs["x"].quantization)
        self._trunk, self._ap, self._icnn, self._mp = trunk, ap, icnn, mp
        self._hci = icnn.outputs["probs"].reshape(-1)
        self._ap_probs, self._mp_probs = ap.outputs["probs"], mp.outputs["probs"]
        self._ap_q = self.ap_segment.outputs["probs"].quantization
        self._mp_q = self.mp_segment.outputs["probs"].quantization
        selection = self.trunk_segment.macs + self.icnn_segment.macs
        self._segment_macs = (selection + self.ap_segment.macs, selection + self.mp_segment.macs)
        self.ap_macs, self.mp_macs = self._segment_macs  # the fused selector replaces these below
        self._alphas = [row.alpha for row in self.alpha_rows]
        self._mp_x, self._mp_run = mp.inputs["x"], mp.run
        self._mp_values = self._mp_q.values_by_code()
        self._selector = None
        if spec.selector is not None:
            self.selector_segment = seg[spec.selector]
            selector = self.handle(self.selector_segment)
            self._selector = selector
            self._selector_in = Joint(image_q, self.selector_segment.inputs["x"].quantization)
            self._selector_hci = selector.outputs["hci"].reshape(-1)
            self._selector_probs = selector.outputs["probs"]
            self._selector_q = self.selector_segment.outputs["probs"].quantization
            self._selector_x, self._selector_run = selector.inputs["x"], selector.run
            self._selector_values = self._selector_q.values_by_code()
            self.ap_macs = self.selector_segment.macs
            self.mp_macs = self.selector_segment.macs + self.mp_segment.macs
        self.follow_bundle_table("α moves the share of inputs sent to MP (all at α = 0, the trained threshold at 0.5, "
                                 "none at 1)")

    def plan_for_alpha(self, alpha: float) -> RoutePlan | Mix:
        """The plan for α: along the bundle's α table, or (older bundles) the nearest row of its MP-share table."""
        if self.alpha_plans is not None:
            return self.alpha_plans.plan(alpha)
        alpha = check_unit_interval("alpha", alpha)
        table = self.alpha_rows
        i = bisect.bisect_left(self._alphas, alpha)
        candidates = [j for j in (i - 1, i) if 0 <= j < len(table)]
        best = min(candidates, key=lambda j: abs(table[j].alpha - alpha))
        return RoutePlan(alpha, table[best].threshold_q)

    def plan_for_setting(self, setting: dict[str, Any]) -> RoutePlan:
        """The plan of an α table row: ``{"threshold_q": code}`` (MP when the HCI code ≥ it; 128: never)."""
        return RoutePlan(float("nan"), int(setting["threshold_q"]))

    def expected_accuracy(self, alpha: float) -> float | None:
        """The α table's held-out accuracy at α (None for bundles without one)."""
        return None if self.alpha_plans is None else self.alpha_plans.expected(alpha)[1]

    def trained_plan(self) -> RoutePlan:
        """The selector at its trained threshold (HCI probability ≥ 0.5): Maleki et al.'s system."""
        hci = self.selector_segment.outputs["hci"] if self._selector is not None else self.icnn_segment.outputs["probs"]
        code = hci.quantization.smallest_code_at_least(0.5)
        return RoutePlan(float("nan"), NEVER if code is None else code)

    def deepest_plan(self) -> RoutePlan:
        """Every input to MP (the most accurate network the bundle routes to): what ``--adapt`` falls back to when
        no row of the α table agrees as promised."""
        return self.fixed_plan(MP)

    def fixed_plan(self, route: int) -> RoutePlan:
        """Always AP (``route`` 0) or always MP (1), still paying for the selector."""
        return RoutePlan(float("nan"), NEVER if route == AP else -128)

    def classify(self, image: np.ndarray, plan: RoutePlan | Mix) -> Decision:
        """Classify one quantized image (int8, shape ``(1, H, W, C)``)."""
        if plan.__class__ is Mix:
            plan = plan.pick()
        if self._selector is None:
            return self.classify_by_segments(image, plan)
        self._selector_in(image, self._selector_x)
        self._selector_run()
        if self._selector_hci[1] >= plan.threshold_q:
            self._mp_in(image, self._mp_x)
            self._mp_run()
            label = int(self._mp_probs.argmax())
            return Decision(label, self._mp_values[int(self._mp_probs[0, label]) + 128], "mp", RAN_MP, self.mp_macs)
        probs = self._selector_probs
        label = int(probs.argmax())
        return Decision(label, self._selector_values[int(probs[0, label]) + 128], "ap", RAN_AP, self.ap_macs)

    def classify_by_segments(self, image: np.ndarray, plan: RoutePlan) -> Decision:
        """The same decision through the separate trunk, ICNN head and AP head (three invocations;
        the trunk's output is stored and reused, never recomputed)."""
        macs_ap, macs_mp = self._segment_macs
        self._trunk_in(image, self._trunk.inputs["x"])
        self._trunk.run()
        features = self._trunk.outputs["features"]
        self._to_icnn(features, self._icnn.inputs["x"])
        self._icnn.run()
        if int(self._hci[1]) >= plan.threshold_q:
            self._mp_in(image, self._mp.inputs["x"])
            self._mp.run()
            label = int(self._mp_probs.argmax())
            return Decision(label, float(self._mp_q.dequantize(int(self._mp_probs[0, label]))), "mp",
                            ("trunk", "icnn_head", "mp"), macs_mp)
        self._to_ap(features, self._ap.inputs["x"])
        self._ap.run()
        label = int(self._ap_probs.argmax())
        return Decision(label, float(self._ap_q.dequantize(int(self._ap_probs[0, label]))), "ap",
                        ("trunk", "icnn_head", "ap_head"), macs_ap)

    def scores(self, image: np.ndarray) -> tuple[int, int, int]:
        """(ICNN HCI code, AP's label, MP's label) for one image, through the path :meth:`classify`
        takes (the fused selector when there is one): what calibration needs."""
        self._mp_in(image, self._mp.inputs["x"])
        self._mp.run()
        mp_label = int(self._mp_probs.argmax())
        if self._selector is not None:
            self._selector_in(image, self._selector.inputs["x"])
            self._selector.run()
            return int(self._selector_hci[1]), int(self._selector_probs.argmax()), mp_label
        self._trunk_in(image, self._trunk.inputs["x"])
        self._trunk.run()
        features = self._trunk.outputs["features"]
        self._to_icnn(features, self._icnn.inputs["x"])
        self._icnn.run()
        self._to_ap(features, self._ap.inputs["x"])
        self._ap.run()
        return int(self._hci[1]), int(self._ap_probs.argmax()), mp_label

    def describe(self, decision: Decision) -> dict[str, Any]:
        """The fields of a ``run`` record that say which network answered."""
        return {"exit": ROUTES.index(decision.answered_by), "exit_name": decision.answered_by}

    def describe_alpha(self, alpha: float) -> str:
        plan = self.plan_for_alpha(alpha)
        return f"α = {alpha:g} → MP when the selector's HCI code ≥ {plan.threshold_q}"
