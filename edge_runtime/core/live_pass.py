"""One pass over a test split with α read from a live monitor for each input (``eval --monitor``)."""

from __future__ import annotations

from typing import Any

import numpy as np


def evaluate_live(runtime: Any, images: list[np.ndarray], labels: np.ndarray, live: Any) -> dict[str, Any]:
    """Classify each image under the plan the live α holds at that moment.

    Args:
        runtime: any family's runtime (``classify``, ``describe``).
        live: a :class:`~edge_runtime.power.live.LiveAlpha` (its ``current`` is read once per input).
    """
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
    routes = [runtime.describe(d)["exit"] for d in decisions]
    return {
        "accuracy": float(np.mean(predicted == labels)),
        "mean_macs": mean_macs,
        "mac_saving": 1.0 - mean_macs / mono_macs,
        "mean_alpha": float(np.mean(alphas)),
        "soc_first": None if socs[0] != socs[0] else socs[0],
        "soc_last": None if socs[-1] != socs[-1] else socs[-1],
        "alpha_sources": {s: sources.count(s) for s in sorted(set(sources))},
        "exit_histogram": np.bincount(routes).tolist(),
        "monitor_samples": live.samples,
    }


def format_live(live: dict[str, Any]) -> str:
    def soc(value: float | None) -> str:
        return "?" if value is None else f"{value:.1%}"

    return (f"live α from the monitor: mean α {live['mean_alpha']:.3f}, SoC {soc(live['soc_first'])} → "
            f"{soc(live['soc_last'])}, accuracy {live['accuracy']:.4f}, {live['mac_saving']:.1%} fewer MACs, "
            f"exits {live['exit_histogram']}, α sources {live['alpha_sources']}")
