"""Feature ranking's measures against independent references: scikit-learn's mutual
information, SciPy's Cramér's V, Spearman and point-biserial correlations."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from scipy.stats.contingency import association as scipy_association
from sklearn.metrics import mutual_info_score

from portrait.analysis.counting import readable_label
from portrait.analysis.ranking import (
    Moments,
    association,
    balance,
    point_biserial,
    spearman_from_table,
)


def _table(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    xs, ys = np.unique(x), np.unique(y)
    return np.array([[np.sum((x == a) & (y == b)) for b in ys] for a in xs], dtype=np.float64)


@pytest.mark.parametrize("seed", range(6))
def test_mutual_information_and_cramers_v_agree_with_sklearn_and_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2 + seed % 3, 3000)
    x = (y + rng.integers(0, 4, 3000)) % (3 + seed)
    found = association(_table(y, x))
    assert found.mutual_info == pytest.approx(mutual_info_score(y, x), rel=1e-12)
    assert found.cramers_v == pytest.approx(
        scipy_association(_table(y, x).astype(int), method="cramer", correction=False), rel=1e-12
    )
    assert found.chi2 == pytest.approx(stats.chi2_contingency(_table(y, x), correction=False)[0])


def test_a_table_with_one_row_or_column_associates_nothing() -> None:
    assert association(np.array([[5.0, 0.0], [7.0, 0.0]])).mutual_info == 0.0
    assert association(np.array([[5.0, 3.0]])).cramers_v == 0.0
    assert association(np.zeros((2, 2))).chi2 == 0.0


@pytest.mark.parametrize("seed", range(4))
def test_spearman_from_a_table_equals_scipy_on_the_expanded_data(seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 6, 2000)
    y = (rng.random(2000) < 0.2 + 0.1 * x).astype(int)
    table = _table(x, y)
    assert spearman_from_table(table) == pytest.approx(stats.spearmanr(x, y)[0], rel=1e-10)
    assert spearman_from_table(np.array([[3.0, 0.0], [4.0, 0.0]])) is None


@pytest.mark.parametrize("real_zeros", [0.0, 0.05])
def test_point_biserial_from_moments_equals_scipy_with_large_values_and_missing(
    real_zeros: float,
) -> None:
    rng = np.random.default_rng(3)
    n = 50_000
    y = rng.random(n) < 0.3
    # microsecond timestamps: large values whose squares lose precision without the shift
    x = (1.7e15 + rng.normal(0, 1e9, n) + y * 4e8).astype(np.int64)
    x[rng.random(n) < real_zeros] = 0  # zeros that are values, not missing
    missing = rng.random(n) < 0.1
    column = np.where(missing, 0, x)  # the index stores 0 for a user without a value
    target = np.flatnonzero(y)
    shift = float(np.median(x))
    found = point_biserial(
        Moments.of(column, int(missing.sum()), shift, None),
        Moments.of(column, int(missing[target].sum()), shift, target),
    )
    expected = stats.pointbiserialr(y[~missing], x[~missing].astype(np.float64))[0]
    assert found == pytest.approx(expected, rel=1e-9)
    constant = Moments(10, 50.0, 250.0)
    assert point_biserial(constant, Moments(3, 15.0, 75.0)) is None


def test_balance_is_normalised_entropy() -> None:
    even, dominant = balance(np.array([10.0, 10.0, 10.0, 10.0]))
    assert even == pytest.approx(1.0) and dominant == pytest.approx(0.25)
    skewed, dominant = balance(np.array([97.0, 1.0, 1.0, 1.0, 0.0]))
    shares = np.array([0.97, 0.01, 0.01, 0.01])
    assert skewed == pytest.approx(float(stats.entropy(shares) / np.log(4)))
    assert dominant == pytest.approx(0.97)
    assert balance(np.array([5.0])) == (0.0, 1.0)


def test_bin_labels_read_as_ranges() -> None:
    assert readable_label("(5, 1731]", "int") == "6–1731"
    assert readable_label("(5, 6]", "int") == "6"
    assert readable_label("(765, 7098.8]", "float") == "over 765, up to 7098.8"
    assert readable_label("(2026-01-01, 2026-02-01]", "date") == "2026-01-02 – 2026-02-01"
    assert readable_label("≤ 3", "int") == "≤ 3"
    assert readable_label("北京", "string") == "北京"
