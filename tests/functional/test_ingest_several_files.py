"""Several files in one ingest: one new warehouse version, read in the given order, duplicates
across files found, one format for all."""

from __future__ import annotations

from pathlib import Path

import pytest

from portrait.errors import IngestError, InputError
from portrait.workspace import Workspace
from tests.functional.ingest_helpers import (
    assert_untouched,
    numbered_versions,
    read_rejects,
    users_parquet,
    write,
    write_jsonl,
)

pytestmark = pytest.mark.usefixtures("no_portrait_environment")


def test_several_files_are_one_ingest(ws: Workspace, tmp_path: Path) -> None:
    a = write(tmp_path / "a.csv", "user_id,city\nu1,SH\nu2,BJ\n")
    b = write(tmp_path / "b.csv", "user_id,city\nu3,GZ\nu1,SZ\n")
    report = ws.ingest("users", [a, b])

    assert report.file == f"{a} (+1 more)"
    assert (report.rows_read, report.rows_loaded, report.rows_rejected) == (4, 3, 1)
    assert report.new_users == 3
    assert report.warehouse_version == "000001"
    assert len(report.problems) == 1
    assert report.problems[0].startswith("b.csv row 2, column 'user_id': ")
    assert "a.csv row 1" in report.problems[0]
    _, rejects = read_rejects(report.rejects_file)
    assert [(r["_file"], r["_row"], r["city"]) for r in rejects] == [("b.csv", "2", "SZ")]
    assert [(u["uid"], u["user_id"], u["city"]) for u in users_parquet(ws)] == [
        (0, "u1", "SH"),
        (1, "u2", "BJ"),
        (2, "u3", "GZ"),
    ]
    assert numbered_versions(ws) == ["000001"]
    assert ws.ingest("users", [a, b]).already_ingested is True


def test_several_files_are_read_in_the_given_order(ws: Workspace, tmp_path: Path) -> None:
    b = write(tmp_path / "b.csv", "user_id,age\nb1,1\nx,2\n")
    a = write(tmp_path / "a.csv", "user_id,age\na1,3\nx,4\n")
    report = ws.ingest("users", [b, a])
    assert len(report.problems) == 1
    assert report.problems[0].startswith("a.csv row 2, column 'user_id': ")
    assert "b.csv row 2" in report.problems[0]
    assert [(u["uid"], u["user_id"], u["age"]) for u in users_parquet(ws)] == [
        (0, "b1", 1),
        (1, "x", 2),
        (2, "a1", 3),
    ]


def test_same_named_files_from_two_folders_are_not_interleaved(
    ws: Workspace, tmp_path: Path
) -> None:
    (tmp_path / "d1").mkdir()
    (tmp_path / "d2").mkdir()
    first = write(tmp_path / "d1" / "users.csv", "user_id\nu1\nu2\n")
    second = write(tmp_path / "d2" / "users.csv", "user_id\nu3\nu4\n")
    assert ws.ingest("users", [first, second]).new_users == 4
    assert [u["user_id"] for u in users_parquet(ws)] == ["u1", "u2", "u3", "u4"]


def test_files_of_one_ingest_must_share_a_format(ws: Workspace, tmp_path: Path) -> None:
    a = write(tmp_path / "a.csv", "user_id\nu1\n")
    b = write_jsonl(tmp_path / "b.jsonl", [{"user_id": "u2"}])
    with pytest.raises(IngestError, match="share a format"):
        ws.ingest("users", [a, b])
    with pytest.raises(InputError, match="no file given"):
        ws.ingest("users", [])
    assert_untouched(ws, "none", {})
