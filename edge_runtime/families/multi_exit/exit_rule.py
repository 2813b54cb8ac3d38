"""The exit decision as pure functions (Merkel et al., seeds 000/001).

* eq. 7: trade-off factor α → desired accuracy Ã, from the energy–accuracy fit
  C_D = a·e^{bA} (C_D: energy normalised to the full network's, A: accuracy in [0, 1]).
* eq. 10: per input, the first exit l with β1·A_l ≥ Ã or C_l ≥ β2·Ã; the last exit if none.

Nothing here touches an interpreter, so every clause can be checked with numbers worked
by hand.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ...core.units import check_unit_interval

DEFAULT_BETA1 = 0.8
DEFAULT_BETA2 = 1.1


@dataclass(frozen=True)
class EnergyFit:
    """C_D = a·e^{b·A}: normalised energy (MACs ÷ full network MACs) as a function of accuracy.

    ``b`` must be positive (more energy buys more accuracy) for eq. 7 to apply.
    """

    a: float
    b: float


def fit_energy_accuracy(accuracies: Sequence[float], energies: Sequence[float]) -> EnergyFit | None:
    """Least-squares fit of ln C_D = ln a + b·A over the exits on the Pareto front.

    Args:
        accuracies: held-out accuracy of each exit, in [0, 1], in exit order.
        energies: normalised energy of each exit (cumulative MACs ÷ full MACs), in (0, 1].

    Returns:
        The fit, or None when fewer than two exits improve on every shallower one (the
        exits then do not trade energy for accuracy and eq. 7 does not apply).
    """
    front: list[tuple[float, float]] = []
    best = -1.0
    for acc, energy in zip(accuracies, energies):
        if acc > best and energy > 0:
            front.append((acc, energy))
            best = acc
    if len(front) < 2:
        return None
    a_values = np.array([p[0] for p in front])
    log_e = np.log(np.array([p[1] for p in front]))
    b, log_a = np.polyfit(a_values, log_e, 1)
    if not b > 0:
        return None
    return EnergyFit(a=float(math.exp(log_a)), b=float(b))


def desired_accuracy(alpha: float, fit: EnergyFit | None, lowest: float, highest: float) -> float:
    """Eq. 7: Ã = (1/b)·ln((1−α)/(α·a·b)), clamped to [lowest, highest].

    α = 0 (accuracy at any cost) gives ``highest``; α = 1 (least energy) gives ``lowest``.
    Without a fit, Ã falls linearly from ``highest`` to ``lowest`` as α goes 0 → 1.

    Raises:
        ValueRangeError: α outside [0, 1].
    """
    alpha = check_unit_interval("alpha", alpha)
    if fit is None:
        return highest - alpha * (highest - lowest)
    if alpha <= 0.0:
        return highest
    if alpha >= 1.0:
        return lowest
    target = math.log((1.0 - alpha) / (alpha * fit.a * fit.b)) / fit.b
    return min(highest, max(lowest, target))


def choose_exit(
    confidences: Sequence[float],
    train_accuracies: Sequence[float],
    desired: float,
    beta1: float = DEFAULT_BETA1,
    beta2: float = DEFAULT_BETA2,
) -> int:
    """Eq. 10: index of the first exit l with β1·A_l ≥ Ã or C_l ≥ β2·Ã; the last if none.

    Args:
        confidences: C_l, each exit's top softmax probability for this input.
        train_accuracies: A_l, each exit's accuracy measured at conversion time.
        desired: Ã, the desired accuracy in [0, 1].
    """
    last = len(train_accuracies) - 1
    for index, (confidence, accuracy) in enumerate(zip(confidences, train_accuracies)):
        if beta1 * accuracy >= desired or confidence >= beta2 * desired:
            return index
    return last
