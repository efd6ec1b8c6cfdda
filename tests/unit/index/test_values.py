"""The value index in both layouts agrees with a plain Python count, and survives a file; a list
tag's empty lists are told from missing ones, and its sizes agree with pyarrow's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from pyroaring import FrozenBitMap

from portrait.index import ValueIndex
from portrait.index import values as values_module


@pytest.fixture(params=["bitmaps", "grouped"])
def layout(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "grouped":
        monkeypatch.setattr(values_module, "SPARSE_MIN_VALUES", 0)
        monkeypatch.setattr(values_module, "SPARSE_USERS_PER_VALUE", 10**9)
    return str(request.param)


def expected(rows: list[object]) -> dict[str, list[int]]:
    out: dict[str, set[int]] = {}
    for uid, value in enumerate(rows):
        for v in value if isinstance(value, list) else [value]:
            if v is not None:
                out.setdefault(str(v).lower() if isinstance(v, bool) else str(v), set()).add(uid)
    return {v: sorted(u) for v, u in out.items()}


@pytest.mark.parametrize(
    "rows",
    [
        ["b", "a", None, "b", "c", "a", "b"],
        [["x", "y"], None, [], ["y", "y", "z"], ["x"]],
        [True, False, None, True],
    ],
)
def test_both_layouts_match_python(layout: str, rows: list[object], tmp_path: Path) -> None:
    index = ValueIndex.build(pa.chunked_array([pa.array(rows)]))
    assert index.sparse == (layout == "grouped")
    want = expected(rows)
    assert index.values == sorted(want)
    for candidate in (index, _round_trip(index, tmp_path)):
        assert {v: list(b) for v, b in candidate.items()} == want
        assert candidate.counts() == [(v, len(u)) for v, u in sorted(want.items())]
        for value, uids in want.items():
            assert list(candidate.get(value)) == uids
            assert value in candidate
        assert "nope" not in candidate and len(candidate.get("nope")) == 0
        missing = [i for i, r in enumerate(rows) if r is None or r == []]
        assert list(candidate.missing) == missing
        top = candidate.top_counts(2)
        assert [c for _, c in top] == sorted((len(u) for u in want.values()), reverse=True)[:2]


def _round_trip(index: ValueIndex, tmp_path: Path) -> ValueIndex:
    path = tmp_path / "i.values.bin"
    index.save(path)
    return ValueIndex.load(path)


def test_high_cardinality_chooses_grouped_layout() -> None:
    n = 50_000
    phones = pa.array([f"138{i:08d}" for i in np.random.default_rng(1).permutation(n)])
    index = ValueIndex.build(phones)
    assert index.sparse and index.distinct == n
    assert len(index.get("13800000042")) == 1
    low = ValueIndex.build(pa.array(["a", "b"] * n))
    assert not low.sparse


def test_partitions_users_checks_the_bitmaps() -> None:
    assert ValueIndex.build(pa.array(["a", "b", None, "a"])).partitions_users
    multi = pa.array([["a", "b"], ["a"], None, []], pa.list_(pa.string()))
    assert not ValueIndex.build(multi).partitions_users
    single = pa.array([["a"], ["b"], None, []], pa.list_(pa.string()))
    assert ValueIndex.build(single).partitions_users  # one value each: a partition after all
    null_only = pa.array([[None], ["a", "b"], ["c"]], pa.list_(pa.string()))
    assert not ValueIndex.build(null_only).partitions_users  # sizes add up, yet overlap


# -- empty lists and sizes ------------------------------------------------------------------

LISTS: list[list[str] | None] = [
    None,
    [],
    ["a"],
    ["a", "b"],
    [],
    ["c", "a", "b"],
    None,
    ["b"],
    [],
    ["c"],
]


def _arrow_sizes(array: pa.Array) -> list[int]:
    """pyarrow's list lengths, NULL as 0 (what size() means)."""
    return [int(n) for n in pc.fill_null(pc.list_value_length(array), 0).to_pylist()]


def test_empty_and_missing_lists_are_told_apart(layout: str) -> None:
    array = pa.array(LISTS, pa.list_(pa.string()))
    index = ValueIndex.build(array)
    assert index.sparse == (layout == "grouped")
    assert index.empty is not None
    assert list(index.empty) == [1, 4, 8]  # the [] users only
    assert list(index.missing) == [0, 1, 4, 6, 8]  # NULL and []
    np.testing.assert_array_equal(index.sizes(), _arrow_sizes(array))
    assert index.sizes().tolist() == [0, 0, 1, 2, 0, 3, 0, 1, 0, 1]
    assert np.issubdtype(index.sizes().dtype, np.integer)


def test_a_single_valued_tag_has_no_empty_users_and_no_lengths(layout: str, tmp_path: Path) -> None:
    index = ValueIndex.build(pa.array(["x", None, "y", None]))
    for candidate in (index, _round_trip(index, tmp_path)):
        assert candidate.empty is not None and len(candidate.empty) == 0
        assert candidate.lengths is None  # size() is for lists only
        with pytest.raises(ValueError, match="no list lengths"):
            candidate.sizes()


def test_sizes_of_a_chunked_list_column_with_many_users(layout: str) -> None:
    rng = np.random.default_rng(3)
    n = 5_000
    rows: list[list[str] | None] = []
    for i in range(n):
        k = int(rng.integers(0, 5))
        rows.append(None if i % 7 == 0 else sorted({f"v{j}" for j in rng.integers(0, 30, k)}))
    array = pa.array(rows, pa.list_(pa.string()))
    index = ValueIndex.build(pa.chunked_array([array.slice(0, 1234), array.slice(1234)]))
    want = np.array(_arrow_sizes(array))
    np.testing.assert_array_equal(index.sizes(), want)
    assert list(index.empty or []) == [i for i, r in enumerate(rows) if r == []]


@pytest.mark.parametrize(
    ("lists", "sizes"),
    [
        ([["a", "a"], ["b"]], [2, 1]),
        ([[None, "b"], ["b"]], [2, 1]),
        ([[None], None, ["c"]], [1, 0, 1]),
    ],
    ids=["twice", "null", "only-null"],
)
def test_sizes_count_every_element_like_pyarrow(
    lists: list[list[str | None] | None], sizes: list[int], layout: str, tmp_path: Path
) -> None:
    """The list length as stored, as SQL's array length: a repeated value and a NULL element
    count (the value bitmaps hold each user once); kept through a file in both layouts."""
    array = pa.array(lists, pa.list_(pa.string()))
    index = ValueIndex.build(array)
    assert index.sparse == (layout == "grouped")
    assert list(index.get("b")) == [i for i, x in enumerate(lists) if x and "b" in x]
    for candidate in (index, _round_trip(index, tmp_path)):
        assert candidate.sizes().tolist() == sizes == _arrow_sizes(array)
        assert candidate.sizes_index().equal(2).to_array().tolist() == [
            i for i, n in enumerate(sizes) if n == 2
        ]


def test_sizes_index_answers_ranges() -> None:
    array = pa.array(LISTS, pa.list_(pa.string()))
    index = ValueIndex.build(array)
    sizes = np.array(_arrow_sizes(array))
    ranges = index.sizes_index()
    assert ranges is index.sizes_index()  # built once
    assert ranges.n_users == len(LISTS)
    assert len(ranges.missing) == 0  # every user has a size
    for low, high in [(None, 0), (1, None), (2, None), (1, 2), (3, 3), (4, None), (0, 0)]:
        keep = np.ones(len(sizes), dtype=bool)
        if low is not None:
            keep &= sizes >= low
        if high is not None:
            keep &= sizes <= high
        assert list(ranges.range(low, high)) == np.flatnonzero(keep).tolist(), (low, high)
    assert list(ranges.range(0, 2, low_inclusive=False, high_inclusive=False)) == [2, 7, 9]
    assert list(ranges.equal(2)) == [3]


def _lists_with_many_values(n_values: int) -> list[list[str] | None]:
    """A user per value (all distinct), then NULL and [] users, then users with two values."""
    rows: list[list[str] | None] = [[f"p{i:05d}"] for i in range(n_values)]
    rows += [None, [], None, [], ["p00001", "p00002"]]
    return rows


@pytest.mark.parametrize("n_values", [5, values_module.SPARSE_MIN_VALUES + 1])
def test_empty_survives_a_file_in_both_layouts(n_values: int, tmp_path: Path) -> None:
    rows = _lists_with_many_values(n_values)
    array = pa.array(rows, pa.list_(pa.string()))
    index = ValueIndex.build(array)
    assert index.sparse == (n_values > values_module.SPARSE_MIN_VALUES)
    loaded = _round_trip(index, tmp_path)
    assert loaded.sparse == index.sparse
    assert loaded.empty is not None
    assert list(loaded.empty) == [n_values + 1, n_values + 3]
    assert list(loaded.missing) == [n_values, n_values + 1, n_values + 2, n_values + 3]
    np.testing.assert_array_equal(loaded.sizes(), _arrow_sizes(array))
    assert list(loaded.get("p00002")) == [2, n_values + 4]


@pytest.mark.parametrize("layout_name", ["bitmaps", "grouped"])
def test_a_file_without_the_empty_section_loads_with_empty_none(
    layout_name: str, tmp_path: Path
) -> None:
    """An index written before empty lists and lengths were kept: ``empty`` and ``lengths``
    are None (sizes() refuses), the rest is read."""
    missing = FrozenBitMap([1, 3])
    if layout_name == "bitmaps":
        old = ValueIndex(
            4, ["a", "b"], missing, bitmaps=[FrozenBitMap([0, 2]), FrozenBitMap([2])], empty=None
        )
    else:
        old = ValueIndex(
            4,
            pa.array(["a", "b"]),
            missing,
            offsets=np.array([0, 2, 3], dtype=np.int64),
            uids=np.array([0, 2, 2], dtype=np.uint32),
            empty=None,
        )
    loaded = _round_trip(old, tmp_path)
    assert loaded.sparse == (layout_name == "grouped")
    assert loaded.empty is None
    assert loaded.values == ["a", "b"]
    assert list(loaded.missing) == [1, 3]
    assert list(loaded.get("a")) == [0, 2] and list(loaded.get("b")) == [2]
    assert loaded.lengths is None
    with pytest.raises(ValueError, match="no list lengths"):
        loaded.sizes()
