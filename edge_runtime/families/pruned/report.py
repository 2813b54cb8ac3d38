"""What a person reads of a pruned bundle: the eval table, Maleki et al.'s Fig. 10, and ``info``."""

from __future__ import annotations

from typing import Any

from ...core.bundle import Bundle
from ...core.plots import plot_accuracy_vs_saving, pyplot, save_atomic
from ...core.sweep import agreement_cell, knob_line, promise_line


def format_report(report: dict[str, Any]) -> str:
    mono = report["monolithic"]
    title = {"frontier": "α table (held-out frontier)", "mp_share": "older bundle: α moves the share of inputs sent "
             "to MP"}[report["rule"]]
    lines = [f"{title}:", f"{'alpha':>6} {'aim':>7} {'accuracy':>9} {'agrees':>7} {'MACs':>11} {'MAC save':>9} {'µs':>8} "
             f"{'time save':>10} {'→ MP':>6}"]
    for r in report["rows"]:
        aim = f"{r['expected_accuracy']:7.4f}" if "expected_accuracy" in r else f"q≥{r['threshold_q']:>4d}"
        lines.append(f"{r['alpha']:6.2f} {aim:>7} {r['accuracy']:9.4f} {agreement_cell(r)} {r['mean_macs']:11,.0f} "
                     f"{r['mac_saving']:8.1%} {r['mean_latency_us']:8.1f} {r['latency_saving']:9.1%} {r['hci_fraction']:6.1%}")
    knob = knob_line(report.get("knob"), "original")
    if knob:
        lines.append(knob)
    promise = promise_line(report["rows"])
    if promise:
        lines.append(promise)
    lines.append("")
    for name in ("ap_only", "mp_only"):
        r = report[name]
        lines.append(f"{name:<18}: accuracy {r['accuracy']:.4f}  {r['mean_macs']:>11,.0f} MACs  {r['mean_latency_us']:8.1f} µs")
    lines.append(f"original int8     : accuracy {mono['accuracy']:.4f}  {mono['macs']:>11,d} MACs  {mono['latency_us']:8.1f} µs")
    bound = report.get("hindsight")
    if bound:
        lines.append(f"hindsight         : accuracy {bound['accuracy']:.4f}  {bound['mean_macs']:>11,.0f} MACs "
                     f"({bound['mac_saving']:.1%} saved; one threshold fitted on this test split, within 0.5 points)")
    p = report["pruned"]
    lines.append(f"Table 2: acc_original {p['acc_original']:.4f}, φ_MP {p['phi_mp']}, acc_MP {p['acc_mp']:.4f}, "
                 f"φ_AP {p['phi_ap']}, AP MAC reduction {p['ap_mac_reduction']:.1%}, acc_AP {p['acc_ap']:.4f}, "
                 f"acc_system {p['acc_system']:.4f}, saving vs original {p['saving_vs_original']:.1%}, "
                 f"vs MP {p['saving_vs_mp']:.1%}")
    best = report["within_2_points"]
    if best:
        lines.append(f"within 2 points of the original: α = {best['alpha']}, accuracy {best['accuracy']:.4f}, "
                     f"{best['mac_saving']:.1%} fewer MACs, {best['latency_saving']:.1%} less time")
    return "\n".join(lines)


def plot(report: dict[str, Any], path: str) -> None:
    """Maleki et al.'s Fig. 10 (energy and accuracy vs φ_AP, chosen point marked) beside the measured α sweep."""
    plt = pyplot()
    fig, (ax, ax_alpha) = plt.subplots(1, 2, figsize=(12, 4.5))
    sweep = report["pruned"]["sweep"]
    if sweep:
        phis = [100 * s["phi_ap"] for s in sweep]
        ax.plot(phis, [s["energy"] for s in sweep], "o-", color="tab:blue", label="energy (MACs ÷ original)")
        ax.set_xlabel("φ_AP (% of filters pruned)")
        ax.set_ylabel("normalised energy")
        acc = ax.twinx()
        acc.plot(phis, [100 * s["acc_system"] for s in sweep], "s--", color="tab:red", label="system accuracy")
        acc.set_ylabel("accuracy (%)")
        chosen = report["pruned"]["phi_ap"]
        for s in sweep:
            if s["phi_ap"] == chosen:
                ax.plot([100 * chosen], [s["energy"]], "k*", ms=16, label="chosen")
        handles, names = ax.get_legend_handles_labels()
        more, more_names = acc.get_legend_handles_labels()
        ax.legend(handles + more, names + more_names, loc="center right", fontsize=8)
    ax.set_title("Fig. 10: energy and accuracy vs φ_AP (held-out, float)")
    plot_accuracy_vs_saving(ax_alpha, report["rows"],
                            (("mac_saving", "MACs", "o-"), ("latency_saving", "measured time", "s-")),
                            report["monolithic"]["accuracy"], "original int8", "saving vs the original (%)",
                            "α sweep of the selector threshold (int8, test split)")
    save_atomic(fig, path)


def info_lines(bundle: Bundle) -> list[str]:
    """``edge-runtime info``'s family lines."""
    spec = bundle.part.pruned
    f = spec.figures
    cal = bundle.part.calibration
    lines = []
    lines.append(f"original    {bundle.monolithic.macs:,d} MACs, held-out int8 accuracy {cal.get('monolithic_accuracy', float('nan')):.4f}")
    lines.append(f"pruning     φ_MP {f.get('phi_mp')}, φ_AP {f.get('phi_ap')} (AP has {f.get('ap_mac_reduction', 0):.1%} fewer MACs)")
    lines.append(f"held-out    AP {cal.get('acc_ap', float('nan')):.4f}, MP {cal.get('acc_mp', float('nan')):.4f}, system "
          f"{cal.get('acc_system', float('nan')):.4f} at the trained threshold ({cal.get('hci_fraction', 0):.1%} to MP)")
    for role in ("trunk", "icnn_head", "ap_head", "mp", "selector"):
        name = getattr(spec, role)
        if name:
            lines.append(f"{role:<11} segment {name}: {bundle.segments[name].macs:,d} MACs")
    return lines
