"""What a person reads of a gated bundle: the eval table, EnergyNet's Fig. 3, and ``info``."""

from __future__ import annotations

from typing import Any

from ...core.bundle import Bundle
from ...core.plots import plot_accuracy_vs_saving, pyplot, save_atomic
from ...core.sweep import agreement_cell, knob_line, promise_line


def format_report(report: dict[str, Any]) -> str:
    mono = report["monolithic"]
    title = {"frontier": "α table (held-out frontier)",
             "delta_quantiles": "older bundle: α moves the gates' threshold through logit quantiles"}[report["rule"]]
    lines = [f"{title}:", f"{'alpha':>6} {'accuracy':>9} {'agrees':>7} {'blocks':>7} {'E save':>7} {'MACs':>11} {'MAC save':>9} "
             f"{'µs':>8} {'time save':>10}"]
    for r in report["rows"]:
        lines.append(f"{r['alpha']:6.2f} {r['accuracy']:9.4f} {agreement_cell(r)} {r['blocks_run']:7.2f} {r['modelled_energy_saving']:6.1%} "
                     f"{r['mean_macs']:11,.0f} {r['mac_saving']:8.1%} {r['mean_latency_us']:8.1f} {r['latency_saving']:9.1%}")
    knob = knob_line(report.get("knob"), "ungated network")
    if knob:
        lines.append(knob)
    promise = promise_line(report["rows"])
    if promise:
        lines.append(promise)
    lines.append("")
    lines.append(f"ungated int8 network: accuracy {mono['accuracy']:.4f}  {mono['macs']:>11,d} MACs  {mono['latency_us']:8.1f} µs")
    every = report["every_block"]
    bound = report.get("hindsight")
    if bound:
        lines.append(f"hindsight           : accuracy {bound['accuracy']:.4f}  {bound['mean_macs']:>11,.0f} MACs "
                     f"({bound['mac_saving']:.1%} saved; one gate threshold fitted on this test split)")
    lines.append(f"every block         : accuracy {every['accuracy']:.4f}  {every['mean_macs']:>11,.0f} MACs  "
                 f"{every['latency_us']:8.1f} µs (one invocation of the ungated network)")
    lines.append(f"  same, through the gated chain: accuracy {every['chain_accuracy']:.4f}  {every['chain_latency_us']:8.1f} µs")
    for key, title in (("at_equal_accuracy", "at equal accuracy (−0.5 points)"), ("at_4x_mac_saving", "at 4× fewer MACs")):
        best = report[key]
        if best:
            lines.append(f"{title}: α = {best['alpha']}, accuracy {best['accuracy']:.4f}, {best['blocks_run']:.2f} blocks, "
                         f"energy saving {best['modelled_energy_saving']:.1%}, {best['mac_saving']:.1%} fewer MACs, "
                         f"{best['latency_saving']:.1%} less time")
    return "\n".join(lines)


def plot(report: dict[str, Any], path: str) -> None:
    """EnergyNet's Fig. 3: accuracy vs energy saving (modelled eq. 2, MACs, measured time)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    plot_accuracy_vs_saving(ax, report["rows"],
                            (("modelled_energy_saving", "modelled energy (eq. 2)", "o-"), ("mac_saving", "MACs", "s-"),
                             ("latency_saving", "measured time", "^-")),
                            report["monolithic"]["accuracy"], "ungated int8", "saving vs the ungated network (%)",
                            "Fig. 3: accuracy vs energy saving (α sweep of the gate threshold)")
    save_atomic(fig, path)


def info_lines(bundle: Bundle) -> list[str]:
    """``edge-runtime info``'s family lines."""
    spec = bundle.part.gated
    cal = bundle.part.calibration
    lines = []
    in_float = f" (float {cal['ungated_keras_accuracy']:.4f})" if "ungated_keras_accuracy" in cal else ""
    lines.append(f"ungated     {bundle.monolithic.macs:,d} MACs, held-out int8 accuracy "
                 f"{cal.get('monolithic_accuracy', float('nan')):.4f}{in_float}; "
                 "device gates agree with Keras on "
                 f"{cal.get('gate_agreement_with_keras', float('nan')):.1%} of decisions")
    lines.append(f"stem        segment {spec.stem}: {bundle.segments[spec.stem].macs:,d} MACs (with gate 1)")
    for b in spec.blocks:
        lines.append(f"{b.name:<11} run {b.run} ({bundle.segments[b.run].macs:,d} MACs) | skip {b.skip} "
              f"({bundle.segments[b.skip].macs:,d} MACs{', projection' if b.projection else ''}) | energy share {b.energy:.1%}")
    return lines
