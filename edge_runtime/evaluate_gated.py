"""``eval`` of a gated bundle: the α sweep of the gates' threshold (blocks run, accuracy, savings in
modelled energy, MACs and measured time) against the same network with every block run and no
gates, as one int8 model timed in interleaved passes; EnergyNet's Fig. 3."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .evaluate import MonolithicPasses, _timed_pass
from .gated import GatedRuntime, GatePlan

EQUAL_ACCURACY_TOLERANCE = 0.005


def evaluate_gated(runtime: GatedRuntime, images: list[np.ndarray], labels: np.ndarray,
                   progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    say = progress or (lambda message: None)
    labels = np.asarray(labels)
    bundle = runtime.bundle
    spec = bundle.gated
    energy = {b.name: b.energy for b in spec.blocks}
    total_energy = sum(energy.values())
    mono_macs = bundle.monolithic.macs
    mono = MonolithicPasses(runtime, images, labels)
    # Warm every segment (run and skip paths) before timing anything.
    everything = runtime.plan_for_delta(-1e9)
    for plan in (everything, runtime.plan_for_delta(1e9)):
        _timed_pass(lambda image: runtime.classify_chain(image, plan), images[:32])

    def plan_pass(plan: GatePlan) -> dict[str, Any]:
        decisions, latency = _timed_pass(lambda image: runtime.classify(image, plan), images)
        ran = [d.blocks for d in decisions]
        return {"accuracy": float(np.mean(np.array([d.label for d in decisions]) == labels)),
                "mean_macs": float(np.mean([d.macs for d in decisions])), "mean_latency_us": latency,
                "blocks_run": float(np.mean([len(r) for r in ran])),
                "energy_saving": float(1.0 - np.mean([sum(energy[b] for b in r) for r in ran]) / total_energy),
                "block_histogram": {b.name: float(np.mean([b.name in r for r in ran])) for b in spec.blocks}}

    mono_accuracy = mono.run()
    rows = []
    for index, (alpha, delta) in enumerate(spec.alpha_table):
        stats = plan_pass(runtime.plan_for_delta(delta, alpha))
        mono.run()
        rows.append({"alpha": alpha, "delta": delta, **stats})
        if index % 5 == 4:
            say(f"swept {index + 1}/{len(spec.alpha_table)} operating points")
    mono_latency = mono.mean_latency
    for row in rows:
        row["mac_saving"] = 1.0 - row["mean_macs"] / mono_macs
        row["latency_saving"] = 1.0 - row["mean_latency_us"] / mono_latency
    chain_decisions, chain_latency = _timed_pass(lambda image: runtime.classify_chain(image, everything), images)
    every = rows[0]
    eligible = [r for r in rows if r["accuracy"] >= mono_accuracy - EQUAL_ACCURACY_TOLERANCE]
    best = max(eligible, key=lambda r: r["energy_saving"]) if eligible else None
    four_x = [r for r in rows if r["mac_saving"] >= 0.75]
    return {
        "bundle": bundle.path, "family": "gated", "test_samples": int(len(labels)), "threads": runtime.num_threads,
        "backend": f"{runtime.backend.name} {runtime.backend.version}".strip(), "fast_path": runtime.uses_fast_path,
        "blocks": [b.name for b in spec.blocks],
        "rows": rows,
        "every_block": {"accuracy": every["accuracy"], "mean_macs": every["mean_macs"],
                        "latency_us": every["mean_latency_us"],
                        "chain_accuracy": float(np.mean(np.array([d.label for d in chain_decisions]) == labels)),
                        "chain_latency_us": chain_latency},
        "monolithic": mono.report(mono_accuracy, mono_macs),
        "at_equal_accuracy": None if best is None else {
            "tolerance": EQUAL_ACCURACY_TOLERANCE, "alpha": best["alpha"], "accuracy": best["accuracy"],
            "blocks_run": best["blocks_run"], "energy_saving": best["energy_saving"],
            "mac_saving": best["mac_saving"], "latency_saving": best["latency_saving"]},
        "at_4x_mac_saving": None if not four_x else {
            k: max(four_x, key=lambda r: r["accuracy"])[k]
            for k in ("alpha", "accuracy", "blocks_run", "energy_saving", "mac_saving", "latency_saving")},
        "training": spec.figures.get("training"),
    }


def format_gated_report(report: dict[str, Any]) -> str:
    mono = report["monolithic"]
    lines = [f"{'alpha':>6} {'accuracy':>9} {'blocks':>7} {'E save':>7} {'MACs':>11} {'MAC save':>9} {'µs':>8} {'time save':>10}"]
    for r in report["rows"]:
        lines.append(f"{r['alpha']:6.2f} {r['accuracy']:9.4f} {r['blocks_run']:7.2f} {r['energy_saving']:6.1%} "
                     f"{r['mean_macs']:11,.0f} {r['mac_saving']:8.1%} {r['mean_latency_us']:8.1f} {r['latency_saving']:9.1%}")
    lines.append("")
    lines.append(f"ungated int8 network: accuracy {mono['accuracy']:.4f}  {mono['macs']:>11,d} MACs  {mono['latency_us']:8.1f} µs")
    every = report["every_block"]
    lines.append(f"every block (α = 0) : accuracy {every['accuracy']:.4f}  {every['mean_macs']:>11,.0f} MACs  "
                 f"{every['latency_us']:8.1f} µs (one invocation of the ungated network)")
    lines.append(f"  same, through the gated chain: accuracy {every['chain_accuracy']:.4f}  {every['chain_latency_us']:8.1f} µs")
    for key, title in (("at_equal_accuracy", "at equal accuracy (−0.5 points)"), ("at_4x_mac_saving", "at 4× fewer MACs")):
        best = report[key]
        if best:
            lines.append(f"{title}: α = {best['alpha']}, accuracy {best['accuracy']:.4f}, {best['blocks_run']:.2f} blocks, "
                         f"energy saving {best['energy_saving']:.1%}, {best['mac_saving']:.1%} fewer MACs, "
                         f"{best['latency_saving']:.1%} less time")
    return "\n".join(lines)


def plot_gated(report: dict[str, Any], path: str) -> None:
    """EnergyNet's Fig. 3: accuracy vs energy saving (modelled eq. 2, MACs, measured time)."""
    from .plots import _pyplot, save_atomic

    plt = _pyplot()
    rows = report["rows"]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for key, label, marker in (("energy_saving", "modelled energy (eq. 2)", "o-"), ("mac_saving", "MACs", "s-"),
                               ("latency_saving", "measured time", "^-")):
        ax.plot([100 * r[key] for r in rows], [100 * r["accuracy"] for r in rows], marker, label=label)
    ax.axhline(100 * report["monolithic"]["accuracy"], color="gray", ls=":", label="ungated int8")
    ax.set_xlabel("saving vs the ungated network (%)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("Fig. 3: accuracy vs energy saving (α sweep of the gate threshold)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_atomic(fig, path)
    plt.close(fig)
