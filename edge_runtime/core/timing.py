"""Wall-clock timing of passes over a test split, and the monolithic reference timed between them.

Latencies are microseconds per input (``perf_counter_ns``) around the interpreter calls and the
decision, excluding image decoding. The monolithic model is timed in passes interleaved with the
ones being compared, so ratios are not skewed by the machine's drift.
"""

from __future__ import annotations

import functools
import os
import platform
import time
from typing import Any, Callable

import numpy as np


@functools.cache
def cpu_model() -> str:
    """The CPU timings were taken on: its model name (``/proc/cpuinfo``) and core count. Timings on these
    machines vary by an order of magnitude between CPU models (26.6 µs and 236–271 µs for one model)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith(("model name", "Model")):
                    return f"{line.split(':', 1)[1].strip()}, {os.cpu_count()} cores"
    except OSError:
        pass
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"


def timed_pass(run: Callable[[np.ndarray], Any], images: list[np.ndarray]) -> tuple[list[Any], float]:
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
    """Times passes of the monolithic reference over the test images, to interleave with a sweep's.

    Args:
        classify: image → class index, through the monolithic model.
    """

    def __init__(self, classify: Callable[[np.ndarray], int], images: list[np.ndarray], labels: np.ndarray) -> None:
        self.classify, self.images, self.labels = classify, images, labels
        self.latencies: list[float] = []
        self.predictions: np.ndarray | None = None  # the network's answer to each image, after the first pass
        timed_pass(classify, images[:32])  # warm caches and the thread pool

    def run(self) -> float:
        """One timed pass; returns its accuracy."""
        predictions, latency = timed_pass(self.classify, self.images)
        self.latencies.append(latency)
        self.predictions = np.asarray(predictions)
        return float(np.mean(self.predictions == self.labels))

    def agreement(self, answers: list[int]) -> float:
        """The share of the images on which ``answers`` are the monolithic network's own (after one pass)."""
        if self.predictions is None:
            self.run()
        return float(np.mean(np.asarray(answers) == self.predictions))

    @property
    def mean_latency(self) -> float:
        return float(np.mean(self.latencies))

    def report(self, accuracy: float, macs: int) -> dict[str, Any]:
        return {"accuracy": accuracy, "macs": macs, "latency_us": self.mean_latency,
                "latency_passes_us": [round(v, 3) for v in self.latencies]}
