"""Holm and Benjamini–Hochberg agree with statsmodels' multipletests."""

from __future__ import annotations

import math

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests

from portrait.stats.multiple import adjust


def test_matches_statsmodels() -> None:
    rng = np.random.default_rng(3)
    for size in [1, 2, 3, 5, 8, 13, 30, 4, 21]:  # multipletests takes ~80 ms a call
        p = rng.random(size) ** rng.uniform(1, 6)  # some small, some ties below
        p[rng.random(size) < 0.1] = p[0]
        for ours, theirs in (("holm", "holm"), ("bh", "fdr_bh")):
            expected = multipletests(p, method=theirs)[1]
            got = adjust(list(p), ours)  # type: ignore[arg-type]
            assert np.allclose(np.array(got, dtype=float), expected, rtol=1e-12, atol=0)


def test_missing_values_stay_missing_and_leave_the_family() -> None:
    got = adjust([0.01, None, math.nan, 0.04], "holm")
    assert got[1] is None and got[2] is None
    assert got[0] == pytest.approx(0.02) and got[3] == pytest.approx(0.04)
    assert adjust([0.3, None], "none") == [0.3, None]
    assert adjust([None], "bh") == [None]


def test_unknown_method() -> None:
    with pytest.raises(ValueError, match="unknown correction 'bonf'"):
        adjust([0.1], "bonf")  # type: ignore[arg-type]
