"""What a later ingest does to a table: users and orders are upserted by their key (uids are
kept, new users get the next ones), events append a batch; every batch records its file."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from portrait.workspace import Workspace
from tests.functional.ingest_helpers import table_rows, users_parquet, write

pytestmark = pytest.mark.usefixtures("no_portrait_environment")


def test_user_upsert_keeps_uids_and_appends_new_ones(ws: Workspace, tmp_path: Path) -> None:
    ws.ingest(
        "users", write(tmp_path / "a.csv", "user_id,city,age\nu1,SH,30\nu2,BJ,40\nu3,GZ,50\n")
    )
    report = ws.ingest(
        "users",
        write(tmp_path / "b.csv", "user_id,city,vip\nu5,WH,1\nu2,HZ,0\nu4,,1\nu1,,0\n"),
    )

    assert (report.rows_loaded, report.new_users, report.updated_rows) == (4, 2, 2)
    assert report.warehouse_version == "000002"
    users = ws.warehouse.tables["users"]
    assert (users.rows, users.max_uid, users.version) == (5, 4, 2)
    assert users.columns == {"user_id": "string", "city": "string", "age": "int", "vip": "int"}
    assert [(u["uid"], u["user_id"], u["city"], u["age"], u["vip"]) for u in users_parquet(ws)] == [
        (0, "u1", None, 30, 0),  # city replaced by the empty value of the new file
        (1, "u2", "HZ", 40, 0),  # age is not in the new file: kept
        (2, "u3", "GZ", 50, None),  # not in the new file: unchanged
        (3, "u5", "WH", None, 1),  # new users get the next uids in file order
        (4, "u4", None, None, 1),
    ]


def test_orders_upsert_by_order_id_and_report_unknown_users(ws: Workspace, tmp_path: Path) -> None:
    ws.ingest("users", write(tmp_path / "users.csv", "user_id\nu1\nu2\n"))
    first = ws.ingest(
        "orders",
        write(
            tmp_path / "orders1.csv",
            "order_id,user_id,ts,amount\n"
            "o1,u1,2026-10-01 10:00:00,12.5\n"
            "o2,u7,2026-10-02 10:00:00,3\n",
        ),
    )
    assert (first.rows_loaded, first.updated_rows) == (2, 0)
    assert (first.unknown_user_rows, first.unknown_users, first.unknown_user_examples) == (
        1,
        1,
        ["u7"],
    )
    second = ws.ingest(
        "orders",
        write(
            tmp_path / "orders2.csv",
            "order_id,user_id,ts,amount\n"
            "o1,u2,2026-10-05 10:00:00,99.75\n"
            "o3,u1,2026-10-03 10:00:00,1\n",
        ),
    )
    assert (second.rows_loaded, second.updated_rows) == (2, 1)
    orders = ws.warehouse.tables["orders"]
    assert orders.rows == 3
    assert orders.version == 2
    assert orders.columns == {
        "order_id": "string",
        "user_id": "string",
        "ts": "timestamp",
        "amount": "float",
    }
    assert orders.max_time == "2026-10-05 10:00:00"
    rows = table_rows(ws, "orders", "order_id")
    assert [(r["order_id"], r["user_id"], r["ts"], r["amount"]) for r in rows] == [
        ("o1", "u2", dt.datetime(2026, 10, 5, 10, 0), 99.75),
        ("o2", "u7", dt.datetime(2026, 10, 2, 10, 0), 3.0),
        ("o3", "u1", dt.datetime(2026, 10, 3, 10, 0), 1.0),
    ]


def test_events_append_in_batches(ws: Workspace, tmp_path: Path) -> None:
    ws.ingest("events", write(tmp_path / "e1.csv", "user_id,ts,event\nu1,2026-10-01 00:00:00,a\n"))
    ws.ingest(
        "events",
        write(
            tmp_path / "e2.csv",
            "user_id,ts,event,page\nu1,2026-10-01 00:00:00,a,\nu2,2026-09-01 00:00:00,b,home\n",
        ),
    )
    events = ws.warehouse.tables["events"]
    assert events.files == ["events/batch-000001.parquet", "events/batch-000002.parquet"]
    assert (events.rows, events.version, len(events.batches)) == (3, 2, 2)
    assert events.max_time == "2026-10-01 00:00:00"
    rows = table_rows(ws, "events", "ts, user_id, page")
    assert [(r["user_id"], r["event"], r["page"]) for r in rows] == [
        ("u2", "b", "home"),
        ("u1", "a", None),
        ("u1", "a", None),
    ]


def test_batch_record_names_the_file(ws: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path / "users.csv", "user_id\nu1\n")
    ws.ingest("users", path)
    assert ws.warehouse.tables["users"].batches[-1]["file"] == str(path)
