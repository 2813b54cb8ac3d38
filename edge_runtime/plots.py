"""PNG plots of an ``eval`` report (matplotlib, imported only when a plot is asked for)."""

from __future__ import annotations

import os
from typing import Any

from .errors import EdgeRuntimeError


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise EdgeRuntimeError("--plot needs matplotlib: pip install 'edge-adaptive[plot]'") from exc
    return plt


def plot_multi_exit(report: dict[str, Any], path: str) -> None:
    """Merkel's Fig. 9 (test vs desired accuracy) and Fig. 10 (energy vs accuracy), side by side.

    Energy is shown two ways: MACs and measured latency, both relative to the monolithic model.
    Written to a temporary file and renamed, so ``path`` is never half-written.
    """
    plt = _pyplot()
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


def save_atomic(fig: Any, path: str) -> None:
    """Save a figure as PNG through a temporary file and a rename: ``path`` is never half-written."""
    partial = path + ".partial.png"
    try:
        fig.savefig(partial, dpi=110)
    except BaseException:
        if os.path.exists(partial):
            os.unlink(partial)
        raise
    os.replace(partial, path)
