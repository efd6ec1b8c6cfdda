"""Proportion statistics agree with statsmodels."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.proportion import proportions_ztest

from portrait.stats import ratio_interval, two_proportion_ztest


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 10_000),
    st.integers(1, 10_000),
    st.floats(0, 1),
    st.floats(0, 1),
)
def test_ztest_matches_statsmodels(n1: int, n2: int, f1: float, f2: float) -> None:
    x1, x2 = round(n1 * f1), round(n2 * f2)
    z, p = two_proportion_ztest([x1], [n1], [x2], [n2])
    pooled = (x1 + x2) / (n1 + n2)
    if pooled in (0.0, 1.0):
        assert math.isnan(z[0]) and math.isnan(p[0])
        return
    ref_z, ref_p = proportions_ztest([x1, x2], [n1, n2])
    assert abs(z[0] - ref_z) <= 1e-9 * max(1.0, abs(ref_z))
    assert abs(p[0] - ref_p) <= 1e-9


def test_ratio_interval_by_the_log_method() -> None:
    low, high = ratio_interval([30], [100], [20], [200])
    ratio = (30 / 100) / (20 / 200)
    se = math.sqrt(1 / 30 - 1 / 100 + 1 / 20 - 1 / 200)
    assert np.isclose(low[0], ratio * math.exp(-1.959963984540054 * se))
    assert np.isclose(high[0], ratio * math.exp(1.959963984540054 * se))
    low, high = ratio_interval([0], [100], [20], [200])
    assert math.isnan(low[0]) and math.isnan(high[0])


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 5_000), st.integers(1, 5_000), st.floats(0, 1), st.floats(0, 1))
def test_newcomb_and_adjusted_ratio_match_statsmodels(
    n1: int, n2: int, f1: float, f2: float
) -> None:
    from statsmodels.stats.proportion import confint_proportions_2indep

    from portrait.stats.proportions import adjusted_ratio_interval, newcomb_interval

    x1, x2 = round(n1 * f1), round(n2 * f2)
    for level in (0.95, 0.9):
        low, high = newcomb_interval([x1], [n1], [x2], [n2], level)
        ref = confint_proportions_2indep(
            x1, n1, x2, n2, method="newcomb", compare="diff", alpha=1 - level
        )
        assert np.allclose([low[0], high[0]], ref, rtol=1e-9, atol=1e-12)
        low, high = adjusted_ratio_interval([x1], [n1], [x2], [n2], level)
        ref = confint_proportions_2indep(
            x1, n1, x2, n2, method="log-adjusted", compare="ratio", alpha=1 - level
        )
        assert np.allclose([low[0], high[0]], ref, rtol=1e-9, atol=1e-12)


def test_wilson_interval_matches_statsmodels() -> None:
    from statsmodels.stats.proportion import proportion_confint

    from portrait.stats.proportions import wilson_interval

    for x, n in ((0, 10), (3, 10), (10, 10), (517, 10_000)):
        low, high = wilson_interval([x], [n])
        assert np.allclose([low[0], high[0]], proportion_confint(x, n, method="wilson"))
