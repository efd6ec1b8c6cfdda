"""Insight's counting strategies (derived counts, complements, numeric bins) give exactly the
counts of a member-by-member tally, on indexes large enough to hold every container kind."""

from __future__ import annotations

import importlib

import numpy as np
import pyarrow as pa
import pytest
from pyroaring import FrozenBitMap

from portrait.analysis.counting import _chosen_breakpoints, tag_counts
from portrait.index import RangeIndex, ValueIndex
from portrait.index.counting import CountingPlan, Shape

# the module, not the ``insight`` function that ``portrait.analysis`` exports under its name
counting = importlib.import_module("portrait.analysis.counting")

N = 300_000  # five 65,536-id chunks: bitsets, arrays and runs all occur
CITY_SHARES = [0.4, 0.25, 0.12, 0.06, 0.05, 0.04, 0.03, 0.02, 0.005, 0.003]
LIST_SHARES = [0.5, 0.2, 0.05, 0.03, 0.01, 0.002]


@pytest.fixture(scope="module")
def columns() -> dict[str, list[object]]:
    rng = np.random.default_rng(7)
    cities = [f"c{i}" for i in range(len(CITY_SHARES))]
    city = rng.choice([*cities, None], size=N, p=[*CITY_SHARES, 1 - sum(CITY_SHARES)])
    held = rng.random((N, len(LIST_SHARES))) < np.array(LIST_SHARES)
    items: list[object] = [[f"v{j}" for j in np.flatnonzero(row)] for row in held]
    items = [None if i % 97 == 0 else v for i, v in enumerate(items)]  # NULL lists, too
    visits = rng.choice([0, 1, 2, 3, 5, 8], size=N, p=[0.7, 0.15, 0.08, 0.04, 0.02, 0.01])
    spend = np.where(rng.random(N) < 0.08, rng.gamma(2.0, 300.0, N).round(2), np.nan)
    return {
        "city": list(city),
        "items": items,
        "visits": visits.tolist(),
        "spend": [None if np.isnan(v) else float(v) for v in spend],
    }


TYPES = {"city": "string", "items": "list<string>", "visits": "int", "spend": "float"}


@pytest.fixture(scope="module")
def indexes(columns: dict[str, list[object]]) -> dict[str, ValueIndex | RangeIndex]:
    arrow = {
        "city": pa.array(columns["city"], pa.string()),
        "items": pa.array(columns["items"], pa.list_(pa.string())),
        "visits": pa.array(columns["visits"], pa.int64()),
        "spend": pa.array(columns["spend"], pa.float64()),
    }
    return {
        name: (ValueIndex if TYPES[name] in ("string", "list<string>") else RangeIndex).build(a)
        for name, a in arrow.items()
    }


def _targets() -> dict[str, FrozenBitMap]:
    rng = np.random.default_rng(11)
    return {
        "large": FrozenBitMap(np.flatnonzero(rng.random(N) < 0.25).astype(np.uint32)),
        "small": FrozenBitMap(np.flatnonzero(rng.random(N) < 0.01).astype(np.uint32)),
        "tiny": FrozenBitMap([3, 70_000, N - 1]),
        "empty": FrozenBitMap(),
        "everyone": FrozenBitMap(range(N)),
    }


def _tally(
    name: str, column: list[object], index: ValueIndex | RangeIndex, members: FrozenBitMap
) -> tuple[list[int], int]:
    """(count per value, missing) by looking at every member's value."""
    uids = np.asarray(members.to_array(), dtype=np.int64)
    if isinstance(index, ValueIndex):
        position = {v: i for i, v in enumerate(index.values)}
        counts = [0] * len(position)
        missing = 0
        for uid in uids.tolist():
            value = column[uid]
            held = value if TYPES[name].startswith("list") else [value]
            held = [v for v in held or [] if v is not None]
            missing += value is None or (TYPES[name].startswith("list") and not value)
            for v in set(held):
                counts[position[str(v)]] += 1
        return counts, missing
    values = np.array([np.nan if v is None else v for v in column], dtype=np.float64)[uids]
    present = values[~np.isnan(values)]
    bounds = index.breakpoints[_chosen_breakpoints(index)].astype(np.float64)
    cumulative = [int(np.count_nonzero(present <= b)) for b in bounds]
    return list(np.diff(cumulative, prepend=0)), int(np.isnan(values).sum())


@pytest.mark.parametrize("tag", list(TYPES))
def test_counts_equal_a_member_by_member_tally(
    tag: str, columns: dict[str, list[object]], indexes: dict[str, ValueIndex | RangeIndex]
) -> None:
    index = indexes[tag]
    for label, members in _targets().items():
        counts = tag_counts(index, TYPES[tag], members)
        expected, missing = _tally(tag, columns[tag], index, members)
        assert counts.counts.tolist() == expected, (tag, label)
        assert counts.missing == missing, (tag, label)
        assert counts.known == len(members) - missing, (tag, label)
    everyone = tag_counts(index, TYPES[tag], FrozenBitMap(range(N)), everyone=True)
    assert everyone.counts.tolist() == _tally(tag, columns[tag], index, _targets()["everyone"])[0]


def test_each_strategy_is_used(indexes: dict[str, ValueIndex | RangeIndex]) -> None:
    """The cases above go through every path: a derived count, complements, numeric bins."""

    def plan(tag: str, value_type: str) -> CountingPlan:
        return counting.tag_counter(indexes[tag], value_type).plan

    shape = Shape.of(_targets()["large"])
    city = plan("city", "string")
    assert city.derive_one  # single-valued: one count is what the others leave over
    assert any(term.plan(shape)[1] for term in city.terms)  # a 2-6% value: its complement
    assert not plan("items", "list<string>").derive_one  # several values per user
    assert plan("visits", "int").cumulative  # dense: cumulative bitmaps
    spend = plan("spend", "float")
    assert not spend.cumulative and spend.derive_one  # 8% with a value: counted on bins


def test_partitions_users_checks_the_bitmaps() -> None:
    assert ValueIndex.build(pa.array(["a", "b", None, "a"])).partitions_users
    multi = pa.array([["a", "b"], ["a"], None, []], pa.list_(pa.string()))
    assert not ValueIndex.build(multi).partitions_users
    single = pa.array([["a"], ["b"], None, []], pa.list_(pa.string()))
    assert ValueIndex.build(single).partitions_users  # one value each: a partition after all
    null_only = pa.array([[None], ["a", "b"], ["c"]], pa.list_(pa.string()))
    assert not ValueIndex.build(null_only).partitions_users  # sizes add up, yet overlap


def test_bins_partition_the_present_users(indexes: dict[str, ValueIndex | RangeIndex]) -> None:
    index = indexes["spend"]
    assert isinstance(index, RangeIndex)
    chosen = _chosen_breakpoints(index)
    bins = index.bins(chosen)
    assert sum(len(b) for b in bins) == len(index.present_users)
    assert FrozenBitMap.union(*bins) == index.present_users
    for i, (k, b) in enumerate(zip(chosen, bins, strict=True)):
        low = index.breakpoints[chosen[i - 1]] if i else None
        expected = index.range(low, index.breakpoints[k], low_inclusive=False)
        assert b == expected
