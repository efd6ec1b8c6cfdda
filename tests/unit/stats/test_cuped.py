"""CUPED's adjusted difference equals the ANCOVA treatment coefficient (statsmodels OLS);
its variance reduction is what it says."""

from __future__ import annotations

import math

import numpy as np
import statsmodels.api as sm

from portrait.stats.cuped import cuped
from portrait.stats.summary import Arm


def _data(seed: int, n_c: int = 3000, n_t: int = 3100) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    xc, xt = rng.gamma(2.0, 10.0, n_c), rng.gamma(2.0, 10.0, n_t)
    yc = 0.8 * xc + rng.normal(0, 8, n_c)
    yt = 0.8 * xt + 1.5 + rng.normal(0, 8, n_t)
    return yc, xc, yt, xt


def test_adjusted_difference_is_the_ancova_coefficient() -> None:
    for seed in range(3):
        yc, xc, yt, xt = _data(seed)
        got = cuped(yc, xc, yt, xt)
        assert got is not None
        y = np.concatenate([yc, yt])
        design = np.column_stack(
            [np.ones(y.size), np.r_[np.zeros(yc.size), np.ones(yt.size)], np.r_[xc, xt]]
        )
        fit = sm.OLS(y, design).fit()
        diff = got.treatment.mean - got.control.mean
        assert math.isclose(diff, fit.params[1], rel_tol=1e-9)
        assert math.isclose(got.theta, fit.params[2], rel_tol=1e-9)


def test_variance_reduction_is_about_the_squared_correlation() -> None:
    yc, xc, yt, xt = _data(11)
    got = cuped(yc, xc, yt, xt)
    assert got is not None
    rho = np.corrcoef(np.r_[xc, xt], np.r_[yc, yt])[0, 1]
    assert abs(got.variance_reduction - rho**2) < 0.03
    before = Arm.of(yc).variance / yc.size + Arm.of(yt).variance / yt.size
    after = got.control.variance / yc.size + got.treatment.variance / yt.size
    assert math.isclose(got.variance_reduction, 1 - after / before, rel_tol=1e-12)


def test_nothing_to_adjust_by() -> None:
    assert cuped([1.0, 2.0], [0.0, 0.0], [3.0, 1.0], [0.0, 0.0]) is None
    assert cuped([1.0], [1.0], [3.0, 1.0], [0.0, 2.0]) is None
