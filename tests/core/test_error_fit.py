"""The logistic error fit behind the multi-exit α table (edge_runtime.core.error_fit)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_runtime.core.error_fit import confidence_logit, fit_logistic, logistic_error


def test_it_recovers_the_curve_that_made_the_errors():
    rng = np.random.default_rng(0)
    confidences = rng.uniform(0.2, 0.999, 20000)
    truth = 1.0 / (1.0 + np.exp(-(0.5 - 1.5 * confidence_logit(confidences))))
    wrong = rng.random(confidences.size) < truth
    a, b = fit_logistic(confidence_logit(confidences), wrong)
    assert a == pytest.approx(0.5, abs=0.1)
    assert b == pytest.approx(-1.5, abs=0.1)


def test_the_fitted_errors_add_up_to_the_errors_counted():
    """With a free intercept the fit matches the exit's error count (calibration in the large)."""
    rng = np.random.default_rng(1)
    confidences = rng.uniform(0.1, 1.0, 216)
    wrong = rng.random(216) < (1.0 - confidences)
    rates = logistic_error(confidences, wrong)
    assert rates.sum() == pytest.approx(wrong.sum(), abs=0.05)


def test_an_error_free_exit_gets_a_tiny_finite_rate():
    rates = logistic_error(np.linspace(0.3, 0.99, 50), np.zeros(50, dtype=bool))
    assert np.all(np.isfinite(rates))
    assert rates.max() < 1e-3


def test_a_confidence_that_separates_errors_perfectly_still_gives_a_smooth_curve():
    confidences = np.r_[np.full(10, 0.3), np.full(40, 0.95)]
    wrong = np.r_[np.ones(10, dtype=bool), np.zeros(40, dtype=bool)]
    rates = logistic_error(confidences, wrong)
    assert np.all(np.isfinite(rates))
    assert rates[0] > 0.5 > rates[-1] > 0.0  # the ridge on the slope keeps the high bin from a rate of exactly 0


def test_a_confidence_that_says_nothing_gives_every_input_the_exit_rate():
    confidences = np.r_[np.full(20, 0.3), np.full(20, 0.9)]
    wrong = np.r_[np.zeros(20, dtype=bool), np.r_[np.ones(10, dtype=bool), np.zeros(10, dtype=bool)]]
    rates = logistic_error(confidences, wrong)  # errors only at high confidence: the curve would rise
    assert rates.tolist() == [0.25] * 40


def test_no_inputs_no_rates():
    assert logistic_error(np.zeros(0), np.zeros(0, dtype=bool)).shape == (0,)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 255), st.booleans()), min_size=1, max_size=80))
def test_the_rate_never_rises_with_confidence_and_stays_a_probability(pairs):
    confidences = np.array([p[0] for p in pairs]) / 256.0
    wrong = np.array([p[1] for p in pairs])
    rates = logistic_error(confidences, wrong)
    order = np.argsort(confidences, kind="stable")
    assert np.all(np.isfinite(rates))
    assert np.all((rates >= 0.0) & (rates <= 1.0))
    assert np.all(np.diff(rates[order]) <= 1e-12)
    assert np.all(rates[confidences == confidences[0]] == rates[0])  # equal confidences, equal rates
