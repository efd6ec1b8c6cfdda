"""The numeric range index answers every range exactly like a scan of the values."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyroaring import FrozenBitMap

from portrait.analysis.counting import _chosen_breakpoints
from portrait.index import ValueIndex
from portrait.index.ranges import BINS, EXACT_MAX, RangeIndex


def _oracle(values: np.ndarray, valid: np.ndarray, low: float | None, high: float | None,
            low_inc: bool, high_inc: bool) -> list[int]:  # fmt: skip
    keep = valid.copy()
    if low is not None:
        keep &= values >= low if low_inc else values > low
    if high is not None:
        keep &= values <= high if high_inc else values < high
    return np.flatnonzero(keep).tolist()


@pytest.mark.parametrize("distinct", [1, 5, EXACT_MAX, EXACT_MAX + 1, 5000])
@pytest.mark.parametrize("kind", ["int", "float"])
def test_ranges_match_a_scan(tmp_path: Path, distinct: int, kind: str) -> None:
    rng = np.random.default_rng(distinct)
    n = 20_000
    pool = rng.choice(10_000, size=distinct, replace=False).astype(np.float64)
    if kind == "float":
        pool = pool / 7.0
    values = rng.choice(pool, size=n, p=None)
    if distinct > 1:  # skew: many users share the smallest value, as counts do
        values[rng.random(n) < 0.6] = pool.min()
    valid = rng.random(n) > 0.1
    array = pa.array(values.astype(np.int64) if kind == "int" else values, mask=~valid)
    index = RangeIndex.build(array)
    assert index.exact == (distinct <= EXACT_MAX)
    assert index.breakpoints.size <= max(EXACT_MAX, BINS)
    index.save(tmp_path / "x.range.bin")
    loaded = RangeIndex.load(tmp_path / "x.range.bin")
    probes = [*rng.choice(pool, size=6), pool.min() - 1, pool.max() + 1, float(np.median(pool))]
    for low in [None, *probes[:5]]:
        for high in [None, *probes[3:]]:
            for low_inc in (True, False):
                for high_inc in (True, False):
                    expected = _oracle(values, valid, low, high, low_inc, high_inc)
                    for idx in (index, loaded):
                        got = idx.range(low, high, low_inclusive=low_inc, high_inclusive=high_inc)
                        assert list(got) == expected, (low, high, low_inc, high_inc)
    assert list(loaded.missing) == np.flatnonzero(~valid).tolist()
    assert loaded.present == int(valid.sum())
    np.testing.assert_array_equal(loaded.sorted_values, np.sort(values[valid]))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.one_of(st.none(), st.integers(-50, 50)), min_size=1, max_size=300),
    st.integers(-60, 60),
    st.integers(-60, 60),
)
def test_random_small_columns(column: list[int | None], a: int, b: int) -> None:
    index = RangeIndex.build(pa.array(column, type=pa.int64()))
    values = np.array([v if v is not None else 0 for v in column], dtype=np.float64)
    valid = np.array([v is not None for v in column])
    low, high = min(a, b), max(a, b)
    assert list(index.range(low, high)) == _oracle(values, valid, low, high, True, True)
    assert list(index.equal(a)) == _oracle(values, valid, a, a, True, True)
    assert list(index.range(None, a, high_inclusive=False)) == _oracle(
        values, valid, None, a, True, False
    )


def test_dense_cumulative_bitmaps_are_stored_as_complements() -> None:
    values = np.zeros(100_000, dtype=np.int64)
    values[:1000] = np.arange(1000) % 10 + 1  # 99% zeros
    index = RangeIndex.build(pa.array(values))
    assert index.exact
    assert index.complemented[0]  # "≤ 0" holds 99% of users: kept as the 1% complement
    assert len(index.stored[0]) == 1000
    assert len(index.range(None, 0)) == 99_000


def test_few_values_far_apart() -> None:
    """Exact mode with integers spread over a huge range (timestamps of a few moments)."""
    moments = np.array([0, 1_700_000_000_000_000, 57_754_800_000_000_000], dtype=np.int64)
    values = moments[np.arange(1000) % 3]
    index = RangeIndex.build(pa.array(values))
    assert index.exact
    assert len(index.range(1, None)) == 666
    assert len(index.equal(57_754_800_000_000_000)) == 333


def test_bins_partition_the_present_users(tag_indexes: dict[str, ValueIndex | RangeIndex]) -> None:
    index = tag_indexes["spend"]
    assert isinstance(index, RangeIndex)
    chosen = _chosen_breakpoints(index)
    bins = index.bins(chosen)
    assert sum(len(b) for b in bins) == len(index.present_users)
    assert FrozenBitMap.union(*bins) == index.present_users
    for i, (k, b) in enumerate(zip(chosen, bins, strict=True)):
        low = index.breakpoints[chosen[i - 1]] if i else None
        expected = index.range(low, index.breakpoints[k], low_inclusive=False)
        assert b == expected
