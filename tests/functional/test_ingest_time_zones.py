"""Time zones: timestamps without an offset are in the workspace time zone (``data.timezone``,
UTC by default), in every format; all are stored in UTC."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from portrait.workspace import Workspace
from tests.functional.ingest_helpers import (
    set_timezone,
    table_rows,
    users_parquet,
    write,
    write_jsonl,
)

pytestmark = pytest.mark.usefixtures("no_portrait_environment")


def test_timestamps_without_offset_are_in_the_workspace_time_zone(
    ws: Workspace, tmp_path: Path
) -> None:
    ws = set_timezone(ws, "America/New_York")
    path = write(
        tmp_path / "events.csv",
        "user_id,ts,event\n"
        "summer,2026-07-01 12:00:00,view\n"  # EDT, UTC-4
        "winter,2026-12-01 12:00:00,view\n"  # EST, UTC-5
        "offset,2026-10-31T10:00:00+08:00,view\n"
        "zulu,2026-10-31T10:00:00Z,view\n",
    )
    ws.ingest("events", path)
    rows = {r["user_id"]: r["ts"] for r in table_rows(ws, "events", "ts")}
    assert rows == {
        "summer": dt.datetime(2026, 7, 1, 16, 0),
        "winter": dt.datetime(2026, 12, 1, 17, 0),
        "offset": dt.datetime(2026, 10, 31, 2, 0),
        "zulu": dt.datetime(2026, 10, 31, 10, 0),
    }
    assert ws.warehouse.tables["events"].max_time == "2026-12-01 17:00:00"


def test_timestamps_default_to_utc(ws: Workspace, tmp_path: Path) -> None:
    assert ws.config["data.timezone"] == "UTC"
    ws.ingest(
        "users",
        write(
            tmp_path / "u.csv",
            "user_id,registered_at\nu1,2026-10-31 10:00:00\nu2,2026-10-31T10:00:00+08:00\n",
        ),
    )
    assert [u["registered_at"] for u in users_parquet(ws)] == [
        dt.datetime(2026, 10, 31, 10, 0),
        dt.datetime(2026, 10, 31, 2, 0),
    ]


def _naive_jsonl(path: Path) -> Path:
    return write_jsonl(
        path.with_suffix(".jsonl"),
        [
            {"user_id": "u1", "ts": "2026-10-31 10:00:00", "event": "view"},
            {"user_id": "u2", "ts": "2026-10-31 11:00:00", "event": "view"},
        ],
    )


def _naive_parquet(path: Path) -> Path:
    out = path.with_suffix(".parquet")
    stamps = [dt.datetime(2026, 10, 31, 10, 0), dt.datetime(2026, 10, 31, 11, 0)]
    pq.write_table(
        pa.table(
            {
                "user_id": ["u1", "u2"],
                "ts": pa.array(stamps, pa.timestamp("us")),
                "event": ["view", "view"],
            }
        ),
        out,
    )
    return out


@pytest.mark.parametrize("make", [_naive_jsonl, _naive_parquet], ids=["jsonl", "parquet"])
def test_naive_timestamps_of_typed_formats_use_the_workspace_time_zone(
    ws: Workspace, tmp_path: Path, make: Any
) -> None:
    ws = set_timezone(ws, "Asia/Shanghai")
    ws.ingest("events", make(tmp_path / "events"))
    assert [r["ts"] for r in table_rows(ws, "events", "ts")] == [
        dt.datetime(2026, 10, 31, 2, 0),
        dt.datetime(2026, 10, 31, 3, 0),
    ]
