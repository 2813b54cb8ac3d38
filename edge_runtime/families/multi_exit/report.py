"""What a person reads of a multi-exit bundle: the eval table, Merkel's Fig. 9 and 10, and ``info``."""

from __future__ import annotations

from typing import Any

from ...core.bundle import Bundle
from ...core.live_pass import format_live
from ...core.plots import pyplot, save_atomic


def format_report(report: dict[str, Any]) -> str:
    """The eval report as a table for people."""
    mono = report["monolithic"]
    lines = [f"{'alpha':>6} {'Ã':>7} {'accuracy':>9} {'MACs':>11} {'MAC save':>9} {'µs':>8} {'time save':>10}  exits"]
    for r in report["rows"]:
        alpha = "-" if r["alpha"] is None else f"{r['alpha']:.2f}"
        lines.append(f"{alpha:>6} {r['desired_accuracy']:7.4f} {r['accuracy']:9.4f} {r['mean_macs']:11,.0f} "
                     f"{r['mac_saving']:8.1%} {r['mean_latency_us']:8.1f} {r['latency_saving']:9.1%}  {r['exit_histogram']}")
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
    if report.get("live"):
        lines.append(format_live(report["live"]))
    best = report["at_monolithic_accuracy"]
    if best:
        lines.append(f"at the monolithic accuracy (−{best['tolerance'] * 100:.1f} points): α = {best['alpha']}, accuracy "
                     f"{best['accuracy']:.4f}, {best['mac_saving']:.1%} fewer MACs, {best['latency_saving']:.1%} less time")
    return "\n".join(lines)


def plot(report: dict[str, Any], path: str) -> None:
    """Merkel's Fig. 9 (test vs desired accuracy) and Fig. 10 (energy vs accuracy), side by side.

    Energy is shown two ways: MACs and measured latency, both relative to the monolithic model.
    Written to a temporary file and renamed, so ``path`` is never half-written.
    """
    plt = pyplot()
    rows = report["rows"]
    mono = report["monolithic"]
    fig, (ax9, ax10, axt) = plt.subplots(1, 3, figsize=(15, 4.6))
    desired = [r["desired_accuracy"] * 100 for r in rows]
    accuracy = [r["accuracy"] * 100 for r in rows]
    ax9.plot(desired, accuracy, "o-", label=f"adaptive (β1={report['beta1']}, β2={report['beta2']})")
    lo, hi = min(desired + accuracy) - 1, max(desired + accuracy) + 1
    ax9.plot([lo, hi], [lo, hi], "k--", lw=0.8, label="y = x")
    ax9.set(xlabel="desired accuracy Ã (%)", ylabel="test accuracy (%)", title="Fig. 9: test vs desired accuracy")
    ax9.legend(loc="lower right")

    fixed = report["fixed_depth"]
    for ax, key, fixed_key, oracle_value, label in (
        (ax10, "mean_macs", "macs", report["oracle"]["mean_macs"] / mono["macs"], "MACs ÷ monolithic"),
        (axt, "mean_latency_us", "latency_us", None, "latency ÷ monolithic"),
    ):
        norm = mono["macs"] if key == "mean_macs" else mono["latency_us"]
        ax.plot([f["accuracy"] * 100 for f in fixed], [f[fixed_key] / norm for f in fixed], "s--", color="gray",
                label="fixed depth (each exit)")
        ax.plot(accuracy, [r[key] / norm for r in rows], "o-", label="adaptive exits (α sweep)")
        ax.plot([mono["accuracy"] * 100], [1.0], "k*", ms=12, label="monolithic int8")
        if oracle_value is not None:
            ax.plot([report["oracle"]["accuracy"] * 100], [oracle_value], "r^", ms=10, label="oracle")
        ax.set(xlabel="test accuracy (%)", ylabel=label)
        ax.set_yscale("log")
        ax.legend(loc="upper left", fontsize=8)
    ax10.set_title("Fig. 10: energy (MACs) vs accuracy")
    axt.set_title(f"measured latency vs accuracy ({report['threads']} thread{'s' if report['threads'] > 1 else ''})")
    fig.tight_layout()
    save_atomic(fig, path)
    plt.close(fig)


def info_lines(bundle: Bundle) -> list[str]:
    """``edge-runtime info``'s family lines."""
    part = bundle.part
    lines = []
    fit = part.calibration.energy_fit
    lines.append(f"calibration β1 = {part.calibration.beta1}, β2 = {part.calibration.beta2}, "
          + (f"C_D = {fit.a:.4g}·e^({fit.b:.4g}·A)" if fit else "no energy–accuracy fit"))
    lines.append(f"monolithic  {bundle.monolithic.macs:,d} MACs, held-out accuracy "
          f"{part.calibration.figures.get('monolithic_accuracy', float('nan')):.4f}")
    lines.append(f"{'exit':>8} {'MACs':>12} {'int8 acc':>9} {'float acc':>10}")
    for ex in part.exits:
        lines.append(f"{ex.name:>8} {ex.macs:>12,d} {ex.accuracy:9.4f} {ex.float_accuracy:10.4f}")
    return lines
