"""Profile rows by dense id, against Arrow's own take on the whole table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from portrait.index.rows import ProfileRows, member_chunks, one_row, take_rows

N = 10_000


@pytest.fixture(scope="module")
def profile(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pa.Table]:
    rng = np.random.default_rng(3)
    table = pa.table(
        {
            "user_id": [f"u{i:05d}" for i in range(N)],
            "age": rng.integers(18, 70, N),
            "city": pa.array(rng.choice(["北京", "上海", None], N).tolist()),
        }
    )
    path = tmp_path_factory.mktemp("rows") / "profile.parquet"
    pq.write_table(table, path, row_group_size=777)  # many row groups, uneven
    return path, table


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_take_rows_is_a_take_of_the_whole_profile(
    profile: tuple[Path, pa.Table], seed: int
) -> None:
    path, table = profile
    uids = np.sort(np.random.default_rng(seed).choice(N, 500, replace=False))
    got = take_rows(path, uids, ["user_id", "city"])
    assert got.equals(table.select(["user_id", "city"]).take(pa.array(uids)))


def test_only_row_groups_holding_members_are_read(profile: tuple[Path, pa.Table]) -> None:
    path, _ = profile
    chunks = list(member_chunks(path, np.array([0, 1, 5000, 9999]), ["user_id"]))
    assert [c.num_rows for c in chunks] == [2, 1, 1]  # three row groups of the thirteen


def test_no_members_give_the_profile_s_columns(profile: tuple[Path, pa.Table]) -> None:
    path, table = profile
    empty = take_rows(path, np.array([], dtype=np.int64), ["user_id", "age"])
    assert empty.num_rows == 0 and empty.schema == table.select(["user_id", "age"]).schema


def test_one_row(profile: tuple[Path, pa.Table]) -> None:
    path, table = profile
    assert one_row(path, 4321, ["age"]) == {"user_id": "u04321", "age": table["age"][4321].as_py()}
    with pytest.raises(KeyError, match="uid 10000"):
        one_row(path, N, ["age"])


def test_cached_rows_restricted_to_an_audience(profile: tuple[Path, pa.Table]) -> None:
    path, table = profile
    audience = np.arange(100, 3000, 3)
    rows = ProfileRows(path)
    rows.prefetch(["age"])
    rows.restrict(audience)
    batch = audience[10:20]
    expected = table.select(["user_id", "age"]).take(pa.array(batch)).to_pylist()
    assert rows.values(batch, ["age"]) == expected
    assert rows.user_ids(batch) == [f"u{u:05d}" for u in batch]
    # a column read later is read for the audience's rows only, and still right
    assert [r["city"] for r in rows.values(batch, ["city"])] == table["city"].take(
        pa.array(batch)
    ).to_pylist()
    with pytest.raises(KeyError, match="outside"):
        rows.values(np.array([101]), ["age"])
    with pytest.raises(ValueError, match="already restricted"):
        rows.restrict(audience)
