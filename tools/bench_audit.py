"""The label-free audit on drifted inputs: what the board sees (agreement with the monolithic network, its
interval, the status /health would give) beside what only labels tell (accuracy).

    python -m tools.bench_audit [BUNDLE] [--dataset digits] [--alphas 0,0.5,1] [--json]

Shifted copies of the test split, made here: sensor noise (σ = 40 grey levels), under-exposed and low
contrast (×0.4, −20), out of focus (3×3 box blur). Every input is audited (rate 1), so the interval is the
tightest the split allows; the default rate of 2% gets there 50× slower.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any, Callable

import numpy as np

from edge_runtime.cli.arg_types import doc_summary
from edge_runtime.core.audit import AgreementAudit
from edge_runtime.core.datasets import load_dataset
from edge_runtime.core.preprocess import Preprocessor
from edge_runtime.registry import open_runtime


def _blur(x: np.ndarray) -> np.ndarray:
    padded = np.pad(x.astype(np.float32), ((0, 0), (1, 1), (1, 1), (0, 0)), mode="edge")
    h, w = x.shape[1:3]
    return sum(padded[:, i:i + h, j:j + w] for i in range(3) for j in range(3)) / 9.0


SHIFTS: dict[str, Callable[[np.ndarray, np.random.Generator], np.ndarray]] = {
    "as captured": lambda x, rng: x.astype(np.float32),
    "sensor noise": lambda x, rng: x + rng.normal(0.0, 40.0, x.shape),
    "under-exposed, low contrast": lambda x, rng: x * 0.4 - 20.0,
    "out of focus": lambda x, rng: _blur(x),
}


def audit_row(runtime: Any, images: list[np.ndarray], labels: np.ndarray, alpha: float) -> dict[str, Any]:
    """Accuracy (labels), and the audit's agreement, interval, promise and status at α, every input audited."""
    plans = runtime.alpha_plans
    plan = runtime.plan_for_alpha(alpha)
    audit = AgreementAudit(1.0)
    correct = 0
    for image, label in zip(images, labels):
        answer = runtime.classify(image, plan).label
        correct += answer == label
        audit.due()
        audit.record(runtime.classify_monolithic(image) == answer, plans.expected_agreement(alpha))
    return {"alpha": alpha, "accuracy": correct / len(labels), "expected_accuracy": plans.expected(alpha)[1],
            **audit.snapshot()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=doc_summary(__doc__))
    parser.add_argument("bundle", nargs="?", help="bundle folder (default: the demo bundle, built if missing)")
    parser.add_argument("--dataset", default="digits", help="its test split is shifted (default digits)")
    parser.add_argument("--alphas", default="0,0.5,1", help="α values (default 0,0.5,1)")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args(argv)
    bundle = args.bundle
    if bundle is None:
        from edge_runtime.cli.demo import default_workdir, ensure_bundle

        bundle = os.path.join(default_workdir(), "digits-multi-exit")
        ensure_bundle(bundle, retrain=False)
    runtime = open_runtime(bundle)
    data = load_dataset(args.dataset, (runtime.bundle.input.height, runtime.bundle.input.width))
    pre = Preprocessor(runtime.bundle.input, runtime.input_quantization)
    rows = []
    for name, shift in SHIFTS.items():
        pixels = np.clip(shift(data.x_test, np.random.default_rng(0)), 0, 255).astype(np.uint8)
        images = [pre.from_pixels(p) for p in pixels]
        for alpha in (float(a) for a in args.alphas.split(",")):
            rows.append({"inputs": name, **audit_row(runtime, images, data.y_test, alpha)})
    if args.json:
        print(json.dumps({"bundle": bundle, "floor": str(runtime.alpha_plans.floor), "rows": rows}, indent=2))
        return 0
    print(f"{bundle} ({len(data.y_test)} test images; floor {runtime.alpha_plans.floor.describe()})")
    print(f"{'inputs':<28} {'α':>4} {'accuracy':>9} {'expected':>9} {'agreement':>10} {'95% interval':>16} "
          f"{'promise':>8}  status")
    for r in rows:
        print(f"{r['inputs']:<28} {r['alpha']:>4g} {r['accuracy']:>9.2%} {r['expected_accuracy']:>9.2%} "
              f"{r['agreement']:>10.2%} {r['low']:>7.2%}–{r['high']:<7.2%} "
              f"{'—' if r['promise'] is None else format(r['promise'], '.2%'):>8}  {r['status']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
