"""The value index in both layouts agrees with a plain Python count, and survives a file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

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
