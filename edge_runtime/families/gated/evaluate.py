"""``eval`` of a gated bundle: the α sweep of the gates' threshold (blocks run, accuracy, savings in
modelled energy, MACs and measured time) against the same network with every block run and no
gates, as one int8 model timed in interleaved passes; EnergyNet's Fig. 3."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ...core.decision import Decision
from ...core.sweep import (EQUAL_ACCURACY_TOLERANCE, add_savings, best_within, header, knob_figures, measure, sweep,
                           with_joules)
from ...core.timing import MonolithicPasses, timed_pass
from .calibrate import hindsight, outcomes_for
from .energy import decision_joules
from .manifest import table_delta
from .runtime import GatedRuntime


def evaluate(runtime: GatedRuntime, images: list[np.ndarray], labels: np.ndarray, count: int = 21,
             progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """The α sweep (the α table's, or an older bundle's δ table), every block, the hindsight bound and the
    ungated network, on the test split."""
    labels = np.asarray(labels)
    bundle = runtime.bundle
    spec = runtime.spec
    energy = {b.name: b.energy for b in spec.blocks}
    total_energy = sum(energy.values())
    mono_macs = bundle.monolithic.macs
    mono = MonolithicPasses(runtime.classify_monolithic, images, labels)
    # Warm every segment (run and skip paths) before timing anything.
    everything = runtime.every_block_plan()
    for plan in (everything, runtime.no_block_plan()):
        timed_pass(lambda image: runtime.classify_chain(image, plan), images[:32])

    def blocks(decisions: list[Decision]) -> dict[str, Any]:
        ran = [d.ran for d in decisions]
        return {"blocks_run": float(np.mean([len(r) for r in ran])),
                "modelled_energy_saving": float(1.0 - np.mean([sum(energy[b] for b in r) for r in ran]) / total_energy),
                "block_histogram": {b.name: float(np.mean([b.name in r for r in ran])) for b in spec.blocks}}

    mono_accuracy = mono.run()
    plans = runtime.alpha_plans
    if plans is not None:
        points = plans.sweep(count)
    else:
        table = spec.alpha_table
        points = [({"alpha": alpha, "delta": delta}, runtime.plan_for_delta(table_delta(delta), alpha))
                  for alpha, delta in zip(table.alpha, table.delta)]
    measured = runtime.energy
    summarize = with_joules(blocks, None if measured is None else decision_joules(runtime, measured))
    rows = sweep(runtime.classify, points, images, labels, mono, summarize, progress)
    every = measure(runtime.classify, everything, images, labels, summarize)
    mono.run()
    add_savings(rows + [every], mono_macs, mono.mean_latency,
                None if measured is None else measured.joules("monolithic"))
    chain_decisions, chain_latency = timed_pass(lambda image: runtime.classify_chain(image, everything), images)
    bound = hindsight(outcomes_for(runtime, images, labels), mono_accuracy - EQUAL_ACCURACY_TOLERANCE)
    if bound is not None:
        bound["mac_saving"] = 1.0 - bound["mean_macs"] / mono_macs
    best = best_within(rows, mono_accuracy - EQUAL_ACCURACY_TOLERANCE, key="modelled_energy_saving")
    four_x = [r for r in rows if r["mac_saving"] >= 0.75]
    return {
        **header(runtime, labels, "gated"),
        "blocks": [b.name for b in spec.blocks],
        "rule": "frontier" if plans is not None else "delta_quantiles",
        "rows": rows,
        "knob": knob_figures(rows, mono_macs),
        "hindsight": bound,
        "every_block": {"accuracy": every["accuracy"], "mean_macs": every["mean_macs"],
                        "latency_us": every["mean_latency_us"],
                        "chain_accuracy": float(np.mean(np.array([d.label for d in chain_decisions]) == labels)),
                        "chain_latency_us": chain_latency},
        "monolithic": mono.report(mono_accuracy, mono_macs),
        "at_equal_accuracy": None if best is None else {
            "tolerance": EQUAL_ACCURACY_TOLERANCE, "alpha": best["alpha"], "accuracy": best["accuracy"],
            "blocks_run": best["blocks_run"], "modelled_energy_saving": best["modelled_energy_saving"],
            "mac_saving": best["mac_saving"], "latency_saving": best["latency_saving"]},
        "at_4x_mac_saving": None if not four_x else {
            k: max(four_x, key=lambda r: r["accuracy"])[k]
            for k in ("alpha", "accuracy", "blocks_run", "modelled_energy_saving", "mac_saving", "latency_saving")},
        "training": spec.figures.get("training"),
    }
