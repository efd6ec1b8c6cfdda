"""The input formats: CSV, Parquet and JSON lines load with their types (inferred from CSV text,
native in Parquet, nested JSON properties as columns), dense uids in file order, and a format
chosen by the file's suffix unless one is given; order items as lists in every format."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from portrait.errors import IngestError
from portrait.workspace import Workspace
from tests.functional.ingest_helpers import table_rows, users_parquet, write, write_jsonl

pytestmark = pytest.mark.usefixtures("no_portrait_environment")


USERS_CSV = """user_id,age,city,registered_at
u1,34,Beijing,2024-01-05 10:00:00
u2,28,Shanghai,2025-03-01T08:00:00+08:00
u3,,Beijing,
"""


def test_csv_users_load_with_inferred_types_and_dense_uids(ws: Workspace, tmp_path: Path) -> None:
    assert ws.warehouse.version == "none"
    report = ws.ingest("users", write(tmp_path / "users.csv", USERS_CSV))

    assert report.table == "users"
    assert report.file == str(tmp_path / "users.csv")
    assert (report.rows_read, report.rows_loaded, report.rows_rejected) == (3, 3, 0)
    assert (report.new_users, report.updated_rows) == (3, 0)
    assert report.rejects_file is None
    assert report.problems == []
    assert report.already_ingested is False
    assert report.warehouse_version == "000001"
    assert report.seconds > 0

    snap = ws.warehouse
    assert snap.version == "000001"
    assert snap.path == ws.root / "warehouse" / "000001"
    users = snap.tables["users"]
    assert users.rows == 3
    assert users.max_uid == 2
    assert users.version == 1
    assert users.files == ["users/users.parquet"]
    assert users.columns == {
        "user_id": "string",
        "age": "int",
        "city": "string",
        "registered_at": "timestamp",
    }
    assert users_parquet(ws) == [
        {
            "uid": 0,
            "user_id": "u1",
            "age": 34,
            "city": "Beijing",
            "registered_at": dt.datetime(2024, 1, 5, 10, 0),
        },
        {
            "uid": 1,
            "user_id": "u2",
            "age": 28,
            "city": "Shanghai",
            "registered_at": dt.datetime(2025, 3, 1, 0, 0),  # +08:00 converted to UTC
        },
        {"uid": 2, "user_id": "u3", "age": None, "city": "Beijing", "registered_at": None},
    ]


def test_decimal_attribute_is_inferred_as_float(ws: Workspace, tmp_path: Path) -> None:
    ws.ingest("users", write(tmp_path / "u.csv", "user_id,score\nu1,1.5\nu2,2.25\nu3,3\n"))
    assert ws.warehouse.tables["users"].columns["score"] == "float"
    assert [u["score"] for u in users_parquet(ws)] == [1.5, 2.25, 3.0]


def test_parquet_events_with_native_types(ws: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "events.parquet"
    pq.write_table(
        pa.table(
            {
                "user_id": ["u1", "u2", "u1"],
                "ts": pa.array(
                    [
                        dt.datetime(2026, 10, 2, 9, 30),
                        dt.datetime(2026, 10, 1, 8, 0),
                        dt.datetime(2026, 10, 3, 23, 59, 59),
                    ],
                    pa.timestamp("us"),
                ),
                "event": ["view", "search", "view"],
                "business_line": ["used_car", "new_house", None],
                "price": pa.array([45.5, None, 12.0], pa.float64()),
                "clicks": pa.array([3, 1, None], pa.int32()),
            }
        ),
        path,
    )
    report = ws.ingest("events", path)

    assert (report.rows_read, report.rows_loaded, report.rows_rejected) == (3, 3, 0)
    events = ws.warehouse.tables["events"]
    assert events.rows == 3
    assert events.files == ["events/batch-000001.parquet"]
    assert events.columns == {
        "user_id": "string",
        "ts": "timestamp",
        "event": "string",
        "business_line": "string",
        "price": "float",
        "clicks": "int",
    }
    assert events.max_time == "2026-10-03 23:59:59"
    assert table_rows(ws, "events", "ts") == [
        {
            "user_id": "u2",
            "ts": dt.datetime(2026, 10, 1, 8, 0),
            "event": "search",
            "business_line": "new_house",
            "price": None,
            "clicks": 1,
        },
        {
            "user_id": "u1",
            "ts": dt.datetime(2026, 10, 2, 9, 30),
            "event": "view",
            "business_line": "used_car",
            "price": 45.5,
            "clicks": 3,
        },
        {
            "user_id": "u1",
            "ts": dt.datetime(2026, 10, 3, 23, 59, 59),
            "event": "view",
            "business_line": None,
            "price": 12.0,
            "clicks": None,
        },
    ]


def test_jsonl_nested_properties_become_columns(ws: Workspace, tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "events.jsonl",
        [
            {
                "user_id": "u1",
                "ts": "2026-10-31T10:00:00+08:00",
                "event": "view",
                "properties": {"page": "home", "n": 1},
            },
            {
                "user_id": "u2",
                "ts": "2026-10-31T12:00:00Z",
                "event": "click",
                "properties": {"n": 2},
            },
            {
                "user_id": "u1",
                "ts": "2026-10-31 15:00:00",
                "event": "view",
                "properties": {"page": "cart"},
            },
        ],
    )
    report = ws.ingest("events", path)

    assert (report.rows_read, report.rows_loaded, report.rows_rejected) == (3, 3, 0)
    columns = ws.warehouse.tables["events"].columns
    assert columns == {
        "user_id": "string",
        "ts": "timestamp",
        "event": "string",
        "page": "string",
        "n": "int",
    }
    assert "properties" not in columns
    rows = table_rows(ws, "events", "ts")
    assert [(r["user_id"], r["ts"], r["event"], r["page"], r["n"]) for r in rows] == [
        ("u1", dt.datetime(2026, 10, 31, 2, 0), "view", "home", 1),
        ("u2", dt.datetime(2026, 10, 31, 12, 0), "click", None, 2),
        ("u1", dt.datetime(2026, 10, 31, 15, 0), "view", "cart", None),
    ]


def test_explicit_format_overrides_the_suffix(ws: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path / "export.dat", "user_id,age\nu1,30\nu2,40\n")
    with pytest.raises(IngestError) as err:
        ws.ingest("users", path)
    assert err.value.where == str(path)
    assert "'.dat'" in err.value.message
    assert ws.warehouse.version == "none"

    report = ws.ingest("users", path, fmt="csv")
    assert report.rows_loaded == 2
    assert [u["user_id"] for u in users_parquet(ws)] == ["u1", "u2"]


def test_orders_items_from_parquet_are_lists(ws: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "orders.parquet"
    pq.write_table(
        pa.table(
            {
                "order_id": ["o1", "o2"],
                "user_id": ["u1", "u2"],
                "ts": ["2026-10-01 10:00:00", "2026-10-02 10:00:00"],
                "amount": [10.0, 20.5],
                "items": pa.array([["lipstick", "mascara"], []], pa.list_(pa.string())),
            }
        ),
        path,
    )
    assert ws.ingest("orders", path).rows_loaded == 2
    assert ws.warehouse.tables["orders"].columns["items"] == "list<string>"
    rows = table_rows(ws, "orders", "order_id")
    assert [r["items"] for r in rows] == [["lipstick", "mascara"], []]


def test_orders_items_from_csv_are_split_on_pipes(ws: Workspace, tmp_path: Path) -> None:
    path = write(
        tmp_path / "orders.csv",
        "order_id,user_id,ts,amount,items\n"
        "o1,u1,2026-10-01 10:00:00,10,lipstick| mascara |\n"
        "o2,u2,2026-10-02 10:00:00,20.5,\n",
    )
    assert ws.ingest("orders", path).rows_loaded == 2
    assert ws.warehouse.tables["orders"].columns["items"] == "list<string>"
    rows = table_rows(ws, "orders", "order_id")
    # an empty CSV cell is a missing list (NULL); CSV cannot tell "no items" from "unknown"
    assert [r["items"] for r in rows] == [["lipstick", "mascara"], None]
