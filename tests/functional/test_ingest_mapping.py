"""Column mapping and required columns: ``--map TARGET=SOURCE`` renames a source column, and a
file without a required (or with a reserved) column is refused with the columns it does have,
writing nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from portrait.errors import IngestError
from portrait.workspace import Workspace
from tests.functional.ingest_helpers import assert_untouched, users_parquet, write

pytestmark = pytest.mark.usefixtures("no_portrait_environment")


def test_mapping_renames_a_source_column(ws: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path / "members.csv", "member_no,age\nm1,30\nm2,40\n")
    report = ws.ingest("users", path, mapping={"user_id": "member_no"})

    assert report.rows_loaded == 2
    assert ws.warehouse.tables["users"].columns == {"user_id": "string", "age": "int"}
    assert users_parquet(ws) == [
        {"uid": 0, "user_id": "m1", "age": 30},
        {"uid": 1, "user_id": "m2", "age": 40},
    ]
    assert ws.warehouse.tables["users"].batches[-1]["mapping"] == {"user_id": "member_no"}


def test_mapped_target_replaces_a_same_named_column(ws: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path / "u.csv", "user_id,member_no,age\nX1,m1,3\nX2,m2,4\n")
    ws.ingest("users", path, mapping={"user_id": "member_no"})
    assert ws.warehouse.tables["users"].columns == {"user_id": "string", "age": "int"}
    assert [(u["user_id"], u["age"]) for u in users_parquet(ws)] == [("m1", 3), ("m2", 4)]


def test_mapping_to_a_missing_column_is_a_clear_error(ws: Workspace, tmp_path: Path) -> None:
    ws.ingest("users", write(tmp_path / "seed.csv", "user_id\nz1\n"))
    path = write(tmp_path / "members.csv", "member_no,age\nm1,30\n")
    with pytest.raises(IngestError) as err:
        ws.ingest("users", path, mapping={"user_id": "member_id"})

    assert err.value.where == str(path)
    assert "member_id" in err.value.message
    assert "user_id=member_id" in err.value.message
    assert err.value.hint is not None
    assert "member_no, age" in err.value.hint  # the columns the file does have
    assert str(err.value).startswith(f"{path}: ")
    assert_untouched(ws, "000001", {"users": 1})


@pytest.mark.parametrize(
    ("table", "header", "missing"),
    [
        ("users", "member_no,age", ["user_id"]),
        ("events", "user_id,event,page", ["ts"]),
        ("events", "user_id,page", ["ts", "event"]),
        ("orders", "order_id,user_id,ts,total", ["amount"]),
    ],
)
def test_missing_required_column_writes_nothing(
    ws: Workspace, tmp_path: Path, table: str, header: str, missing: list[str]
) -> None:
    ws.ingest("users", write(tmp_path / "seed.csv", "user_id\nz1\n"))
    width = len(header.split(","))
    path = write(tmp_path / f"{table}.csv", header + "\n" + ",".join(["x"] * width) + "\n")

    with pytest.raises(IngestError) as err:
        ws.ingest(table, path)

    assert err.value.where == str(path)
    for column in missing:
        assert f"'{column}'" in err.value.message
    assert err.value.message.startswith("missing required column")
    assert err.value.hint is not None
    assert header.replace(",", ", ") in err.value.hint
    assert f"--map {missing[0]}=" in err.value.hint
    assert_untouched(ws, "000001", {"users": 1})
    assert list(ws.layout.rejects_dir.iterdir()) == []


def test_reserved_uid_column_is_refused(ws: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path / "u.csv", "user_id,uid\nu1,7\n")
    with pytest.raises(IngestError, match="'uid' is reserved") as err:
        ws.ingest("users", path)
    assert err.value.where == str(path)
    assert_untouched(ws, "none", {})
