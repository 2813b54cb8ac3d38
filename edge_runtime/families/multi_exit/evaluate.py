"""``eval`` of a multi-exit bundle: the α sweep, fixed-depth baselines, the oracle and the monolithic
reference, all in one process on the same test split (see :mod:`edge_runtime.core.sweep`)."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ...core.decision import Decision
from ...core.sweep import EQUAL_ACCURACY_TOLERANCE, add_savings, best_within, header, measure, sweep
from ...core.timing import MonolithicPasses
from .runtime import MultiExitRuntime


def default_alphas(count: int = 21) -> list[float]:
    return [round(float(a), 4) for a in np.linspace(0.0, 1.0, count)]


def sweep_alphas(runtime: MultiExitRuntime, count: int = 21) -> list[float]:
    """``count`` evenly spaced α, plus the α (eq. 7 inverted) of ``count // 2`` evenly spaced Ã.

    With accurate exits most of eq. 7's range of Ã sits at α close to 1; the extra points
    resolve that region instead of leaving the sweep flat.
    """
    alphas = set(default_alphas(count))
    fit = runtime.part.calibration.energy_fit
    low, high = min(runtime.accuracies), max(runtime.accuracies)
    if fit is not None and high > low:
        for target in np.linspace(low, high, max(2, count // 2)):
            exponent = min(700.0, fit.b * float(target))
            alphas.add(round(1.0 / (1.0 + fit.a * fit.b * np.exp(exponent)), 6))
    return sorted(alphas)


def evaluate(runtime: MultiExitRuntime, images: list[np.ndarray], labels: np.ndarray,
             alphas: list[float] | None = None, desired: list[float] | None = None,
             progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Sweep α (or explicit desired accuracies) over the test images and measure every baseline.

    Args:
        images: int8 model inputs, each (1, H, W, C).
        labels: true class indices.
        alphas: α values of the sweep (default: 21 evenly spaced over [0, 1]).
        desired: explicit Ã values instead of α (each row's ``alpha`` is then None).
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

    targets = [(None, d) for d in desired] if desired else \
        [(a, runtime.desired_accuracy(a)) for a in (alphas or default_alphas())]
    points = [({"alpha": alpha, "desired_accuracy": round(target, 6)}, runtime.plan(target))
              for alpha, target in targets]
    rows = sweep(runtime.classify, points, images, labels, mono, histogram, progress)
    fixed = []
    for i, ex in enumerate(exits):
        stats = measure(runtime.classify, runtime.fixed_plan(i), images, labels)
        fixed.append({"exit": ex.name, "accuracy": stats["accuracy"], "macs": int(stats["mean_macs"]),
                      "latency_us": stats["mean_latency_us"]})
    mono.run()
    full = fixed[-1]

    per_exit = np.array([runtime.exit_scores(image)[0] for image in images])
    correct = per_exit == labels[:, None]
    first_correct = np.where(correct.any(axis=1), correct.argmax(axis=1), len(exits) - 1)
    oracle = {"accuracy": float(correct.any(axis=1).mean()),
              "mean_macs": float(np.mean([exits[i].macs for i in first_correct])),
              "exit_histogram": np.bincount(first_correct, minlength=len(exits)).tolist()}
    oracle["mac_saving"] = 1.0 - oracle["mean_macs"] / mono_macs
    add_savings(rows, mono_macs, mono.mean_latency)
    best = best_within(rows, mono_accuracy - EQUAL_ACCURACY_TOLERANCE)
    return {
        **header(runtime, labels, "multi_exit"),
        "beta1": runtime.beta1,
        "beta2": runtime.beta2,
        "rows": rows,
        "fixed_depth": fixed,
        "full_model": {"accuracy": full["accuracy"], "macs": full["macs"], "latency_us": full["latency_us"]},
        "monolithic": mono.report(mono_accuracy, mono_macs),
        "oracle": oracle,
        "at_monolithic_accuracy": None if best is None else {
            "tolerance": EQUAL_ACCURACY_TOLERANCE, "alpha": best["alpha"], "desired_accuracy": best["desired_accuracy"],
            "accuracy": best["accuracy"], "mac_saving": best["mac_saving"], "latency_saving": best["latency_saving"]},
    }
