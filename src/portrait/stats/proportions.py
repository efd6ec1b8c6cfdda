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
    z = float(ndtri(0.5 + level / 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (x1 / n1) / (x2 / n2)
        se = np.sqrt(1 / x1 - 1 / n1 + 1 / x2 - 1 / n2)
        low, high = ratio * np.exp(-z * se), ratio * np.exp(z * se)
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
