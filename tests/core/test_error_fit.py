"""The logistic error fit behind the multi-exit α table (edge_runtime.core.error_fit)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_runtime.core.error_fit import (blended_error, confidence_logit, fit_logistic, isotonic_error,
                                         logistic_error)


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


# (confidences on int8 softmax codes, wrong) of up to 80 held-out inputs at one exit
EXIT_OUTCOMES = st.lists(st.tuples(st.integers(0, 255), st.booleans()), min_size=1, max_size=80).map(
    lambda pairs: (np.array([p[0] for p in pairs]) / 256.0, np.array([p[1] for p in pairs])))


@settings(max_examples=200, deadline=None)
@given(EXIT_OUTCOMES)
def test_the_rate_never_rises_with_confidence_and_stays_a_probability(outcomes):
    confidences, wrong = outcomes
    rates = logistic_error(confidences, wrong)
    order = np.argsort(confidences, kind="stable")
    assert np.all(np.isfinite(rates))
    assert np.all((rates >= 0.0) & (rates <= 1.0))
    assert np.all(np.diff(rates[order]) <= 1e-12)
    assert np.all(rates[confidences == confidences[0]] == rates[0])  # equal confidences, equal rates


def test_isotonic_error_falls_with_confidence_and_is_pulled_to_the_exit_rate():
    codes = np.array([1, 2, 3, 4, 5, 6])
    wrong = np.array([1, 0, 1, 0, 0, 0])
    rates = isotonic_error(codes, wrong, prior_weight=0.0)
    # pooled: {1}: 1, {2, 3}: 0.5, {4, 5, 6}: 0
    assert rates.tolist() == [1.0, 0.5, 0.5, 0.0, 0.0, 0.0]
    shrunk = isotonic_error(codes, wrong, prior_weight=2.0)
    overall = 2 / 6
    assert shrunk[5] == pytest.approx((0 + 2 * overall) / (3 + 2))  # no bin is trusted to be error-free
    assert shrunk[0] == pytest.approx((1 + 2 * overall) / (1 + 2))


@given(st.lists(st.tuples(st.integers(-128, 127), st.booleans()), min_size=1, max_size=60))
def test_isotonic_error_never_rises_with_confidence(pairs):
    codes = np.array([p[0] for p in pairs])
    wrong = np.array([p[1] for p in pairs])
    rates = isotonic_error(codes, wrong, prior_weight=0.0)
    order = np.argsort(codes, kind="stable")
    assert np.all(np.diff(rates[order]) <= 1e-12)
    assert np.all((rates >= 0) & (rates <= 1))


def test_the_blend_is_the_logistic_curve_on_a_few_hundred_inputs():
    rng = np.random.default_rng(3)
    confidences = np.round(rng.uniform(0.2, 1.0, 216) * 256) / 256
    wrong = rng.random(216) < 1.0 / (1.0 + np.exp(-(-1.0 - 1.2 * confidence_logit(confidences))))
    blend, curve, step = (blended_error(confidences, wrong), logistic_error(confidences, wrong),
                          isotonic_error(confidences, wrong))
    assert np.max(np.abs(blend - curve)) < 0.25 * np.max(np.abs(step - curve))


def test_the_blend_is_the_step_fit_where_thousands_show_a_step():
    """Errors only below c = 0.6 (at 40%), none above: one logistic slope cannot bend that sharply."""
    rng = np.random.default_rng(2)
    confidences = np.round(rng.uniform(0.3, 1.0, 60000) * 256) / 256
    wrong = (confidences < 0.6) & (rng.random(60000) < 0.4)
    blend, curve = blended_error(confidences, wrong), logistic_error(confidences, wrong)
    high = confidences >= 0.7
    assert curve[high].max() > 0.01  # the curve still expects errors where there are none
    assert blend[high].max() < 0.25 * curve[high].max()
    low = confidences < 0.55
    assert np.abs(blend[low] - wrong[low].mean()).max() < 0.03


def test_the_blend_is_worked_by_hand_on_one_bin():
    """Two inputs, both wrong at the lower confidence and right at the higher: the step fit pools nothing, so
    each input is its own bin: (errors + w · curve) ÷ (1 + w)."""
    confidences, wrong = np.array([0.4, 0.9]), np.array([True, False])
    curve = logistic_error(confidences, wrong)
    assert blended_error(confidences, wrong, weight=3.0) == pytest.approx([(1 + 3 * curve[0]) / 4, (0 + 3 * curve[1]) / 4])


@settings(max_examples=200, deadline=None)
@given(EXIT_OUTCOMES)
def test_the_blend_stays_a_probability_and_equal_confidences_share_it(outcomes):
    confidences, wrong = outcomes
    rates = blended_error(confidences, wrong)
    assert np.all(np.isfinite(rates)) and np.all((rates >= 0.0) & (rates <= 1.0))
    for c in np.unique(confidences):
        assert np.ptp(rates[confidences == c]) == 0.0


def test_no_inputs_no_blend():
    assert blended_error(np.zeros(0), np.zeros(0, dtype=bool)).shape == (0,)
