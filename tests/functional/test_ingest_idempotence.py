"""Ingesting the same content again (under any name) changes nothing; another mapping, a failed
attempt or a file with a header only is not mistaken for it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from portrait.errors import IngestError
from portrait.workspace import Workspace
from tests.functional.ingest_helpers import assert_untouched, users_parquet, write

pytestmark = pytest.mark.usefixtures("no_portrait_environment")


def test_reingesting_the_same_content_is_a_no_op(ws: Workspace, tmp_path: Path) -> None:
    path = write(
        tmp_path / "events.csv",
        "user_id,ts,event\nu1,2026-10-01 00:00:00,view\nu2,2026-10-02 00:00:00,view\n",
    )
    first = ws.ingest("events", path)
    assert (first.already_ingested, first.warehouse_version) == (False, "000001")

    again = ws.ingest("events", path)
    assert again.already_ingested is True
    assert again.warehouse_version == "000001"
    assert (again.rows_read, again.rows_loaded) == (0, 0)

    renamed = ws.ingest("events", shutil.copy(path, tmp_path / "copy.csv"))
    assert renamed.already_ingested is True  # same content under another name

    assert_untouched(ws, "000001", {"events": 2})
    assert len(ws.warehouse.tables["events"].batches) == 1


def test_same_content_with_another_mapping_is_loaded(ws: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path / "u.csv", "user_id,member_no\nu1,m1\nu2,m2\n")
    ws.ingest("users", path)
    report = ws.ingest("users", path, mapping={"user_id": "member_no"})
    assert report.already_ingested is False
    assert (report.new_users, report.warehouse_version) == (2, "000002")
    assert [u["user_id"] for u in users_parquet(ws)] == ["u1", "u2", "m1", "m2"]


def test_failed_ingest_is_not_remembered(ws: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path / "u.csv", "user_id,age\nu1,30\nu1,31\nu2,32\n")
    with pytest.raises(IngestError):
        ws.ingest("users", path, on_error="fail")
    report = ws.ingest("users", path, on_error="reject")
    assert report.already_ingested is False
    assert (report.rows_loaded, report.rows_rejected) == (2, 1)


def test_header_only_file_changes_nothing(ws: Workspace, tmp_path: Path) -> None:
    first = write(tmp_path / "users.csv", "user_id,age\nu1,30\n")
    ws.ingest("users", first)
    version = ws.warehouse.version
    empty = write(tmp_path / "empty.csv", "user_id,age\n")
    report = ws.ingest("users", empty)
    assert report.rows_read == 0 and report.rows_loaded == 0
    assert ws.warehouse.version == version == report.warehouse_version
    assert ws.warehouse.tables["users"].version == 1
