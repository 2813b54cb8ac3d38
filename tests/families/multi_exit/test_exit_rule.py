import math

import numpy as np
import pytest

from edge_runtime.errors import ValueRangeError
from edge_runtime.families.multi_exit.exit_rule import EnergyFit, choose_exit, desired_accuracy, fit_energy_accuracy


class TestEq7:
    def test_value_worked_by_hand(self):
        # a = 0.01, b = 5, α = 0.5: (1/5)·ln(0.5 / (0.5·0.01·5)) = 0.2·ln(20) = 0.59915
        fit = EnergyFit(a=0.01, b=5.0)
        assert desired_accuracy(0.5, fit, 0.0, 1.0) == pytest.approx(0.2 * math.log(20.0))

    def test_second_value_worked_by_hand(self):
        # a = 1e-4, b = 10, α = 0.2: (1/10)·ln(0.8 / (0.2·1e-4·10)) = 0.1·ln(4000) = 0.82940
        fit = EnergyFit(a=1e-4, b=10.0)
        assert desired_accuracy(0.2, fit, 0.0, 1.0) == pytest.approx(0.829404, abs=1e-6)

    def test_clamped_to_the_exits_range(self):
        fit = EnergyFit(a=0.01, b=5.0)
        assert desired_accuracy(0.5, fit, 0.7, 0.9) == 0.7  # 0.599 is below the lowest exit
        assert desired_accuracy(0.01, fit, 0.2, 0.5) == 0.5  # very accurate target clamps to the best exit

    def test_alpha_edges(self):
        fit = EnergyFit(a=0.01, b=5.0)
        assert desired_accuracy(0.0, fit, 0.6, 0.95) == 0.95
        assert desired_accuracy(1.0, fit, 0.6, 0.95) == 0.6

    def test_falls_as_alpha_rises(self):
        fit = EnergyFit(a=1e-4, b=10.0)
        values = [desired_accuracy(a, fit, 0.0, 1.0) for a in np.linspace(0.01, 0.99, 30)]
        assert all(x >= y for x, y in zip(values, values[1:]))

    def test_without_fit_is_linear(self):
        assert desired_accuracy(0.25, None, 0.6, 1.0) == pytest.approx(0.9)

    @pytest.mark.parametrize("alpha", [-0.01, 1.01, float("nan"), float("inf")])
    def test_alpha_outside_unit_interval(self, alpha):
        with pytest.raises(ValueRangeError, match="alpha"):
            desired_accuracy(alpha, EnergyFit(0.01, 5.0), 0.0, 1.0)


class TestEq10:
    accuracies = [0.60, 0.80, 0.90]

    def test_first_clause_alone(self):
        # β1·A_1 = 0.8·0.80 = 0.64 ≥ Ã = 0.62; confidences are low everywhere.
        assert choose_exit([0.1, 0.1, 0.1], self.accuracies, 0.62, 0.8, 1.1) == 1

    def test_second_clause_alone(self):
        # Ã = 0.7: β1·A never reaches it before the last exit; exit 0's confidence 0.78 ≥ 1.1·0.7 = 0.77.
        assert choose_exit([0.78, 0.1, 0.1], self.accuracies, 0.7, 0.8, 1.1) == 0

    def test_second_clause_just_below(self):
        assert choose_exit([0.769, 0.1, 0.1], self.accuracies, 0.7, 0.8, 1.1) == 2

    def test_no_solution_takes_the_last_exit(self):
        assert choose_exit([0.5, 0.5, 0.5], [0.5, 0.6, 0.7], 0.95, 0.8, 1.1) == 2

    def test_first_qualifying_exit_wins(self):
        assert choose_exit([0.2, 0.99, 0.99], self.accuracies, 0.7, 0.8, 1.1) == 1


class TestEnergyFit:
    def test_recovers_an_exact_exponential(self):
        a, b = 2e-3, 6.0
        acc = [0.5, 0.7, 0.8, 0.9]
        fit = fit_energy_accuracy(acc, [a * math.exp(b * x) for x in acc])
        assert fit.a == pytest.approx(a, rel=1e-6) and fit.b == pytest.approx(b, rel=1e-6)

    def test_only_pareto_front_exits_count(self):
        a, b = 2e-3, 6.0
        acc = [0.5, 0.7, 0.65, 0.9]  # exit 2 is worse than exit 1 and is ignored
        energies = [a * math.exp(b * x) for x in acc]
        energies[2] = 0.5
        fit = fit_energy_accuracy(acc, energies)
        assert fit.b == pytest.approx(b, rel=1e-6)

    def test_no_tradeoff_gives_none(self):
        assert fit_energy_accuracy([0.9, 0.8, 0.7], [0.1, 0.5, 1.0]) is None
