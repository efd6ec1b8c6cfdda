"""Overlap of two audiences agrees with Python sets."""

from __future__ import annotations

import numpy as np
import pytest
from pyroaring import BitMap

from portrait.audience.overlap import overlap


@pytest.mark.parametrize("seed", range(5))
def test_overlap_matches_sets(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 200_000
    a = set(np.flatnonzero(rng.random(n) < rng.uniform(0, 0.6)).tolist())
    b = set(np.flatnonzero(rng.random(n) < rng.uniform(0, 0.6)).tolist())
    result = overlap("a", "b", BitMap(a), BitMap(b))
    assert result == {
        "a": "a",
        "b": "b",
        "size_a": len(a),
        "size_b": len(b),
        "intersection": len(a & b),
        "union": len(a | b),
        "jaccard": pytest.approx(len(a & b) / len(a | b)),
        "a_only": len(a - b),
        "b_only": len(b - a),
    }


def test_empty_audiences_have_a_jaccard_index_of_zero() -> None:
    result = overlap("x", "y", BitMap(), BitMap())
    assert (result["union"], result["jaccard"]) == (0, 0.0)
    one = overlap("x", "y", BitMap([1, 2]), BitMap())
    assert (one["intersection"], one["union"], one["jaccard"], one["a_only"]) == (0, 2, 0.0, 2)
