"""An exit's error probability as a function of its confidence, fitted on held-out outcomes.

* :func:`logistic_error`: P(wrong | c) = σ(a + b·logit c) with b ≤ 0 (Platt scaling in the logit of the
  confidence), fitted by penalised maximum likelihood with Newton's method. Two numbers per exit: on
  ~200 held-out images it does not follow where single errors happen to fall, and every input informs it.
* :func:`isotonic_error`: a monotone step (one rate per pooled confidence bin, pulled towards the
  exit's overall rate). It takes any shape, so with thousands of held-out images it is the more exact.
* :func:`blended_error` (what the multi-exit α table uses): the step fit's bins, each pulled towards the
  logistic curve by :data:`BLEND_WEIGHT` pseudo-inputs: the logistic curve on a few hundred images, the
  step fit where thousands show a shape the curve cannot follow.

Measured (``python -m tools.bench_seeds``: the same 160 re-splits of the images four digits models never
saw, α table fitted on 216 and scored on 359): MACs at the monolithic accuracy − 0.5 points ÷ the
hindsight bound, median 1.36× with the step fit and 1.17× with the blend; on 60,000 digits at 28×28
(9,000 held-out images) the blend keeps the step fit's α = 0 (59% fewer MACs than the monolithic
model) where the logistic curve alone gave 33%: one slope per exit cannot follow the last percent of
a softmax's confidence, where most inputs sit and the α = 0 point is decided.

Numpy only: it runs on the device too (``edge-runtime calibrate``).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

CODE_FLOOR = 1.0 / 512.0  # half a step of an int8 softmax output (scale 1/256): logit stays finite at 0 and 1
SLOPE_RIDGE = 1.0  # penalty on b², so a perfectly separating confidence gives a finite curve
INTERCEPT_RIDGE = 1e-6  # keeps an error-free exit's fit finite; too small to move a rate measurably
NEWTON_STEPS = 100
LARGEST_STEP = 8.0  # in logit units: Newton's first steps can overshoot on nearly separable data
PRIOR_WEIGHT = 2.0  # pseudo-inputs pulling each confidence bin's error rate towards its exit's own
BLEND_WEIGHT = 1000.0  # pseudo-inputs at the logistic rate in each bin of blended_error

ErrorFit = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (confidences, wrong) → each input's error probability


def confidence_logit(confidences: np.ndarray) -> np.ndarray:
    """logit(c) of confidences in [0, 1], clipped half an int8 step inside the interval."""
    c = np.clip(np.asarray(confidences, dtype=np.float64), CODE_FLOOR, 1.0 - CODE_FLOOR)
    return np.log(c) - np.log1p(-c)


def fit_logistic(x: np.ndarray, wrong: np.ndarray, slope_ridge: float = SLOPE_RIDGE) -> tuple[float, float]:
    """(a, b) maximising Σ log-likelihood of ``wrong`` under σ(a + b·x) − ½·(slope_ridge·b² + ε·a²)."""
    design = np.stack([np.ones_like(x), x], axis=1)
    y = np.asarray(wrong, dtype=np.float64)
    penalty = np.diag([INTERCEPT_RIDGE, slope_ridge])
    w = np.zeros(2)
    for _ in range(NEWTON_STEPS):
        p = 1.0 / (1.0 + np.exp(-np.clip(design @ w, -35.0, 35.0)))
        gradient = design.T @ (p - y) + penalty @ w
        hessian = (design * (p * (1.0 - p))[:, None]).T @ design + penalty
        step = np.clip(np.linalg.solve(hessian, gradient), -LARGEST_STEP, LARGEST_STEP)
        w -= step
        if np.max(np.abs(step)) < 1e-10:
            break
    return float(w[0]), float(w[1])


def logistic_error(confidences: np.ndarray, wrong: np.ndarray, slope_ridge: float = SLOPE_RIDGE) -> np.ndarray:
    """Each input's error probability at its confidence on the logistic curve (see the module docstring).

    A curve that would rise with confidence says the confidence tells nothing about errors: every input
    then gets the exit's overall error rate.

    Args:
        confidences: (N,) the exit's confidence for each input, 0–1.
        wrong: (N,) whether the exit's answer was wrong.
    """
    wrong = np.asarray(wrong, dtype=bool)
    if wrong.size == 0:
        return np.zeros(0)
    x = confidence_logit(confidences)
    a, b = fit_logistic(x, wrong, slope_ridge)
    if b > 0.0:
        return np.full(wrong.size, float(wrong.mean()))
    return 1.0 / (1.0 + np.exp(-np.clip(a + b * x, -35.0, 35.0)))


def _pooled_bins(sorted_codes: np.ndarray, sorted_wrong: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) positions of the bins of a non-increasing error rate along increasing confidence (pool
    adjacent violators) over inputs sorted by confidence. Equal codes start in one bin (a threshold cannot
    split them), and equal rates pool too, so a run of error-free codes is one bin."""
    starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
    ends = np.r_[starts[1:], len(sorted_codes)]
    pooled: list[list[float]] = []  # [errors, inputs, start, end]
    for start, end in zip(starts, ends):
        pooled.append([float(sorted_wrong[start:end].sum()), float(end - start), int(start), int(end)])
        while len(pooled) >= 2 and pooled[-2][0] / pooled[-2][1] <= pooled[-1][0] / pooled[-1][1]:
            errors, inputs, _, end_ = pooled.pop()
            pooled[-1][0] += errors
            pooled[-1][1] += inputs
            pooled[-1][3] = end_
    return [(int(p[2]), int(p[3])) for p in pooled]


def isotonic_error(codes: np.ndarray, wrong: np.ndarray, prior_weight: float = PRIOR_WEIGHT) -> np.ndarray:
    """Each input's error probability at its confidence code: held-out errors fitted non-increasing in
    confidence (pool adjacent violators), each pooled bin pulled towards the exit's overall error rate
    by ``prior_weight`` pseudo-inputs, so no threshold can be placed to dodge one unlucky error."""
    codes = np.asarray(codes)
    wrong = np.asarray(wrong, dtype=bool)
    rates = np.empty(wrong.size)
    if wrong.size == 0:
        return rates
    overall = float(wrong.mean())
    order = np.argsort(codes, kind="stable")
    for start, end in _pooled_bins(codes[order], wrong[order]):
        members = order[start:end]
        rates[members] = (wrong[members].sum() + prior_weight * overall) / (end - start + prior_weight)
    return rates


def blended_error(confidences: np.ndarray, wrong: np.ndarray, weight: float = BLEND_WEIGHT) -> np.ndarray:
    """Each input's error probability: its bin's errors and ``weight`` pseudo-inputs at its logistic rate,
    (bin errors + weight · logistic rate) ÷ (bin size + weight), over the bins of :func:`isotonic_error`.

    A few hundred held-out inputs leave every bin small, and this is the logistic curve; thousands fill
    the bins where the curve's one slope cannot follow the data (a softmax's last percent of confidence),
    and there it is the step fit.
    """
    confidences = np.asarray(confidences, dtype=np.float64)
    wrong = np.asarray(wrong, dtype=bool)
    if wrong.size == 0:
        return np.zeros(0)
    curve = logistic_error(confidences, wrong)
    order = np.argsort(confidences, kind="stable")
    bins = _pooled_bins(confidences[order], wrong[order])
    rates = np.empty(wrong.size)
    for start, end in bins:
        members = order[start:end]
        rates[members] = (wrong[members].sum() + weight * curve[members]) / (end - start + weight)
    return rates
