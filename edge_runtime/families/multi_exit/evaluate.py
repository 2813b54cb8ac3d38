"""``eval`` of a multi-exit bundle: the α sweep under both rules (the α table and Merkel's eq. 7 + 10),
fixed-depth baselines, the oracle, the hindsight bound and the monolithic reference, all in one process
on the same test split (see :mod:`edge_runtime.core.sweep`)."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ...core.decision import Decision
from ...core.operating import AlphaPlans
from ...core.sweep import (EQUAL_ACCURACY_TOLERANCE, add_savings, best_within, header, knob_figures, measure, sweep,
                           with_joules)
from ...core.timing import MonolithicPasses
from .calibrate import StageCosts, collect, hindsight
from .energy import decision_joules
from .runtime import MultiExitRuntime


ALPHA_RESOLUTION = 0.005  # α closer than this to a row already swept adds nothing the report can show


def default_alphas(count: int = 21) -> list[float]:
    return [round(float(a), 4) for a in np.linspace(0.0, 1.0, count)]


def sweep_alphas(runtime: MultiExitRuntime, count: int = 21) -> list[float]:
    """``count`` evenly spaced α, plus the α (eq. 7 inverted) of ``count // 2`` evenly spaced Ã.

    With accurate exits most of eq. 7's range of Ã sits at α close to 1; the extra points
    resolve that region instead of leaving the merkel sweep flat.
    """
    alphas = set(default_alphas(count))
    fit = runtime.part.calibration.energy_fit
    low, high = min(runtime.accuracies), max(runtime.accuracies)
    if fit is not None and high > low:
        for target in np.linspace(low, high, max(2, count // 2)):
            exponent = min(700.0, fit.b * float(target))
            alpha = round(1.0 / (1.0 + fit.a * fit.b * np.exp(exponent)), 6)
            # one row per α as the report prints it (two decimals): 0.15 and 0.150004 were both shown as 0.15
            if all(abs(alpha - other) >= ALPHA_RESOLUTION for other in alphas):
                alphas.add(alpha)
    return sorted(alphas)


def rule_points(runtime: MultiExitRuntime, rule: str, count: int) -> list[tuple[dict[str, Any], Any]]:
    """(row fields, plan) for each α of ``rule``'s sweep: ``frontier`` (the table in use), ``frontier_macs`` (the
    bundle's own MAC table, beside a table fitted on joules) or ``merkel``."""
    if rule == "merkel":
        return [({"alpha": a, "desired_accuracy": round(runtime.desired_accuracy(a), 6)},
                 runtime.plan(runtime.desired_accuracy(a))) for a in sweep_alphas(runtime, count)]
    plans = runtime.alpha_plans if rule == "frontier" else AlphaPlans(runtime.bundle.header.alpha_table,
                                                                       runtime.plan_for_setting)
    assert plans is not None
    return plans.sweep(count)


def evaluate(runtime: MultiExitRuntime, images: list[np.ndarray], labels: np.ndarray, count: int = 21,
             desired: list[float] | None = None, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Sweep α under each rule the bundle supports (or explicit desired accuracies) and every baseline.

    Args:
        images: int8 model inputs, each (1, H, W, C).
        labels: true class indices.
        count: evenly spaced α per rule (merkel adds eq. 7's own points).
        desired: explicit Ã values instead of α (eq. 10 only; each row's ``alpha`` is then None).
    """
    labels = np.asarray(labels)
    exits = runtime.exits
    index = {ex.name: i for i, ex in enumerate(exits)}
    mono_macs = runtime.bundle.full_macs
    mono = MonolithicPasses(runtime.classify_monolithic, images, labels)
    mono_accuracy = mono.run()

    def histogram(decisions: list[Decision]) -> dict[str, Any]:
        return {"exit_histogram": np.bincount([index[d.answered_by] for d in decisions],
                                              minlength=len(exits)).tolist()}

    by_rule: dict[str, Any] = {}
    energy = runtime.energy
    joules = decision_joules(runtime, energy) if energy is not None else None
    if desired:
        rules = {"merkel": [({"alpha": None, "desired_accuracy": round(d, 6)}, runtime.plan(d)) for d in desired]}
    else:
        names = ("frontier", "merkel") if runtime.alpha_plans is not None else ("merkel",)
        if energy is not None and runtime.bundle.header.alpha_table is not None:
            names = ("frontier", "frontier_macs", "merkel")
        rules = {rule: rule_points(runtime, rule, count) for rule in names}
    for rule, points in rules.items():
        rows = sweep(runtime.classify, points, images, labels, mono, with_joules(histogram, joules), progress)
        by_rule[rule] = {"rows": rows}
    fixed = []
    for i, ex in enumerate(exits):
        stats = measure(runtime.classify, runtime.fixed_plan(i), images, labels)
        fixed.append({"exit": ex.name, "accuracy": stats["accuracy"], "macs": int(stats["mean_macs"]),
                      "latency_us": stats["mean_latency_us"]})
    mono.run()
    full = fixed[-1]

    outcomes = collect(runtime, images, labels)
    correct = outcomes.correct
    first_correct = np.where(correct.any(axis=1), correct.argmax(axis=1), len(exits) - 1)
    oracle = {"accuracy": float(correct.any(axis=1).mean()),
              "mean_macs": float(np.mean([exits[i].macs for i in first_correct])),
              "exit_histogram": np.bincount(first_correct, minlength=len(exits)).tolist()}
    oracle["mac_saving"] = 1.0 - oracle["mean_macs"] / mono_macs
    floor = mono_accuracy - EQUAL_ACCURACY_TOLERANCE
    bound = hindsight(outcomes, StageCosts.of(runtime), floor)
    if bound is not None:
        bound["mac_saving"] = 1.0 - bound["mean_macs"] / mono_macs
    reference_joules = None if energy is None else energy.joules("monolithic")
    for rule, result in by_rule.items():
        add_savings(result["rows"], mono_macs, mono.mean_latency, reference_joules)
        best = best_within(result["rows"], floor)
        result["at_monolithic_accuracy"] = None if best is None else {
            "tolerance": EQUAL_ACCURACY_TOLERANCE, "alpha": best["alpha"], "accuracy": best["accuracy"],
            "mean_macs": best["mean_macs"], "mac_saving": best["mac_saving"], "latency_saving": best["latency_saving"],
            "energy_saving": best.get("energy_saving"),
            "macs_vs_hindsight": None if not bound else best["mean_macs"] / bound["mean_macs"]}
        if not desired:
            result["knob"] = knob_figures(result["rows"], mono_macs)
    chosen = by_rule.get(runtime.rule, by_rule.get("merkel"))
    return {
        **header(runtime, labels, "multi_exit"),
        "rule": runtime.rule,
        "beta1": runtime.beta1,
        "beta2": runtime.beta2,
        "rows": chosen["rows"],
        "at_monolithic_accuracy": chosen["at_monolithic_accuracy"],
        "by_rule": by_rule,
        "fixed_depth": fixed,
        "full_model": {"accuracy": full["accuracy"], "macs": full["macs"], "latency_us": full["latency_us"]},
        "monolithic": mono.report(mono_accuracy, mono_macs),
        "oracle": oracle,
        "hindsight": bound,
    }
