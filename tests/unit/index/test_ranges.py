"""The numeric range index answers every range exactly like a scan of the values, and gives
back every user's value (dates in days, timestamps in microseconds) exactly."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
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
from tests.old_indexes import without_column


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


# -- every user's value (comparisons of tags, arithmetic) ------------------------------------

EPOCH = dt.datetime(1970, 1, 1)


def _versions(array: pa.Array, tmp_path: Path) -> dict[str, RangeIndex]:
    """The index as built and as read back from its file (memory-mapped), with its column and
    as an older version wrote it (without)."""
    built = RangeIndex.build(array)
    built.save(tmp_path / "new.range.bin")
    old = without_column(built)
    old.save(tmp_path / "old.range.bin")
    return {
        "built": built,
        "loaded": RangeIndex.load(tmp_path / "new.range.bin"),
        "old": old,
        "old loaded": RangeIndex.load(tmp_path / "old.range.bin"),
    }


def _check_values(
    array: pa.Array, expected: Sequence[int | float | None], exact: bool, tmp_path: Path
) -> None:
    """values() of every version is the input exactly (0 for missing users, who are the
    ``missing`` ones); the column is kept, mapped on load, and rebuilt as float64 without it."""
    want_missing = [i for i, v in enumerate(expected) if v is None]
    want = [0 if v is None else v for v in expected]
    for name, index in _versions(array, tmp_path).items():
        assert index.exact == exact, name
        values = index.values()
        assert values.shape == (len(expected),), name
        assert list(index.missing) == want_missing, name
        assert values.tolist() == want, name  # Python compares ints and floats exactly
        if name.startswith("old"):
            assert index.column is None and values.dtype == np.float64, name
        else:
            assert values is index.column, name
            assert values.dtype.kind == ("f" if array.type == pa.float64() else "i"), name
    loaded = RangeIndex.load(tmp_path / "new.range.bin").column
    assert isinstance(loaded, np.memmap) and not loaded.flags.writeable


def _many(rng: np.random.Generator, n: int, distinct: int) -> np.ndarray:
    return rng.choice(rng.choice(10**6, size=distinct, replace=False), size=n)


@pytest.mark.parametrize("distinct", [3, EXACT_MAX, 2000])
def test_values_of_ints(distinct: int, tmp_path: Path) -> None:
    rng = np.random.default_rng(distinct)
    raw = _many(rng, 3000, distinct).astype(np.int64) - 500_000  # negatives too
    column = [None if i % 11 == 0 else int(v) for i, v in enumerate(raw)]
    _check_values(pa.array(column, pa.int64()), column, distinct <= EXACT_MAX, tmp_path)


@pytest.mark.parametrize("distinct", [4, 3000])
def test_values_of_floats_with_nan_and_null(distinct: int, tmp_path: Path) -> None:
    rng = np.random.default_rng(distinct)
    raw = _many(rng, 3000, distinct) / 8.0 - 1000.0
    column: list[float | None] = [float(v) for v in raw]
    for i in range(0, len(column), 13):
        column[i] = None
    for i in range(5, len(column), 17):
        column[i] = float("nan")
    want = [None if v is None or np.isnan(v) else v for v in column]  # NaN is missing
    _check_values(pa.array(column, pa.float64()), want, distinct <= EXACT_MAX, tmp_path)


@pytest.mark.parametrize("distinct", [5, 400])
def test_values_of_dates_count_days(distinct: int, tmp_path: Path) -> None:
    rng = np.random.default_rng(distinct)
    offsets = rng.choice(rng.choice(40_000, size=distinct, replace=False), size=2000)
    offsets[1], offsets[2] = 0, 39_999  # before and after 1970-01-01
    start = dt.date(1950, 1, 1)
    column = [
        None if i % 9 == 0 else start + dt.timedelta(days=int(d)) for i, d in enumerate(offsets)
    ]
    want: list[int | float | None] = [
        None if d is None else (d - dt.date(1970, 1, 1)).days for d in column
    ]
    _check_values(pa.array(column, pa.date32()), want, distinct <= EXACT_MAX, tmp_path)


@pytest.mark.parametrize("distinct", [6, 1500])
@pytest.mark.parametrize("unit", ["s", "ms", "us"])
def test_values_of_timestamps_count_microseconds(distinct: int, unit: str, tmp_path: Path) -> None:
    rng = np.random.default_rng(distinct)
    seconds = rng.choice(rng.choice(10**9, size=distinct, replace=False), size=2000)
    start = dt.datetime(2001, 1, 1)
    column = [
        None if i % 7 == 0 else start + dt.timedelta(seconds=int(s), milliseconds=int(s) % 1000)
        for i, s in enumerate(seconds)
    ]
    if unit == "s":
        column = [None if t is None else t.replace(microsecond=0) for t in column]
    if unit == "us":
        column = [None if t is None else t.replace(microsecond=t.microsecond + 7) for t in column]
    want: list[int | float | None] = [
        None if t is None else (t - EPOCH) // dt.timedelta(microseconds=1) for t in column
    ]
    array = pa.array(column, pa.timestamp(unit))
    # the column's type is checked in test_the_column_is_the_narrowest_type
    want_missing = [i for i, v in enumerate(want) if v is None]
    for name, index in _versions(array, tmp_path).items():
        assert index.exact == (distinct <= EXACT_MAX), name
        assert list(index.missing) == want_missing, name
        assert index.values().tolist() == [0 if v is None else v for v in want], name


MOMENT = dt.datetime(2026, 1, 1, 0, 0, 0, 1)


@pytest.mark.parametrize(
    ("column", "arrow_type", "dtype", "expected"),
    [
        pytest.param(
            [0, 3, 100, None],
            pa.int64(),
            np.int8,
            [0, 3, 100, 0],
            id="0..100",
        ),
        pytest.param([-300, 200, None], pa.int64(), np.int16, [-300, 200, 0], id="-300..200"),
        pytest.param([-1, 40_000], pa.int64(), np.int32, [-1, 40_000], id="-1..40000"),
        pytest.param([-(2**40), 7], pa.int64(), np.int64, [-(2**40), 7], id="-2**40..7"),
        pytest.param(
            [2**53 + 1, 0],
            pa.int64(),
            np.int64,
            [2**53 + 1, 0],
            id="2**53+1",
        ),
        pytest.param([0.5, None, -2.0], pa.float64(), np.float64, [0.5, 0.0, -2.0], id="floats"),
        pytest.param(
            [MOMENT, None],
            pa.timestamp("us"),
            np.int64,
            [(MOMENT - EPOCH) // dt.timedelta(microseconds=1), 0],
            id="timestamps",
        ),
    ],
)
def test_the_column_is_the_narrowest_type(
    column: list[object], arrow_type: pa.DataType, dtype: type, expected: list[int | float],
    tmp_path: Path,
) -> None:  # fmt: skip
    """Integers in the narrowest signed type that holds them, timestamps as int64
    microseconds, floats as float64; the same type read back."""
    versions = _versions(pa.array(column, arrow_type), tmp_path)
    for name in ("built", "loaded"):
        stored = versions[name].column
        assert stored is not None
        assert stored.dtype == np.dtype(dtype), name
        assert stored.tolist() == expected, name


def test_dates_are_whole_days_in_at_most_32_bits(tmp_path: Path) -> None:
    array = pa.array([dt.date(1900, 1, 1), None, dt.date(2100, 12, 31)], pa.date32())
    for name in ("built", "loaded"):
        column = _versions(array, tmp_path)[name].column
        assert column is not None
        assert column.dtype.kind == "i" and column.dtype.itemsize <= 4, name
        assert column.tolist() == [-25567, 0, 47846], name


def test_values_of_no_values(tmp_path: Path) -> None:
    for name, index in _versions(pa.array([None, None], pa.float64()), tmp_path).items():
        assert index.values().tolist() == [0.0, 0.0], name
        assert list(index.missing) == [0, 1], name
    for name, index in _versions(pa.array([], pa.int64()), tmp_path).items():
        assert index.values().shape == (0,), name
        assert len(index.missing) == 0, name
