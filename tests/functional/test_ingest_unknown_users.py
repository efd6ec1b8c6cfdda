"""Events and orders of users not in the users table are loaded and reported (how many rows,
how many users, a few examples)."""

from __future__ import annotations

from pathlib import Path

import pytest

from portrait.workspace import Workspace
from tests.functional.ingest_helpers import table_rows, write

pytestmark = pytest.mark.usefixtures("no_portrait_environment")


def test_events_of_unknown_users_are_loaded_and_reported(ws: Workspace, tmp_path: Path) -> None:
    ws.ingest("users", write(tmp_path / "users.csv", "user_id\nu1\nu2\n"))
    path = write(
        tmp_path / "events.csv",
        "user_id,ts,event\n"
        "u1,2026-10-01 00:00:00,view\n"
        "x9,2026-10-01 00:00:00,view\n"
        "x7,2026-10-01 00:00:00,view\n"
        "x9,2026-10-02 00:00:00,view\n"
        "u2,2026-10-02 00:00:00,view\n"
        "x8,2026-10-02 00:00:00,view\n",
    )
    report = ws.ingest("events", path)

    assert report.rows_loaded == 6
    assert (report.unknown_user_rows, report.unknown_users) == (4, 3)
    assert report.unknown_user_examples == ["x7", "x8", "x9"]
    assert ws.warehouse.tables["events"].rows == 6
    assert sorted({r["user_id"] for r in table_rows(ws, "events", "ts")}) == [
        "u1",
        "u2",
        "x7",
        "x8",
        "x9",
    ]


def test_unknown_user_examples_are_capped(ws: Workspace, tmp_path: Path) -> None:
    lines = ["user_id,ts,event"] + [f"z{i},2026-10-01 00:00:00,view" for i in range(9, 0, -1)]
    report = ws.ingest("events", write(tmp_path / "e.csv", "\n".join(lines) + "\n"))
    assert (report.unknown_user_rows, report.unknown_users) == (9, 9)
    assert report.unknown_user_examples == ["z1", "z2", "z3", "z4", "z5"]
