"""``eval --stream``: the test split replayed in order as a board would see it, at each α, with the
label-free audit (and ``--adapt``) running as it runs on the board, beside what labels tell.

Per α: ``accuracy`` (delivered), ``agreement`` (delivered: the answer equals the monolithic network's, over
every input), ``expected_accuracy`` and ``expected_agreement`` (the table's clean promises),
``estimated_agreement`` and its 95% interval (the audit's, at the end of the stream; with ``--adapt`` the
audit restarts at each change, so it estimates ``agreement_since_change``, delivered after ``changed_at``),
``mean_macs`` including the audit, ``audit_mac_share`` (the audit's share of them) and ``audit_network_share``
(the audit's MACs per input ÷ the whole network's: what the audit adds to a board that ran the whole network),
``audited`` and ``skipped_for_budget`` (:mod:`edge_runtime.core.audit`'s budget), ``cost_vs_table`` (the answers'
recent MACs ÷ the α table's at the end of the stream, :mod:`edge_runtime.core.cost_drift`).

Thread rules: runs on the caller's thread; resets the runtime's α-table cap before and after each α.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .adapt import PromiseKeeper
from .audit import AgreementAudit, default_budget


def stream_rows(runtime: Any, images: list[np.ndarray], labels: np.ndarray, alphas: list[float], audit_rate: float,
                adapt: bool, say: Callable[[str], None] = lambda m: None,
                audit_budget: float | None = None, seed: int = 0) -> list[dict[str, Any]]:
    """One row per α (see the module docstring); ``seed`` places the audited inputs."""
    plans = runtime.alpha_plans
    full = runtime.bundle.full_macs
    reference = np.array([runtime.classify_monolithic(image) for image in images])
    rows = []
    for index, alpha in enumerate(alphas):
        plans.set_cap(1.0)
        audit = AgreementAudit(audit_rate, seed=seed, budget=audit_budget)
        keeper = PromiseKeeper(runtime, audit, lambda line: say(f"α = {alpha:g}: {line}")) if adapt else None
        answers = np.empty(len(images), dtype=np.int64)
        macs = audit_macs = 0
        changed_at = 0  # the input after --adapt's last change: the audit restarted there
        for i, image in enumerate(images):
            decision = runtime.classify(image, runtime.plan_for_alpha(alpha))
            answers[i] = decision.label
            macs += decision.macs
            checked = audit.check(runtime, image, decision, alpha)  # as the board audits
            if checked is not None:
                audit_macs += checked.macs
                if keeper is not None and keeper.observe(image, checked.reference, checked.agrees, alpha):
                    changed_at = i + 1
        snapshot = audit.snapshot()
        n = len(images)
        rows.append({"alpha": alpha, "expected_accuracy": round(plans.expected(alpha)[1], 6),
                     "expected_agreement": plans.expected_agreement(alpha),
                     "accuracy": float(np.mean(answers == labels)), "agreement": float(np.mean(answers == reference)),
                     "agreement_since_change": float(np.mean(answers[changed_at:] == reference[changed_at:]))
                     if changed_at < n else None, "changed_at": changed_at,
                     "estimated_agreement": snapshot["agreement"],
                     "estimated_agreement_interval": [snapshot["low"], snapshot["high"]],
                     "audited": snapshot["audited"], "skipped_for_budget": snapshot["skipped_for_budget"],
                     "cost_vs_table": snapshot["cost_vs_table"], "status": snapshot["status"],
                     "mean_macs": (macs + audit_macs) / n, "audit_mac_share": audit_macs / max(macs + audit_macs, 1),
                     "audit_network_share": audit_macs / max(n * full, 1),
                     "cap": plans.cap, "cap_changes": 0 if keeper is None else keeper.changes})
        say(f"streamed α = {alpha:g} ({index + 1}/{len(alphas)})")
    plans.set_cap(1.0)
    return rows


def format_stream(stream: dict[str, Any]) -> str:
    """The stream table for people."""
    budget = stream.get("audit_budget")
    budget = default_budget(stream["audit_rate"]) if budget is None else budget
    lines = [f"stream in order, audit {stream['audit_rate']:g} within {budget:.0%} of the MACs"
             f"{', adapt' if stream['adapt'] else ''} "
             f"(floor {stream['floor']}):",
             f"{'alpha':>6} {'expected':>9} {'accuracy':>9} {'promised':>9} {'agreement':>10} {'estimated':>10} "
             f"{'95% interval':>16} {'MACs':>11} {'audit':>6} {'vs table':>8}  status"]
    for r in stream["rows"]:
        promised = "—" if r["expected_agreement"] is None else f"{r['expected_agreement']:.2%}"
        estimated = "—" if r["estimated_agreement"] is None else f"{r['estimated_agreement']:.2%}"
        low, high = r["estimated_agreement_interval"]
        ratio = "—" if r.get("cost_vs_table") is None else f"{r['cost_vs_table']:.2f}×"
        lines.append(f"{r['alpha']:6.2f} {r['expected_accuracy']:9.2%} {r['accuracy']:9.2%} {promised:>9} "
                     f"{r['agreement']:10.2%} {estimated:>10} {low:7.2%}–{high:<7.2%} {r['mean_macs']:11,.0f} "
                     f"{r['audit_mac_share']:6.1%} {ratio:>8}  {r['status']}"
                     + ("  (capped)" if r["cap"] < 1.0 else ""))
    return "\n".join(lines)
