"""The disclosure mechanism against independent references: the noise against scipy's
discrete Laplace distribution, suppression at the threshold, set digests."""

from __future__ import annotations

import math

import numpy as np
from pyroaring import BitMap, FrozenBitMap
from scipy import stats

from portrait.access.disclosure import Policy, Release, discrete_laplace, ratio, set_digest


def test_noise_follows_the_discrete_laplace_distribution() -> None:
    eps = 0.5
    cells = [f"cell|{i}" for i in range(40_000)]
    noise = discrete_laplace(b"k" * 32, cells, eps)
    reference = stats.dlaplace(a=eps)
    assert abs(noise.mean()) < 0.1
    assert math.isclose(noise.var(), reference.var(), rel_tol=0.05)
    assert math.isclose(Policy(epsilon=eps).noise_sd, reference.std(), rel_tol=1e-9)
    # frequencies of -5..5 against the pmf (chi-square, 10 degrees of freedom)
    values = np.arange(-5, 6)
    observed = np.array([(noise == v).sum() for v in values])
    expected = reference.pmf(values) * len(cells)
    chi2 = float(((observed - expected) ** 2 / expected).sum())
    assert chi2 < stats.chi2(df=len(values) - 1).ppf(0.999), chi2


def test_noise_is_fixed_by_key_and_cell() -> None:
    a = discrete_laplace(b"a" * 32, ["x", "y"], 0.5)
    assert (a == discrete_laplace(b"a" * 32, ["x", "y"], 0.5)).all()
    assert discrete_laplace(b"a" * 32, ["y"], 0.5)[0] == a[1]
    others = discrete_laplace(b"b" * 32, [f"c{i}" for i in range(200)], 0.5)
    mine = discrete_laplace(b"a" * 32, [f"c{i}" for i in range(200)], 0.5)
    assert (others != mine).any()
    assert not discrete_laplace(b"a" * 32, ["x"], 0.0).any()


def test_small_cells_and_their_ratios_are_suppressed() -> None:
    release = Release(Policy(min_count=10, epsilon=0.0), b"k" * 32)
    out = release.counts(["a", "b", "c", "d"], [0, 9, 10, 5000])
    assert np.isnan(out[0]) and np.isnan(out[1]) and out[2] == 10 and out[3] == 5000
    assert ratio(None, 10) is None and ratio(5, None) is None and ratio(5, 0) is None
    assert ratio(5, 10) == 0.5
    noisy = Release(Policy(min_count=10, epsilon=0.5), b"k" * 32)
    released = noisy.counts([f"n{i}" for i in range(2000)], np.full(2000, 12))
    shown = released[~np.isnan(released)]
    assert (shown >= 10).all()  # what is released is at least k, even after noise
    assert np.isnan(released).any() and len(set(shown.tolist())) > 3


def test_equal_sets_have_equal_digests_whatever_their_form() -> None:
    dense = BitMap(range(0, 100_000))
    sparse = BitMap(range(0, 100_000, 1))
    sparse.run_optimize()
    assert set_digest(dense) == set_digest(FrozenBitMap(sparse))
    assert set_digest(dense) != set_digest(BitMap(range(1, 100_000)))
