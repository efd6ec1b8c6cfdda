"""Insight's counting (members per tag value, through the index's counting plans: derived
counts, complements, numeric bins) gives exactly the counts of a member-by-member tally, on
indexes large enough to hold every container kind (tests/unit/conftest.py)."""

from __future__ import annotations

import gc
import importlib
import weakref

import numpy as np
import pyarrow as pa
import pytest
from pyroaring import FrozenBitMap

from portrait.analysis.counting import _chosen_breakpoints, tag_counts
from portrait.index import RangeIndex, ValueIndex
from portrait.index.counting import CountingPlan, Shape
from tests.unit.conftest import TAG_TYPES as TYPES
from tests.unit.conftest import TAG_USERS as N

# the module, not the ``insight`` function that ``portrait.analysis`` exports under its name
counting = importlib.import_module("portrait.analysis.counting")


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
    tag: str, tag_columns: dict[str, list[object]], tag_indexes: dict[str, ValueIndex | RangeIndex]
) -> None:
    index = tag_indexes[tag]
    for label, members in _targets().items():
        counts = tag_counts(index, TYPES[tag], members)
        expected, missing = _tally(tag, tag_columns[tag], index, members)
        assert counts.counts.tolist() == expected, (tag, label)
        assert counts.missing == missing, (tag, label)
        assert counts.known == len(members) - missing, (tag, label)
    everyone = tag_counts(index, TYPES[tag], FrozenBitMap(range(N)), everyone=True)
    assert (
        everyone.counts.tolist() == _tally(tag, tag_columns[tag], index, _targets()["everyone"])[0]
    )


def test_each_strategy_is_used(tag_indexes: dict[str, ValueIndex | RangeIndex]) -> None:
    """The cases above go through every path: a derived count, complements, numeric bins."""

    def plan(tag: str, value_type: str) -> CountingPlan:
        return counting.tag_counter(tag_indexes[tag], value_type).plan

    shape = Shape.of(_targets()["large"])
    city = plan("city", "string")
    assert city.derive_one  # single-valued: one count is what the others leave over
    assert any(term.plan(shape)[1] for term in city.terms)  # a 2-6% value: its complement
    assert not plan("items", "list<string>").derive_one  # several values per user
    assert plan("visits", "int").cumulative  # dense: cumulative bitmaps
    spend = plan("spend", "float")
    assert not spend.cumulative and spend.derive_one  # 8% with a value: counted on bins


def test_a_counter_is_kept_as_long_as_its_index() -> None:
    """Counters are built once per loaded index and go with it (the cache holds indexes weakly:
    neither the counter nor its plan may refer to the index)."""
    index = ValueIndex.build(pa.array(["a", "b", None] * 1000))
    counter = counting.tag_counter(index, "string")
    assert counting.tag_counter(index, "string") is counter
    ref = weakref.ref(index)
    del index
    gc.collect()
    assert ref() is None
    six = FrozenBitMap(range(6))
    assert counter.count(six, Shape.of(six)).counts.tolist() == [2, 2]


@pytest.mark.parametrize("distinct", [5, 5000])
def test_a_bins_bounds_hold_exactly_the_values_counted_under_its_label(distinct: int) -> None:
    from portrait.analysis.counting import bin_bounds

    rng = np.random.default_rng(3)
    values = rng.integers(0, distinct, 20_000)
    index = RangeIndex.build(pa.chunked_array([pa.array(values, pa.int64())]))
    counted = tag_counts(index, "int", FrozenBitMap(range(values.size)), everyone=True)
    for label, count in zip(counted.labels, counted.counts.tolist(), strict=True):
        low, high = bin_bounds(index, "int", label)
        if low == high:  # one value
            inside = values == high
        else:
            inside = values <= high if low is None else (values > low) & (values <= high)
        assert int(inside.sum()) == count, label
        if distinct == 5:
            assert low == high == int(label)
    with pytest.raises(KeyError):
        bin_bounds(index, "int", "(no, such]")
