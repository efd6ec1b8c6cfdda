"""Comparing means of per-user values (revenue per user, per converter): Welch's t-test and
interval, which do not assume equal variances (SciPy's ``ttest_ind(equal_var=False)``), and
the normal interval of the relative difference by the delta method."""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import stats

from portrait.stats.summary import Arm, difference


@dataclass(frozen=True)
class MeanTest:
    """``treatment − control``: the estimate, Welch's t, its degrees of freedom, the two-sided
    p-value and the interval at the level asked for. NaN where undefined."""

    estimate: float
    statistic: float
    df: float
    p_value: float
    low: float
    high: float


NAN_TEST = MeanTest(math.nan, math.nan, math.nan, math.nan, math.nan, math.nan)


def welch_test(control: Arm, treatment: Arm, level: float = 0.95) -> MeanTest:
    """Welch's t-test of equal means: ``t = (m_t − m_c) / sqrt(v_t/n_t + v_c/n_c)`` with the
    Welch–Satterthwaite degrees of freedom ``(a + b)² / (a²/(n_t − 1) + b²/(n_c − 1))``,
    ``a = v_t/n_t``, ``b = v_c/n_c``; the interval ``estimate ± t_{df, 1−α/2} · se``. Needs
    2 units per arm and some variance."""
    c, t = control, treatment
    if c.n < 2 or t.n < 2 or not (c.variance >= 0 and t.variance >= 0):
        return NAN_TEST
    a, b = t.variance / t.n, c.variance / c.n
    se = math.sqrt(a + b)
    estimate = t.mean - c.mean
    if se == 0:
        return MeanTest(estimate, math.nan, math.nan, math.nan, math.nan, math.nan)
    df = (a + b) ** 2 / (a**2 / (t.n - 1) + b**2 / (c.n - 1))
    statistic = estimate / se
    p_value = float(2 * stats.t.sf(abs(statistic), df))
    half = float(stats.t.ppf(0.5 + level / 2, df)) * se
    return MeanTest(estimate, statistic, df, p_value, estimate - half, estimate + half)


def relative_interval(control: Arm, treatment: Arm, level: float = 0.95) -> tuple[float, float]:
    """Normal interval of ``(m_t − m_c) / m_c`` with the delta method's variance
    (:func:`portrait.stats.summary.difference`); NaN when the control's mean is 0."""
    d = difference(control, treatment, relative=True)
    if not (d.variance >= 0) or math.isnan(d.estimate):
        return math.nan, math.nan
    half = float(stats.norm.ppf(0.5 + level / 2)) * math.sqrt(d.variance)
    return d.estimate - half, d.estimate + half
