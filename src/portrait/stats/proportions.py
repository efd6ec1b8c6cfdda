"""Two-proportion z-test and the confidence interval of a ratio of two proportions.

Vectorised over NumPy arrays; undefined cases (an empty group, a pooled share of 0 or 1, a
zero count in a ratio) give NaN rather than an error, so a report can show them as "—".
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.special import ndtr, ndtri

Array = npt.NDArray[np.float64]


def _as(x: npt.ArrayLike) -> Array:
    return np.asarray(x, dtype=np.float64)


def two_proportion_ztest(
    count1: npt.ArrayLike, nobs1: npt.ArrayLike, count2: npt.ArrayLike, nobs2: npt.ArrayLike
) -> tuple[Array, Array]:
    """Two-sided z-test of p1 = p2 with the pooled variance (as statsmodels'
    ``proportions_ztest``). Returns (z, p-value)."""
    x1, n1, x2, n2 = _as(count1), _as(nobs1), _as(count2), _as(nobs2)
    with np.errstate(divide="ignore", invalid="ignore"):
        p1, p2 = x1 / n1, x2 / n2
        pooled = (x1 + x2) / (n1 + n2)
        se = np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
        z = (p1 - p2) / se
    z = np.where(se > 0, z, np.nan)
    return z, 2 * ndtr(-np.abs(z))


def _log_ratio(x1: Array, n1: Array, x2: Array, n2: Array, level: float) -> tuple[Array, Array]:
    """``exp(ln r ± z·sqrt(1/x1 − 1/n1 + 1/x2 − 1/n2))`` with r = (x1/n1) / (x2/n2)."""
    z = float(ndtri(0.5 + level / 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (x1 / n1) / (x2 / n2)
        se = np.sqrt(1 / x1 - 1 / n1 + 1 / x2 - 1 / n2)
        return ratio * np.exp(-z * se), ratio * np.exp(z * se)


def ratio_interval(
    count1: npt.ArrayLike,
    nobs1: npt.ArrayLike,
    count2: npt.ArrayLike,
    nobs2: npt.ArrayLike,
    level: float = 0.95,
) -> tuple[Array, Array]:
    """Confidence interval of (count1/nobs1) / (count2/nobs2), by the log method (Katz):
    ``exp(ln r ± z·sqrt(1/x1 − 1/n1 + 1/x2 − 1/n2))``. NaN where a count is 0."""
    x1, n1, x2, n2 = _as(count1), _as(nobs1), _as(count2), _as(nobs2)
    low, high = _log_ratio(x1, n1, x2, n2, level)
    defined = (x1 > 0) & (x2 > 0) & (n1 > 0) & (n2 > 0)
    return np.where(defined, low, np.nan), np.where(defined, high, np.nan)


def difference_interval(
    count1: npt.ArrayLike,
    nobs1: npt.ArrayLike,
    count2: npt.ArrayLike,
    nobs2: npt.ArrayLike,
    level: float = 0.95,
) -> tuple[Array, Array]:
    """Wald interval of p1 − p2 with unpooled variances (statsmodels'
    ``confint_proportions_2indep(..., method="wald", compare="diff")``). NaN for an empty
    group."""
    x1, n1, x2, n2 = _as(count1), _as(nobs1), _as(count2), _as(nobs2)
    z = float(ndtri(0.5 + level / 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        p1, p2 = x1 / n1, x2 / n2
        se = np.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
        diff = p1 - p2
    defined = (n1 > 0) & (n2 > 0)
    return np.where(defined, diff - z * se, np.nan), np.where(defined, diff + z * se, np.nan)


def wilson_interval(
    count: npt.ArrayLike, nobs: npt.ArrayLike, level: float = 0.95
) -> tuple[Array, Array]:
    """Wilson score interval of one proportion (statsmodels'
    ``proportion_confint(..., method="wilson")``). NaN for an empty group."""
    x, n = _as(count), _as(nobs)
    z = float(ndtri(0.5 + level / 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        p = x / n
        denominator = 1 + z**2 / n
        center = (p + z**2 / (2 * n)) / denominator
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denominator
    defined = n > 0
    return np.where(defined, center - half, np.nan), np.where(defined, center + half, np.nan)


def newcomb_interval(
    count1: npt.ArrayLike,
    nobs1: npt.ArrayLike,
    count2: npt.ArrayLike,
    nobs2: npt.ArrayLike,
    level: float = 0.95,
) -> tuple[Array, Array]:
    """Newcombe's hybrid score interval of p1 − p2 (his method 10; statsmodels'
    ``confint_proportions_2indep(..., method="newcomb", compare="diff")``): built from each
    proportion's Wilson interval ``(l, u)``, ``d − sqrt((p1 − l1)² + (u2 − p2)²)`` to
    ``d + sqrt((u1 − p1)² + (p2 − l2)²)``. Unlike Wald's it stays inside [−1, 1] and keeps
    its coverage for rare events and small groups."""
    x1, n1, x2, n2 = _as(count1), _as(nobs1), _as(count2), _as(nobs2)
    low1, high1 = wilson_interval(x1, n1, level)
    low2, high2 = wilson_interval(x2, n2, level)
    with np.errstate(divide="ignore", invalid="ignore"):
        p1, p2 = x1 / n1, x2 / n2
        diff = p1 - p2
        low = diff - np.sqrt((p1 - low1) ** 2 + (high2 - p2) ** 2)
        high = diff + np.sqrt((p2 - low2) ** 2 + (high1 - p1) ** 2)
    return low, high


def adjusted_ratio_interval(
    count1: npt.ArrayLike,
    nobs1: npt.ArrayLike,
    count2: npt.ArrayLike,
    nobs2: npt.ArrayLike,
    level: float = 0.95,
) -> tuple[Array, Array]:
    """Interval of (count1/nobs1) / (count2/nobs2) by the log method with 0.5 added to each
    count and size (statsmodels' ``method="log-adjusted"``): defined even when a count is 0,
    and better behaved than Katz's for small counts. NaN for an empty group."""
    x1, n1, x2, n2 = _as(count1), _as(nobs1), _as(count2), _as(nobs2)
    low, high = _log_ratio(x1 + 0.5, n1 + 0.5, x2 + 0.5, n2 + 0.5, level)
    defined = (n1 > 0) & (n2 > 0)
    return np.where(defined, low, np.nan), np.where(defined, high, np.nan)
