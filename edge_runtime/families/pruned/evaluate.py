"""``eval`` of a pruned bundle: the α sweep of the selector's threshold, AP and MP alone, and the
original network as one int8 model timed in interleaved passes; Maleki et al.'s Table 2 columns."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ...core.decision import Decision
from ...core.sweep import (EQUAL_ACCURACY_TOLERANCE, add_savings, best_within, header, knob_figures, measure, sweep,
                           with_joules)
from ...core.timing import MonolithicPasses
from .calibrate import collect, hindsight
from .energy import decision_joules
from .runtime import AP, MP, PrunedRuntime

LOSS_BUDGET = 0.02  # "at ≤ 2 points accuracy loss"


def _mp_share(decisions: list[Decision]) -> dict[str, Any]:
    return {"hci_fraction": float(np.mean([d.answered_by == "mp" for d in decisions]))}


def evaluate(runtime: PrunedRuntime, images: list[np.ndarray], labels: np.ndarray, count: int = 21,
             progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """The α sweep (the α table's, or an older bundle's MP-share table), AP and MP alone, the selector at its
    trained threshold (Table 2), the hindsight bound and the original network, on the test split."""
    labels = np.asarray(labels)
    bundle = runtime.bundle
    figures = runtime.part.pruned.figures
    original_macs = bundle.monolithic.macs
    mono = MonolithicPasses(runtime.classify_monolithic, images, labels)
    mono_accuracy = mono.run()
    plans = runtime.alpha_plans
    if plans is not None:
        points = plans.sweep(count)
    else:
        points = [({"alpha": row.alpha, "threshold_q": row.threshold_q}, runtime.plan_for_alpha(row.alpha))
                  for row in runtime.alpha_rows]
    energy = runtime.energy
    summarize = with_joules(_mp_share, None if energy is None else decision_joules(runtime, energy))
    rows = sweep(runtime.classify, points, images, labels, mono, summarize, progress)
    ap_only = measure(runtime.classify, runtime.fixed_plan(AP), images, labels, summarize)
    mp_only = measure(runtime.classify, runtime.fixed_plan(MP), images, labels, summarize)
    trained = measure(runtime.classify, runtime.trained_plan(), images, labels, summarize)
    mono.run()
    add_savings(rows + [ap_only, mp_only, trained], original_macs, mono.mean_latency,
                None if energy is None else energy.joules("monolithic"))
    bound = hindsight(collect(runtime, images, labels), runtime.ap_macs, runtime.mp_macs,
                      mono_accuracy - EQUAL_ACCURACY_TOLERANCE)
    if bound is not None:
        bound["mac_saving"] = 1.0 - bound["mean_macs"] / original_macs
    mp_macs = runtime.mp_segment.macs
    best = best_within(rows, mono_accuracy - LOSS_BUDGET)
    return {
        **header(runtime, labels, "pruned"),
        "rule": "frontier" if plans is not None else "mp_share",
        "rows": rows,
        "knob": knob_figures(rows, original_macs),
        "hindsight": bound,
        "ap_only": ap_only, "mp_only": mp_only, "trained_threshold": trained,
        "monolithic": mono.report(mono_accuracy, original_macs),
        "pruned": {
            "acc_original": mono_accuracy, "phi_mp": figures.get("phi_mp"), "acc_mp": mp_only["accuracy"],
            "phi_ap": figures.get("phi_ap"), "ap_mac_reduction": figures.get("ap_mac_reduction"),
            "acc_ap": ap_only["accuracy"], "acc_system": trained["accuracy"],
            "saving_vs_original": trained["mac_saving"], "saving_vs_mp": 1.0 - trained["mean_macs"] / mp_macs,
            "latency_saving_vs_original": trained["latency_saving"], "hci_fraction": trained["hci_fraction"],
            "sweep": figures.get("sweep", []), "min_accuracy": figures.get("min_accuracy"),
        },
        "within_2_points": None if best is None else {
            "alpha": best["alpha"], "accuracy": best["accuracy"], "mac_saving": best["mac_saving"],
            "latency_saving": best["latency_saving"]},
    }
