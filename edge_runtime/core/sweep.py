"""The α sweep every family's ``eval`` runs: each operating point timed over the test split, the
monolithic reference timed between them, savings relative to it."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from .decision import Decision
from .timing import MonolithicPasses, timed_pass

EQUAL_ACCURACY_TOLERANCE = 0.005  # "at the monolithic model's accuracy": within half a point

Summarize = Callable[[list[Decision]], dict[str, Any]]


def pass_stats(decisions: list[Decision], labels: np.ndarray) -> dict[str, Any]:
    """Accuracy and mean MACs of one pass."""
    return {"accuracy": float(np.mean(np.array([d.label for d in decisions]) == labels)),
            "mean_macs": float(np.mean([d.macs for d in decisions]))}


def with_joules(summarize: Summarize | None, joules: Callable[[Decision], float] | None) -> Summarize | None:
    """``summarize`` plus ``mean_joules`` of the pass, when a measured energy model ``joules`` is given."""
    if joules is None:
        return summarize

    def both(decisions: list[Decision]) -> dict[str, Any]:
        row = summarize(decisions) if summarize is not None else {}
        row["mean_joules"] = float(np.mean([joules(d) for d in decisions]))
        return row

    return both


def measure(classify: Callable[[np.ndarray, Any], Decision], plan: Any, images: list[np.ndarray],
            labels: np.ndarray, summarize: Summarize | None = None,
            mono: MonolithicPasses | None = None) -> dict[str, Any]:
    """One timed pass of ``plan``: accuracy, mean MACs, mean latency, the family's own figures and, given the
    monolithic passes ``mono``, ``agreement``: the share of the images answered as the monolithic network
    answers them (delivered, not expected)."""
    decisions, latency = timed_pass(lambda image: classify(image, plan), images)
    row = {**pass_stats(decisions, labels), "mean_latency_us": latency}
    if mono is not None:
        row["agreement"] = mono.agreement([d.label for d in decisions])
    if summarize is not None:
        row.update(summarize(decisions))
    return row


def sweep(classify: Callable[[np.ndarray, Any], Decision], points: Sequence[tuple[dict[str, Any], Any]],
          images: list[np.ndarray], labels: np.ndarray, mono: MonolithicPasses, summarize: Summarize | None = None,
          progress: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """Measure each (row fields, plan) in turn (:func:`measure`, with its ``agreement``), with a monolithic pass
    after each."""
    rows = []
    for index, (fields, plan) in enumerate(points):
        rows.append({**fields, **measure(classify, plan, images, labels, summarize, mono)})
        mono.run()
        if progress is not None and index % 5 == 4:
            progress(f"swept {index + 1}/{len(points)} operating points")
    return rows


def agreement_cell(row: dict[str, Any]) -> str:
    """A row's delivered agreement with the monolithic network, for a 7-character ``agrees`` column."""
    value = row.get("agreement")
    return f"{'-':>7}" if value is None else f"{value:7.1%}"


def add_savings(rows: Sequence[dict[str, Any]], reference_macs: float, reference_latency_us: float,
                reference_joules: float | None = None) -> None:
    """``mac_saving``, ``latency_saving`` and (with measured joules) ``energy_saving`` of each row against the
    reference (in place)."""
    for row in rows:
        row["mac_saving"] = 1.0 - row["mean_macs"] / reference_macs
        row["latency_saving"] = 1.0 - row["mean_latency_us"] / reference_latency_us
        if reference_joules and "mean_joules" in row:
            row["energy_saving"] = 1.0 - row["mean_joules"] / reference_joules


def best_within(rows: Sequence[dict[str, Any]], floor: float, key: str = "mac_saving") -> dict[str, Any] | None:
    """The row with the largest ``key`` among those at least ``floor`` accurate (None if none is)."""
    eligible = [r for r in rows if r["accuracy"] >= floor]
    return max(eligible, key=lambda r: r[key]) if eligible else None


def header(runtime: Any, labels: np.ndarray, family: str) -> dict[str, Any]:
    """What every eval report starts with (and the energy profile behind ``energy_saving``, when there is one)."""
    energy = getattr(runtime, "energy", None)
    return {"bundle": runtime.bundle.path, "family": family, "test_samples": int(len(labels)),
            "threads": runtime.num_threads, "backend": f"{runtime.backend.name} {runtime.backend.version}".strip(),
            "fast_path": runtime.uses_fast_path,
            "energy": None if energy is None else {"monitor": energy.monitor, "idle_w": energy.idle_w,
                                                   "board": energy.board, "monolithic_joules":
                                                       energy.joules("monolithic")}}


TENTHS = tuple(round(0.1 * i, 1) for i in range(11))


def knob_figures(rows: Sequence[dict[str, Any]], reference_macs: float) -> dict[str, Any] | None:
    """How α moves the cost over α = 0, 0.1, …, 1 (from the rows at those α): the largest rise of mean
    MACs as a fraction of the reference, and the largest 0.1 step as a fraction of the range α 0 → 1."""
    by_alpha = {round(r["alpha"], 6): r["mean_macs"] for r in rows if r.get("alpha") is not None}
    if not all(a in by_alpha for a in TENTHS):
        return None
    macs = [by_alpha[a] for a in TENTHS]
    steps = [b - a for a, b in zip(macs, macs[1:])]
    span = macs[0] - macs[-1]
    return {"alphas": list(TENTHS), "mean_macs": macs,
            "max_rise_of_monolithic": max(0.0, max(steps)) / reference_macs,
            "max_step_of_range": max(abs(s) for s in steps) / span if span > 0 else None}


def knob_line(knob: dict[str, Any] | None, reference: str) -> str | None:
    """eval's line on :func:`knob_figures` (None without them); ``reference`` names the reference network."""
    if not knob:
        return None
    step = knob["max_step_of_range"]
    return (f"over α = 0, 0.1 … 1: MACs rise at most {knob['max_rise_of_monolithic']:.1%} of the {reference}; the "
            f"largest 0.1 step moves {'-' if step is None else f'{step:.0%}'} of the range")


def promise_line(rows: Sequence[dict[str, Any]]) -> str | None:
    """eval's line on the table's promise: at how many α the test accuracy fell inside the held-out count's 95%
    interval, and how far the fitted expectation ran over the count (None for rows without the interval)."""
    rows = [r for r in rows if r.get("held_out_low") is not None]
    if not rows:
        return None
    inside = sum(r["held_out_low"] <= r["accuracy"] <= r["held_out_high"] for r in rows)
    over = max(r["expected_accuracy"] - r["held_out_accuracy"] for r in rows)
    return (f"test accuracy inside the held-out count's 95% interval at {inside} of {len(rows)} α; the fitted "
            f"expectation runs at most {max(over, 0.0) * 100:.2f} points over the held-out count")
