"""Counting plans count every value (or bin) exactly like numpy does over the raw column, with
every strategy forced on and off (complements, bins instead of cumulative bitmaps, a derived
count), on indexes of more than one 65,536-id chunk."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pytest
from pyroaring import BitMap, FrozenBitMap

from portrait.errors import InputError
from portrait.index import RangeIndex, ValueIndex
from portrait.index import counting as plans
from portrait.index.counting import CountingPlan, MemberCounts, Shape

N = 150_000  # three chunks

#: (COMPLEMENT_GAIN, BINS_GAIN): as shipped, always / never a complement, always / never bins
GAINS = [
    (plans.COMPLEMENT_GAIN, plans.BINS_GAIN),
    (0.0, plans.BINS_GAIN),
    (float("inf"), plans.BINS_GAIN),
    (plans.COMPLEMENT_GAIN, float("inf")),
    (plans.COMPLEMENT_GAIN, 0.0),
]


def _audiences(rng: np.random.Generator) -> Iterator[tuple[str, FrozenBitMap]]:
    for share in (0.6, 0.1, 0.01):
        yield f"{share:.0%}", FrozenBitMap(np.flatnonzero(rng.random(N) < share).astype(np.uint32))
    yield "run", FrozenBitMap(range(20_000, 90_000))
    yield "few", FrozenBitMap([0, 65_535, 65_536, N - 1])
    yield "empty", FrozenBitMap()
    yield "everyone", FrozenBitMap(range(N))


def _gains(monkeypatch: pytest.MonkeyPatch, complement: float, bins: float) -> None:
    monkeypatch.setattr(plans, "COMPLEMENT_GAIN", complement)
    monkeypatch.setattr(plans, "BINS_GAIN", bins)


def _check(
    found: MemberCounts, counts: npt.NDArray[np.int64], missing: int, size: int, label: object
) -> None:
    assert found.counts.tolist() == counts.tolist(), label
    assert (found.missing, found.known) == (missing, size - missing), label


# -- value indexes --------------------------------------------------------------------------


def _codes(rng: np.random.Generator) -> npt.NDArray[np.int64]:
    """A value code per user (-1: missing): a few common values, some held by 2-6% of users
    (their complements are the cheaper side), some rare."""
    shares = np.array([0.35, 0.2, 0.1, 0.06, 0.04, 0.03, 0.02, 0.01, 0.002, 0.0005])
    p = np.append(shares, 1 - shares.sum())
    codes = rng.choice(len(p), size=N, p=p)
    return np.where(codes == len(shares), -1, codes)


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize(("complement", "bins"), GAINS)
def test_a_single_valued_tag_counts_like_numpy(
    seed: int, complement: float, bins: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(seed)
    codes = _codes(rng)
    values = [f"v{c:02d}" for c in range(codes.max() + 1)]  # sorted as the index sorts them
    index = ValueIndex.build(pa.array([values[c] if c >= 0 else None for c in codes]))
    _gains(monkeypatch, complement, bins)
    plan = CountingPlan(index)
    assert plan.derive_one  # missing and the values partition the users
    for name, members in _audiences(rng):
        held = codes[np.asarray(members.to_array(), dtype=np.int64)]
        expected = np.bincount(held[held >= 0], minlength=len(values))
        _check(plan.count(members), expected, int((held < 0).sum()), len(members), name)
    _check(plan.everyone, np.bincount(codes[codes >= 0]), int((codes < 0).sum()), N, "everyone")
    if complement == 0.0:  # every count that was intersected went through a complement
        assert any(term._complement is not None for term in plan.terms)
    if complement == float("inf"):
        assert all(term._complement is None for term in plan.terms)


@pytest.fixture(scope="module")
def multi_valued() -> tuple[ValueIndex, npt.NDArray[np.bool_]]:
    """A list tag's index and which of 5 values each user holds (none: a NULL or empty list)."""
    rng = np.random.default_rng(3)
    held = rng.random((N, 5)) < np.array([0.5, 0.3, 0.05, 0.02, 0.001])
    null = rng.random(N) < 0.02
    lists = [
        None if n else [f"v{j}" for j in np.flatnonzero(row)]
        for row, n in zip(held, null, strict=True)
    ]
    held[null] = False
    return ValueIndex.build(pa.array(lists, pa.list_(pa.string()))), held


@pytest.mark.parametrize(("complement", "bins"), GAINS[:3])
def test_a_multi_valued_tag_counts_like_numpy(
    complement: float,
    bins: float,
    monkeypatch: pytest.MonkeyPatch,
    multi_valued: tuple[ValueIndex, npt.NDArray[np.bool_]],
) -> None:
    index, held = multi_valued
    rng = np.random.default_rng(3)
    none = ~held.any(axis=1)  # a NULL or empty list: missing
    _gains(monkeypatch, complement, bins)
    plan = CountingPlan(index)
    assert not plan.derive_one  # a user holds several values
    for name, members in _audiences(rng):
        rows = np.asarray(members.to_array(), dtype=np.int64)
        found = plan.count(members)
        _check(found, held[rows].sum(axis=0), int(none[rows].sum()), len(members), name)


def test_a_high_cardinality_tag_is_refused() -> None:
    phones = pa.array([f"138{i:08d}" for i in range(50_000)])
    index = ValueIndex.build(phones)
    assert index.sparse
    with pytest.raises(InputError, match="50,000 distinct values"):
        CountingPlan(index)


def test_breakpoints_are_chosen_for_range_indexes_only() -> None:
    with pytest.raises(ValueError, match="range index only"):
        CountingPlan(ValueIndex.build(pa.array(["a", "b"])), [0])


# -- range indexes --------------------------------------------------------------------------


def _column(kind: str, rng: np.random.Generator) -> npt.NDArray[np.float64]:
    """Values (NaN: missing) of a numeric tag of one of four kinds."""
    if kind == "few-ints":  # an exact index: every value a breakpoint
        p = [0.6, 0.2, 0.1, 0.05, 0.03, 0.01, 0.01]
        values = rng.choice([0, 1, 2, 3, 5, 8, 13], size=N, p=p)
        return np.where(rng.random(N) < 0.1, np.nan, values.astype(np.float64))
    if kind == "amounts":  # binned: quantile breakpoints, most users present
        return np.where(rng.random(N) < 0.2, np.nan, rng.gamma(2.0, 300.0, N).round(2))
    if kind == "sparse":  # few users with a value: bins are the cheaper side
        return np.where(rng.random(N) < 0.95, np.nan, rng.normal(50.0, 20.0, N).round(1))
    assert kind == "empty"
    return np.full(N, np.nan)


def _choices(k: int, rng: np.random.Generator) -> list[list[int] | None]:
    """None (every breakpoint), the last only, and a random subset ending with the last."""
    if k == 0:
        return [None, []]
    subset = sorted({*rng.choice(k, size=min(k, 5), replace=False).tolist(), k - 1})
    return [None, [k - 1], subset]


@pytest.mark.parametrize("kind", ["few-ints", "amounts", "sparse", "empty"])
@pytest.mark.parametrize(("complement", "bins"), GAINS)
def test_a_numeric_tag_counts_like_numpy(
    kind: str, complement: float, bins: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(4)
    values = _column(kind, rng)
    present = ~np.isnan(values)
    filled = np.where(present, values, 0)  # masked below: the filler is never read
    column = filled.astype(np.int64) if kind == "few-ints" else filled
    index = RangeIndex.build(pa.array(column, mask=~present))
    assert index.exact == (kind in ("few-ints", "empty"))
    _gains(monkeypatch, complement, bins)
    for chosen in _choices(index.breakpoints.size, rng):
        plan = CountingPlan(index, chosen)
        positions = list(range(index.breakpoints.size)) if chosen is None else chosen
        bounds = index.breakpoints[positions].astype(np.float64)
        if bins == float("inf") and positions:
            assert not plan.cumulative and plan.derive_one
        if bins == 0.0 and positions:
            assert plan.cumulative and not plan.derive_one
        for name, members in _audiences(rng):
            rows = np.asarray(members.to_array(), dtype=np.int64)
            mine = values[rows]
            mine = mine[~np.isnan(mine)]
            at_most = np.array([np.count_nonzero(mine <= b) for b in bounds], dtype=np.int64)
            expected = np.diff(at_most, prepend=0)
            missing = len(members) - mine.size
            _check(plan.count(members), expected, missing, len(members), (chosen, name))
        everyone = np.diff([np.count_nonzero(values[present] <= b) for b in bounds], prepend=0)
        _check(plan.everyone, everyone, int((~present).sum()), N, (chosen, "everyone"))


@pytest.mark.parametrize("chosen", [[0, 1], [3, 1, 6], [-1, 6], [1, 1, 6], []])
def test_chosen_breakpoints_ascend_and_end_with_the_last(chosen: list[int]) -> None:
    index = RangeIndex.build(pa.array(np.arange(7, dtype=np.int64)))
    assert index.breakpoints.size == 7
    with pytest.raises(ValueError, match="ascend and end at 6"):
        CountingPlan(index, chosen)


def test_a_counted_shape_gives_the_counts_of_its_own() -> None:
    """A caller counting the same members on many plans passes their shape once."""
    rng = np.random.default_rng(5)
    index = ValueIndex.build(pa.array(rng.choice(["a", "b", "c"], size=N)))
    members = FrozenBitMap(np.flatnonzero(rng.random(N) < 0.3).astype(np.uint32))
    plan = CountingPlan(index)
    given, measured = plan.count(members, Shape.of(members)), plan.count(members)
    assert given.counts.tolist() == measured.counts.tolist()
    assert (given.known, given.missing) == (measured.known, measured.missing) == (len(members), 0)


def test_a_plan_holds_bitmaps_not_its_index() -> None:
    """Callers keep plans in a dictionary weakly keyed by the index: a plan that held its index
    would keep it loaded for ever."""
    index = ValueIndex.build(pa.array(["a", "b", None] * 1000))
    ref = weakref.ref(index)
    plan = CountingPlan(index)
    del index
    gc.collect()
    assert ref() is None
    assert plan.count(FrozenBitMap(range(3000))).counts.tolist() == [1000, 1000]


# -- shapes ---------------------------------------------------------------------------------


def test_shapes_describe_the_containers() -> None:
    dense = Shape.of(BitMap(range(N)))
    assert (dense.containers, dense.dense) == (3, 1.0)
    arrays = Shape.of(BitMap(range(0, N, 100)))  # 656 values in each full chunk
    assert arrays.containers == 3 and arrays.dense == 0.0
    assert arrays.array_size == pytest.approx(1500 / 3)
    assert Shape.of(BitMap()) == Shape(0, 0.0, 0.0)
    assert Shape.spread(N, N) == Shape(3, 1.0, 0.0)  # more than 4,096 a chunk: bitsets
    assert Shape.spread(3000, N) == Shape(3, 0.0, 1000.0)
    assert Shape.spread(0, N).containers == 0
