"""Power, sample size and MDE agree with statsmodels' NormalIndPower (equal variances) and
with a simulation of the z-test (proportions)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from statsmodels.stats.power import NormalIndPower

from portrait.stats.power import Design, minimum_detectable_effect, power, sample_size

REF = NormalIndPower()


@pytest.mark.parametrize(
    ("effect", "n1", "ratio", "alpha"),
    [(0.1, 500, 1.0, 0.05), (0.03, 4000, 2.0, 0.05), (0.5, 20, 0.5, 0.01), (0.2, 300, 9.0, 0.1)],
)
def test_power_matches_statsmodels(effect: float, n1: int, ratio: float, alpha: float) -> None:
    ours = power(effect, 1.0, 1.0, n1, n1 * ratio, alpha)
    theirs = REF.power(effect_size=effect, nobs1=n1, alpha=alpha, ratio=ratio)
    assert math.isclose(ours, theirs, rel_tol=1e-9)


def test_sample_size_matches_statsmodels_for_means() -> None:
    design = Design(baseline=50.0, effect=2.0, kind="mean", sd=20.0, alpha=0.05, power=0.8)
    total = sample_size(design, 0.1, 0.45)  # control 10%, this variant 45%
    n1 = REF.solve_power(effect_size=0.1, alpha=0.05, power=0.8, ratio=4.5)
    assert math.isclose(total * 0.1, n1, rel_tol=1e-6)
    assert math.isclose(design.power_at(total * 0.1, total * 0.45), 0.8, rel_tol=1e-9)


def test_proportion_sample_size_reaches_its_power_in_simulation() -> None:
    design = Design(baseline=0.05, effect=0.2, relative=True)  # 5% → 6%
    total = sample_size(design, 0.5, 0.5)
    n = math.ceil(total / 2)
    assert 15_000 < 2 * n < 17_000  # the textbook figure is about 8,150 per arm
    rng = np.random.default_rng(7)
    c = rng.binomial(n, 0.05, 4000) / n
    t = rng.binomial(n, 0.06, 4000) / n
    se = np.sqrt(c * (1 - c) / n + t * (1 - t) / n)
    found = np.mean(np.abs(t - c) / se > 1.959963984540054)
    assert abs(found - 0.8) < 0.025  # 4,000 runs: Monte-Carlo sd about 0.0063


def test_mde_inverts_power() -> None:
    mde = minimum_detectable_effect(5000, 5000, variance=4.0)
    assert math.isclose(power(mde, 4.0, 4.0, 5000, 5000), 0.8, rel_tol=1e-9)
    p_mde = minimum_detectable_effect(5000, 20000, baseline=0.1, alpha=0.01, target_power=0.9)
    vt = (0.1 + p_mde) * (0.9 - p_mde)
    assert math.isclose(power(p_mde, 0.09, vt, 5000, 20000, 0.01), 0.9, rel_tol=1e-9)
    assert math.isnan(minimum_detectable_effect(0, 10, variance=1.0))
    assert math.isnan(minimum_detectable_effect(3, 3, baseline=0.99))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"baseline": 1.2, "effect": 0.1}, "between 0 and 1"),
        ({"baseline": 0.9, "effect": 0.2}, "must stay between 0 and 1"),
        ({"baseline": 0.1, "effect": 0.0}, "must not be 0"),
        ({"baseline": 10.0, "effect": 1.0, "kind": "mean"}, "standard deviation"),
        ({"baseline": 0.1, "effect": 0.01, "power": 0.01}, "power must be"),
    ],
)
def test_bad_designs(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Design(**kwargs)  # type: ignore[arg-type]
