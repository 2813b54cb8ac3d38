"""``eval``: the α sweep, fixed-depth baselines, the oracle and the monolithic reference.

Everything is measured in one process on the same test split, with the monolithic int8
model timed in passes interleaved with the sweep's, so ratios are not skewed by the
machine's drift. Latencies are wall-clock microseconds per input (``perf_counter_ns``)
around the interpreter calls and the decision, excluding image decoding.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np

from .multi_exit import ExitPlan, MultiExitRuntime

EQUAL_ACCURACY_TOLERANCE = 0.005  # "at the monolithic model's accuracy": within half a point


def _timed_pass(run: Callable[[np.ndarray], Any], images: list[np.ndarray]) -> tuple[list[Any], float]:
    """Run every image once; return the results and the mean latency in µs."""
    results = []
    clock = time.perf_counter_ns
    total = 0
    for image in images:
        start = clock()
        results.append(run(image))
        total += clock() - start
    return results, total / len(images) / 1000.0


class MonolithicPasses:
    """Times passes of the monolithic reference over the test images, to interleave with a sweep's."""

    def __init__(self, runtime: Any, images: list[np.ndarray], labels: np.ndarray) -> None:
        self.runtime, self.images, self.labels = runtime, images, labels
        self.latencies: list[float] = []
        _timed_pass(runtime.classify_monolithic, images[:32])  # warm caches and the thread pool

    def run(self) -> float:
        """One timed pass; returns its accuracy."""
        predictions, latency = _timed_pass(self.runtime.classify_monolithic, self.images)
        self.latencies.append(latency)
        return float(np.mean(np.array(predictions) == self.labels))

    @property
    def mean_latency(self) -> float:
        return float(np.mean(self.latencies))

    def report(self, accuracy: float, macs: int) -> dict[str, Any]:
        return {"accuracy": accuracy, "macs": macs, "latency_us": self.mean_latency,
                "latency_passes_us": [round(v, 3) for v in self.latencies]}


def default_alphas(count: int = 21) -> list[float]:
    return [round(float(a), 4) for a in np.linspace(0.0, 1.0, count)]


def sweep_alphas(runtime: MultiExitRuntime, count: int = 21) -> list[float]:
    """``count`` evenly spaced α, plus the α (eq. 7 inverted) of ``count // 2`` evenly spaced Ã.

    With accurate exits most of eq. 7's range of Ã sits at α close to 1; the extra points
    resolve that region instead of leaving the sweep flat.
    """
    alphas = set(default_alphas(count))
    fit = runtime.bundle.energy_fit
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
    say = progress or (lambda message: None)
    labels = np.asarray(labels)
    bundle = runtime.bundle
    mono_macs = bundle.full_macs

    mono = MonolithicPasses(runtime, images, labels)
    mono_accuracy = mono.run()

    def plan_pass(plan: ExitPlan) -> dict[str, Any]:
        decisions, latency = _timed_pass(lambda image: runtime.classify(image, plan), images)
        exits = np.array([d.exit_index for d in decisions])
        predicted = np.array([d.label for d in decisions])
        return {
            "accuracy": float(np.mean(predicted == labels)),
            "mean_macs": float(np.mean([d.macs for d in decisions])),
            "mean_latency_us": latency,
            "exit_histogram": np.bincount(exits, minlength=len(bundle.exits)).tolist(),
        }

    rows = []
    points = [(None, d) for d in desired] if desired else [(a, runtime.desired_accuracy(a)) for a in (alphas or default_alphas())]
    for index, (alpha, target) in enumerate(points):
        stats = plan_pass(runtime.plan(target))
        mono.run()
        rows.append({"alpha": alpha, "desired_accuracy": round(target, 6), **stats})
        if index % 5 == 4:
            say(f"swept {index + 1}/{len(points)} operating points")

    fixed = []
    for index, ex in enumerate(bundle.exits):
        stats = plan_pass(runtime.fixed_plan(index))
        fixed.append({"exit": ex.name, "accuracy": stats["accuracy"], "macs": int(stats["mean_macs"]),
                      "latency_us": stats["mean_latency_us"]})
    mono.run()
    full = fixed[-1]

    per_exit = np.array([runtime.exit_scores(image)[0] for image in images])
    correct = per_exit == labels[:, None]
    first_correct = np.where(correct.any(axis=1), correct.argmax(axis=1), len(bundle.exits) - 1)
    oracle = {"accuracy": float(correct.any(axis=1).mean()),
              "mean_macs": float(np.mean([bundle.exits[i].macs for i in first_correct])),
              "exit_histogram": np.bincount(first_correct, minlength=len(bundle.exits)).tolist()}

    mono_latency = mono.mean_latency
    for row in rows:
        row["mac_saving"] = 1.0 - row["mean_macs"] / mono_macs
        row["latency_saving"] = 1.0 - row["mean_latency_us"] / mono_latency
    oracle["mac_saving"] = 1.0 - oracle["mean_macs"] / mono_macs
    eligible = [r for r in rows if r["accuracy"] >= mono_accuracy - EQUAL_ACCURACY_TOLERANCE]
    best = max(eligible, key=lambda r: r["mac_saving"]) if eligible else None
    return {
        "bundle": bundle.path,
        "test_samples": int(len(labels)),
        "threads": runtime.num_threads,
        "backend": f"{runtime.backend.name} {runtime.backend.version}".strip(),
        "fast_path": runtime.uses_fast_path,
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


def evaluate_live(runtime: MultiExitRuntime, images: list[np.ndarray], labels: np.ndarray, live: Any) -> dict[str, Any]:
    """One pass over the test split with α read from a live monitor for each input."""
    decisions, alphas, socs, sources = [], [], [], []
    for image in images:
        point = live.current
        decisions.append(runtime.classify(image, point.plan))
        alphas.append(point.alpha)
        socs.append(point.soc)
        sources.append(point.source)
    predicted = np.array([d.label for d in decisions])
    mono_macs = runtime.bundle.monolithic.macs
    mean_macs = float(np.mean([d.macs for d in decisions]))
    return {
        "accuracy": float(np.mean(predicted == labels)),
        "mean_macs": mean_macs,
        "mac_saving": 1.0 - mean_macs / mono_macs,
        "mean_alpha": float(np.mean(alphas)),
        "soc_first": None if socs[0] != socs[0] else socs[0],
        "soc_last": None if socs[-1] != socs[-1] else socs[-1],
        "alpha_sources": {s: sources.count(s) for s in sorted(set(sources))},
        "exit_histogram": np.bincount([d.exit_index for d in decisions], minlength=len(runtime.bundle.exits)).tolist(),
        "monitor_samples": live.samples,
    }
