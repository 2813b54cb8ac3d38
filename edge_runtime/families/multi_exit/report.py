"""What a person reads of a multi-exit bundle: the eval tables of both rules, the plot, and ``info``."""

from __future__ import annotations

from typing import Any

from ...core.bundle import Bundle
from ...core.live_pass import format_live
from ...core.plots import pyplot, save_atomic
from ...core.sweep import agreement_cell, knob_line, promise_line


RULE_TITLES = {"frontier": "α table (held-out frontier)", "frontier_macs": "α table on MACs (as converted)",
               "merkel": "Merkel's eq. 7 + eq. 10"}


def _rows(rule: str, rows: list[dict[str, Any]]) -> list[str]:
    target = "Ã" if rule == "merkel" else "expected"
    joules = bool(rows) and "energy_saving" in rows[0]
    lines = [f"{'alpha':>8} {target:>8} {'accuracy':>9} {'agrees':>7} {'MACs':>11} {'MAC save':>9} {'µs':>8} {'time save':>10}"
             + (f" {'energy save':>12}" if joules else "") + "  exits"]
    for r in rows:
        alpha = "-" if r["alpha"] is None else f"{r['alpha']:.4g}"
        aim = r.get("desired_accuracy", r.get("expected_accuracy"))
        lines.append(f"{alpha:>8} {aim:8.4f} {r['accuracy']:9.4f} {agreement_cell(r)} {r['mean_macs']:11,.0f} {r['mac_saving']:8.1%} "
                     f"{r['mean_latency_us']:8.1f} {r['latency_saving']:9.1%}"
                     + (f" {r['energy_saving']:11.1%}" if joules else "") + f"  {r['exit_histogram']}")
    return lines


def _at(best: dict[str, Any] | None) -> str:
    if not best:
        return "no row within 0.5 points of the monolithic accuracy"
    versus = f", {best['macs_vs_hindsight']:.2f}× the hindsight MACs" if best.get("macs_vs_hindsight") else ""
    if best.get("energy_saving") is not None:
        versus += f", {best['energy_saving']:.1%} less energy (measured)"
    return (f"at the monolithic accuracy (−{best['tolerance'] * 100:.1f} points): α = {best['alpha']}, accuracy "
            f"{best['accuracy']:.4f}, {best['mac_saving']:.1%} fewer MACs, {best['latency_saving']:.1%} less time{versus}")


def format_report(report: dict[str, Any]) -> str:
    """The eval report as a table for people: the rule in use first, the other beside it."""
    mono = report["monolithic"]
    lines: list[str] = []
    order = [report["rule"]] + [r for r in report["by_rule"] if r != report["rule"]]
    for rule in order:
        result = report["by_rule"][rule]
        title = RULE_TITLES[rule]
        if rule == "frontier" and report.get("energy"):
            title = f"α table fitted on joules measured with {report['energy']['monitor']}"
        lines.append(f"{title}{' (in use)' if rule == report['rule'] else ''}:")
        lines.extend(_rows(rule, result["rows"]))
        lines.append("  " + _at(result["at_monolithic_accuracy"]))
        knob = knob_line(result.get("knob"), "monolithic")
        if knob:
            lines.append("  " + knob)
        promise = promise_line(result["rows"])
        if promise:
            lines.append("  " + promise)
        lines.append("")
    for f in report["fixed_depth"]:
        lines.append(f"fixed depth {f['exit']:>8}: accuracy {f['accuracy']:.4f}  {f['macs']:>11,d} MACs  {f['latency_us']:8.1f} µs")
    lines.append(f"monolithic int8     : accuracy {mono['accuracy']:.4f}  {mono['macs']:>11,d} MACs  {mono['latency_us']:8.1f} µs")
    full = report["full_model"]
    lines.append(f"chain to last exit  : accuracy {full['accuracy']:.4f}  {full['macs']:>11,d} MACs  {full['latency_us']:8.1f} µs "
                 f"({full['latency_us'] / mono['latency_us']:.3f}× monolithic)")
    oracle = report["oracle"]
    lines.append(f"oracle              : accuracy {oracle['accuracy']:.4f}  {oracle['mean_macs']:>11,.0f} MACs "
                 f"({oracle['mac_saving']:.1%} saved)")
    bound = report.get("hindsight")
    if bound:
        lines.append(f"hindsight           : accuracy {bound['accuracy']:.4f}  {bound['mean_macs']:>11,.0f} MACs "
                     f"({bound['mac_saving']:.1%} saved; per-exit thresholds fitted on this test split)")
    if report.get("live"):
        lines.append(format_live(report["live"]))
    return "\n".join(lines)


def plot(report: dict[str, Any], path: str) -> None:
    """Accuracy and energy against α for both rules, and Merkel's Fig. 10 (energy vs accuracy) in MACs
    and in measured time, with fixed depth, the oracle and the hindsight bound. Written atomically."""
    plt = pyplot()
    mono = report["monolithic"]
    fig, ((ax_acc, ax_mac), (ax10, axt)) = plt.subplots(2, 2, figsize=(12.5, 9))
    for rule, result in report["by_rule"].items():
        rows = [r for r in result["rows"] if r["alpha"] is not None]
        alphas = [r["alpha"] for r in rows]
        ax_acc.plot(alphas, [100 * r["accuracy"] for r in rows], "o-", ms=3, label=f"{RULE_TITLES[rule]}, test")
        key = "desired_accuracy" if rule == "merkel" else "expected_accuracy"
        ax_acc.plot(alphas, [100 * r[key] for r in rows], ":", label=f"{RULE_TITLES[rule]}, aimed at")
        ax_mac.plot(alphas, [r["mean_macs"] / mono["macs"] for r in rows], "o-", ms=3, label=RULE_TITLES[rule])
    ax_acc.axhline(100 * mono["accuracy"], color="gray", ls="--", lw=0.8, label="monolithic int8")
    ax_acc.set(xlabel="α", ylabel="accuracy (%)", title="accuracy against α")
    ax_acc.legend(fontsize=8, loc="lower left")
    ax_mac.set(xlabel="α", ylabel="mean MACs ÷ monolithic", title="energy (MACs) against α")
    ax_mac.legend(fontsize=8)
    fixed = report["fixed_depth"]
    for ax, key, fixed_key, norm, label in ((ax10, "mean_macs", "macs", mono["macs"], "MACs ÷ monolithic"),
                                            (axt, "mean_latency_us", "latency_us", mono["latency_us"],
                                             "latency ÷ monolithic")):
        ax.plot([f["accuracy"] * 100 for f in fixed], [f[fixed_key] / norm for f in fixed], "s--", color="gray",
                label="fixed depth (each exit)")
        for rule, result in report["by_rule"].items():
            rows = result["rows"]
            ax.plot([100 * r["accuracy"] for r in rows], [r[key] / norm for r in rows], "o-", ms=3,
                    label=RULE_TITLES[rule])
        ax.plot([mono["accuracy"] * 100], [1.0], "k*", ms=12, label="monolithic int8")
        if key == "mean_macs":
            ax.plot([report["oracle"]["accuracy"] * 100], [report["oracle"]["mean_macs"] / norm], "r^", ms=9,
                    label="oracle")
            if report.get("hindsight"):
                ax.plot([report["hindsight"]["accuracy"] * 100], [report["hindsight"]["mean_macs"] / norm], "gv", ms=9,
                        label="hindsight (thresholds fitted on test)")
        ax.set(xlabel="test accuracy (%)", ylabel=label)
        ax.set_yscale("log")
        ax.legend(loc="upper left", fontsize=8)
    ax10.set_title("Fig. 10: energy (MACs) vs accuracy")
    axt.set_title(f"measured latency vs accuracy ({report['threads']} thread{'s' if report['threads'] > 1 else ''})")
    save_atomic(fig, path)


def info_lines(bundle: Bundle) -> list[str]:
    """``edge-runtime info``'s family lines."""
    part = bundle.part
    lines = []
    fit = part.calibration.energy_fit
    lines.append(f"calibration β1 = {part.calibration.beta1}, β2 = {part.calibration.beta2}, "
          + (f"C_D = {fit.a:.4g}·e^({fit.b:.4g}·A)" if fit else "no energy–accuracy fit"))
    lines.append(f"monolithic  {bundle.monolithic.macs:,d} MACs, held-out accuracy "
          f"{part.calibration.figures.get('monolithic_accuracy', float('nan')):.4f}")
    table = bundle.header.alpha_table
    charged = table.figures.get("invocation_cost") if table is not None else None
    if charged:
        timing = table.figures.get("invocation_timing") or {}
        timed = (f"; timed {timing['one_us']:.1f} µs in one invocation, {timing['every_us']:.1f} µs through every "
                 f"exit on {timing.get('cpu', 'the converting machine')}" if "one_us" in timing else ", as given")
        lines.append(f"invocation  charged {charged:,.0f} MACs in the α table "
                     f"({charged / max(bundle.monolithic.macs, 1):.1%} of the network{timed})")
    lines.append(f"{'exit':>8} {'MACs':>12} {'int8 acc':>9} {'float acc':>10}")
    for ex in part.exits:
        lines.append(f"{ex.name:>8} {ex.macs:>12,d} {ex.accuracy:9.4f} {ex.float_accuracy:10.4f}")
    return lines
