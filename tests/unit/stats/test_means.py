"""Welch's test and intervals agree with SciPy; the relative interval with the delta
method by hand."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from portrait.stats.means import relative_interval, welch_test
from portrait.stats.summary import Arm


@settings(max_examples=100, deadline=None)
@given(st.integers(2, 400), st.integers(2, 400), st.integers(0, 2**31 - 1))
def test_welch_matches_scipy(n1: int, n2: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = rng.lognormal(1.0, 1.0, n1) * (rng.random(n1) < 0.3)
    b = rng.lognormal(1.1, 0.8, n2) * (rng.random(n2) < 0.35)
    test = welch_test(Arm.of(a), Arm.of(b))
    ref = stats.ttest_ind(b, a, equal_var=False)
    if not (np.var(a) > 0 or np.var(b) > 0):
        assert math.isnan(test.p_value)
        return
    assert math.isclose(test.statistic, ref.statistic, rel_tol=1e-9)
    assert math.isclose(test.p_value, ref.pvalue, rel_tol=1e-9, abs_tol=1e-300)
    assert math.isclose(test.df, ref.df, rel_tol=1e-9)
    for level in (0.95, 0.8):
        interval = ref.confidence_interval(level)
        ours = welch_test(Arm.of(a), Arm.of(b), level)
        assert math.isclose(ours.low, interval.low, rel_tol=1e-9, abs_tol=1e-12)
        assert math.isclose(ours.high, interval.high, rel_tol=1e-9, abs_tol=1e-12)


def test_undefined_cases_are_nan() -> None:
    assert math.isnan(welch_test(Arm.of([1.0]), Arm.of([1.0, 2.0])).p_value)
    flat = welch_test(Arm.of([2.0, 2.0]), Arm.of([3.0, 3.0]))
    assert flat.estimate == 1.0 and math.isnan(flat.p_value)
    assert all(math.isnan(x) for x in relative_interval(Arm.of([0.0, 0.0]), Arm.of([1.0, 2.0])))


def test_relative_interval_by_the_delta_method() -> None:
    c, t = Arm(1000, 10.0, 400.0), Arm(1200, 11.0, 484.0)
    low, high = relative_interval(c, t)
    variance = 484.0 / (100.0 * 1200) + 400.0 * 121.0 / (10.0**4 * 1000)
    half = 1.959963984540054 * math.sqrt(variance)
    assert math.isclose(low, 0.1 - half, rel_tol=1e-12)
    assert math.isclose(high, 0.1 + half, rel_tol=1e-12)
