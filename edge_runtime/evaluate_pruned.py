"""``eval`` of a pruned bundle: the α sweep of the selector's threshold, AP and MP alone, and the
original network as one int8 model timed in interleaved passes; Maleki et al.'s Table 2 columns."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .evaluate import MonolithicPasses, _timed_pass
from .pruned import AP, MP, PrunedRuntime, RoutePlan

LOSS_BUDGET = 0.02  # "at ≤ 2 points accuracy loss"


def evaluate_pruned(runtime: PrunedRuntime, images: list[np.ndarray], labels: np.ndarray,
                    progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    say = progress or (lambda message: None)
    labels = np.asarray(labels)
    bundle = runtime.bundle
    spec = bundle.pruned
    original_macs = bundle.monolithic.macs
    mono = MonolithicPasses(runtime, images, labels)

    def plan_pass(plan: RoutePlan) -> dict[str, Any]:
        decisions, latency = _timed_pass(lambda image: runtime.classify(image, plan), images)
        routes = np.array([d.exit_index for d in decisions])
        return {"accuracy": float(np.mean(np.array([d.label for d in decisions]) == labels)),
                "mean_macs": float(np.mean([d.macs for d in decisions])), "mean_latency_us": latency,
                "hci_fraction": float(np.mean(routes == MP))}

    mono_accuracy = mono.run()
    rows = []
    for index, row in enumerate(spec.alpha_table):
        stats = plan_pass(runtime.plan_for_alpha(row.alpha))
        mono.run()
        rows.append({"alpha": row.alpha, "threshold_q": row.threshold_q, **stats})
        if index % 5 == 4:
            say(f"swept {index + 1}/{len(spec.alpha_table)} operating points")
    ap_only = plan_pass(runtime.fixed_plan(AP))
    mp_only = plan_pass(runtime.fixed_plan(MP))
    mono.run()
    mono_latency = mono.mean_latency
    for row in rows + [ap_only, mp_only]:
        row["mac_saving"] = 1.0 - row["mean_macs"] / original_macs
        row["latency_saving"] = 1.0 - row["mean_latency_us"] / mono_latency
    trained = min(rows, key=lambda r: abs(r["alpha"] - 0.5))
    mp_macs = runtime.mp_segment.macs
    figures = spec.figures
    eligible = [r for r in rows if r["accuracy"] >= mono_accuracy - LOSS_BUDGET]
    best = max(eligible, key=lambda r: r["mac_saving"]) if eligible else None
    return {
        "bundle": bundle.path, "family": "pruned", "test_samples": int(len(labels)), "threads": runtime.num_threads,
        "backend": f"{runtime.backend.name} {runtime.backend.version}".strip(), "fast_path": runtime.uses_fast_path,
        "rows": rows,
        "ap_only": ap_only, "mp_only": mp_only,
        "monolithic": mono.report(mono_accuracy, original_macs),
        "pruned": {
            "acc_original": mono_accuracy, "phi_mp": figures.get("phi_mp"), "acc_mp": mp_only["accuracy"],
            "phi_ap": figures.get("phi_ap"), "ap_mac_reduction": figures.get("ap_mac_reduction"),
            "acc_ap": ap_only["accuracy"], "acc_system": trained["accuracy"],
            "saving_vs_original": trained["mac_saving"], "saving_vs_mp": 1.0 - trained["mean_macs"] / mp_macs,
            "latency_saving_vs_original": trained["latency_saving"], "hci_fraction": trained["hci_fraction"],
            "sweep": figures.get("sweep", []), "min_accuracy": figures.get("min_accuracy"),
        },
        "within_2_points": None if best is None else {
            "alpha": best["alpha"], "accuracy": best["accuracy"], "mac_saving": best["mac_saving"],
            "latency_saving": best["latency_saving"]},
    }


def format_pruned_report(report: dict[str, Any]) -> str:
    mono = report["monolithic"]
    lines = [f"{'alpha':>6} {'thr':>5} {'accuracy':>9} {'MACs':>11} {'MAC save':>9} {'µs':>8} {'time save':>10} {'→ MP':>6}"]
    for r in report["rows"]:
        lines.append(f"{r['alpha']:6.2f} {r['threshold_q']:5d} {r['accuracy']:9.4f} {r['mean_macs']:11,.0f} "
                     f"{r['mac_saving']:8.1%} {r['mean_latency_us']:8.1f} {r['latency_saving']:9.1%} {r['hci_fraction']:6.1%}")
    lines.append("")
    for name in ("ap_only", "mp_only"):
        r = report[name]
        lines.append(f"{name:<18}: accuracy {r['accuracy']:.4f}  {r['mean_macs']:>11,.0f} MACs  {r['mean_latency_us']:8.1f} µs")
    lines.append(f"original int8     : accuracy {mono['accuracy']:.4f}  {mono['macs']:>11,d} MACs  {mono['latency_us']:8.1f} µs")
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


def plot_pruned(report: dict[str, Any], path: str) -> None:
    """Maleki et al.'s Fig. 10 (energy and accuracy vs φ_AP, chosen point marked) beside the measured α sweep."""
    from .plots import _pyplot, save_atomic

    plt = _pyplot()
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
    rows = report["rows"]
    ax_alpha.plot([100 * r["mac_saving"] for r in rows], [100 * r["accuracy"] for r in rows], "o-", label="MACs")
    ax_alpha.plot([100 * r["latency_saving"] for r in rows], [100 * r["accuracy"] for r in rows], "s-",
                  label="measured time")
    ax_alpha.axhline(100 * report["monolithic"]["accuracy"], color="gray", ls=":", label="original int8")
    ax_alpha.set_xlabel("saving vs the original (%)")
    ax_alpha.set_ylabel("test accuracy (%)")
    ax_alpha.set_title("α sweep of the selector threshold (int8, test split)")
    ax_alpha.legend(fontsize=8)
    fig.tight_layout()
    save_atomic(fig, path)
    plt.close(fig)
