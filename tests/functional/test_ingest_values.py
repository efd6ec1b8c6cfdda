"""Ingest judges every value on its own: one value of the wrong type, an impossible offset, a
non-finite number, a NUL character or a stray tab affects its row only, never the file.

JSON lines used to be typed per file by DuckDB's ``read_json``: one numeric ``user_id`` among
string ones stored every id as JSON text (``"u001"`` → ``"\\"u001\\""``), one list-valued
``event`` did the same to every event, one numeric ``ts`` rejected every row.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from portrait.errors import IngestError
from portrait.workspace import Workspace

pytestmark = pytest.mark.usefixtures("no_portrait_environment")


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def write_jsonl(path: Path, records: Sequence[Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def rows(ws: Workspace, table: str, order_by: str) -> list[dict[str, Any]]:
    snap = ws.warehouse
    assert snap.path is not None
    files = [str(snap.path / f) for f in snap.tables[table].files]
    con = duckdb.connect()
    try:
        cur = con.execute(
            f"SELECT * FROM read_parquet(?, union_by_name = true) ORDER BY {order_by}", [files]
        )
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    finally:
        con.close()


def rejects(path: str | None) -> list[dict[str, str]]:
    assert path is not None
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def event(
    user: Any = "u1", ts: Any = "2026-10-01 10:00:00", name: Any = "view", **more: Any
) -> Any:
    return {"user_id": user, "ts": ts, "event": name, **more}


# -- A: JSON lines, one row at a time -------------------------------------------------------


def test_one_numeric_user_id_rejects_its_row_and_keeps_the_other_ids(
    ws: Workspace, tmp_path: Path
) -> None:
    path = write_jsonl(
        tmp_path / "users.jsonl",
        [{"user_id": "u001", "age": 30}, {"user_id": 5, "age": 40}, {"user_id": "u003"}],
    )
    report = ws.ingest("users", path)

    assert (report.rows_loaded, report.rows_rejected) == (2, 1)
    assert report.problems == [
        "users.jsonl line 2, column 'user_id': expected text, found a JSON number: 5"
    ]
    assert [(r["user_id"], r["age"]) for r in rows(ws, "users", "uid")] == [
        ("u001", 30),
        ("u003", None),
    ]
    (reject,) = rejects(report.rejects_file)
    assert (reject["_file"], reject["_row"], reject["_column"]) == ("users.jsonl", "2", "user_id")
    assert (reject["user_id"], reject["age"]) == ("5", "40")


def test_one_list_valued_event_leaves_the_other_event_names_alone(
    ws: Workspace, tmp_path: Path
) -> None:
    path = write_jsonl(
        tmp_path / "e.jsonl",
        [event("u1", name="view"), event("u2", name="click"), event("u3", name=["a", "b"])],
    )
    report = ws.ingest("events", path)

    assert (report.rows_loaded, report.rows_rejected) == (2, 1)
    assert report.problems == [
        'e.jsonl line 3, column \'event\': expected text, found a JSON array: ["a","b"]'
    ]
    assert [(r["user_id"], r["event"]) for r in rows(ws, "events", "user_id")] == [
        ("u1", "view"),
        ("u2", "click"),
    ]


def test_one_numeric_ts_rejects_only_its_row(ws: Workspace, tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "e.jsonl",
        [event("u1"), event("u2", ts=1_790_000_000), event("u3", ts="2026-10-02T08:00:00+08:00")],
    )
    report = ws.ingest("events", path)

    assert (report.rows_loaded, report.rows_rejected) == (2, 1)
    assert report.problems == [
        "e.jsonl line 2, column 'ts': expected a timestamp, found a JSON number: 1790000000"
    ]
    assert [(r["user_id"], r["ts"]) for r in rows(ws, "events", "user_id")] == [
        ("u1", dt.datetime(2026, 10, 1, 10, 0)),
        ("u3", dt.datetime(2026, 10, 2, 0, 0)),
    ]


def test_a_new_property_takes_the_type_most_values_have(ws: Workspace, tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "e.jsonl",
        [
            event("u1", properties={"n": 1, "price": 2, "page": "home", "vip": True}),
            event("u2", properties={"n": 2, "price": 2.5, "page": "cart", "vip": False}),
            event("u3", properties={"n": "three", "price": 3}),
            event("u4", properties={"n": 4, "page": 7}),
        ],
    )
    report = ws.ingest("events", path)

    columns = ws.warehouse.tables["events"].columns
    assert (columns["n"], columns["price"], columns["page"], columns["vip"]) == (
        "int",
        "float",
        "string",
        "bool",
    )
    assert report.problems == [
        "e.jsonl line 3, column 'n': cannot read three as a whole number",
        "e.jsonl line 4, column 'page': expected text, found a JSON number: 7",
    ]
    assert [
        (r["user_id"], r["n"], r["price"], r["page"], r["vip"])
        for r in rows(ws, "events", "user_id")
    ] == [
        ("u1", 1, 2.0, "home", True),
        ("u2", 2, 2.5, "cart", False),
    ]


def test_json_text_is_read_like_csv_text_in_typed_columns(ws: Workspace, tmp_path: Path) -> None:
    """A number or truth value written as a JSON string is read as CSV text would be."""
    path = write_jsonl(
        tmp_path / "orders.jsonl",
        [
            {"order_id": "o1", "user_id": "u1", "ts": "2026-10-01", "amount": "12.50"},
            {"order_id": "o2", "user_id": "u1", "ts": "2026-10-02", "amount": 3, "items": "a|b"},
            {"order_id": "o3", "user_id": "u1", "ts": "2026-10-03", "amount": 1, "items": ["c"]},
            {"order_id": "o4", "user_id": "u1", "ts": "2026-10-04", "amount": True},
        ],
    )
    report = ws.ingest("orders", path)
    assert report.problems == [
        "orders.jsonl line 4, column 'amount': expected a number, found a JSON true/false: true"
    ]
    assert [(r["order_id"], r["amount"], r["items"]) for r in rows(ws, "orders", "order_id")] == [
        ("o1", 12.5, None),
        ("o2", 3.0, ["a", "b"]),
        ("o3", 1.0, ["c"]),
    ]


def test_records_that_are_not_objects_are_rejected_rows(ws: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    good = json.dumps(event("u1"))
    path.write_text(
        f'{good}\n[1, 2]\n{{"user_id": "u2", "user_id": "u3", "ts": "2026-10-01", "event": "a"}}\n'
        f"{json.dumps(event('u4', properties='none'))}\n",
        encoding="utf-8",
    )
    report = ws.ingest("events", path)
    assert report.problems == [
        "e.jsonl line 2: expected a JSON object, found a JSON array",
        "e.jsonl line 3, column 'user_id': the key appears more than once in the record",
    ]
    assert report.rows_loaded == 2  # u1, and u4 (its "properties" is an ordinary text field here)


def test_properties_that_are_not_an_object_reject_the_row(ws: Workspace, tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "e.jsonl",
        [
            event("u1", properties={"page": "home"}),
            event("u2", properties={"page": "cart"}),
            event("u3", properties="cart"),
        ],
    )
    report = ws.ingest("events", path)
    assert report.problems == [
        "e.jsonl line 3, column 'properties': expected an object of properties, found a JSON string"
    ]
    assert [r["page"] for r in rows(ws, "events", "user_id")] == ["home", "cart"]


# -- C: values that used to be accepted silently ------------------------------------------


@pytest.mark.parametrize(
    ("ts", "accepted"),
    [
        ("2026-10-01T10:00:00+25:00", False),
        ("2026-10-01T10:00:00+05:75", False),
        ("2026-10-01T10:00:00-13:00", False),
        ("2026-10-01T10:00:00+2500", False),
        ("2026-10-01T10:00:00+14:00", True),
        ("2026-10-01T10:00:00-12:00", True),
        ("2026-10-01T10:00:00+0530", True),
        ("2026-10-01T10:00:00.5+08", True),
    ],
)
def test_impossible_time_zone_offsets_are_rejected(
    ws: Workspace, tmp_path: Path, ts: str, accepted: bool
) -> None:
    path = write(tmp_path / "e.csv", f"user_id,ts,event\nu1,{ts},view\nu2,2026-10-01,view\n")
    report = ws.ingest("events", path)
    if accepted:
        assert report.rows_rejected == 0, report.problems
        return
    assert report.rows_rejected == 1
    (problem,) = report.problems
    assert problem.startswith(f"e.csv row 1, column 'ts': the time zone offset {ts[19:]} ")
    assert "-12:00 to +14:00" in problem


def test_non_finite_numbers_are_rejected_in_every_format(ws: Workspace, tmp_path: Path) -> None:
    csv_path = write(
        tmp_path / "o.csv",
        "order_id,user_id,ts,amount\n"
        "o1,u1,2026-10-01,1e400\no2,u1,2026-10-01,inf\no3,u1,2026-10-01,nan\n"
        "o4,u1,2026-10-01,-Infinity\no5,u1,2026-10-01,12.5\n",
    )
    report = ws.ingest("orders", csv_path)
    assert [p.split(": ")[0] for p in report.problems] == [
        f"o.csv row {i}, column 'amount'" for i in (1, 2, 3, 4)
    ]
    assert all("is not a finite number" in p for p in report.problems)
    assert report.problems[0].startswith("o.csv row 1, column 'amount': 1e400 is not a finite")

    parquet = tmp_path / "o.parquet"
    pq.write_table(
        pa.table(
            {
                "order_id": ["p1", "p2", "p3"],
                "user_id": ["u1", "u1", "u1"],
                "ts": pa.array([dt.datetime(2026, 10, 1)] * 3, pa.timestamp("us")),
                "amount": pa.array([math.nan, math.inf, 2.0], pa.float64()),
            }
        ),
        parquet,
    )
    assert ws.ingest("orders", parquet).rows_rejected == 2
    json_path = tmp_path / "o.jsonl"
    json_path.write_text(
        '{"order_id": "j1", "user_id": "u1", "ts": "2026-10-01", "amount": 1e400}\n'
        '{"order_id": "j2", "user_id": "u1", "ts": "2026-10-01", "amount": 1}\n',
        encoding="utf-8",
    )
    assert ws.ingest("orders", json_path).rows_rejected == 1

    amounts = [r["amount"] for r in rows(ws, "orders", "order_id")]
    assert amounts == [1.0, 12.5, 2.0]
    assert math.isfinite(sum(amounts))


def test_nul_characters_in_text_are_rejected(ws: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path / "e.csv", "user_id,ts,event\nu1,2026-10-01,vi\0ew\nu2,2026-10-01,view\n")
    report = ws.ingest("events", path)
    assert report.problems == [
        "e.csv row 1, column 'event': the text contains a NUL character (U+0000) at position 3"
    ]
    json_path = tmp_path / "e.jsonl"
    json_path.write_text(
        json.dumps(event("u3", name="a\u0000b")) + "\n" + json.dumps(event("u4")) + "\n"
    )
    assert ws.ingest("events", json_path).rows_rejected == 1
    assert [r["event"] for r in rows(ws, "events", "user_id")] == ["view", "view"]


def test_csv_values_are_trimmed_of_all_ascii_whitespace(ws: Workspace, tmp_path: Path) -> None:
    path = write(
        tmp_path / "u.csv", 'user_id,age\n" u001 ",1\n"u002\t",2\nu003\t,3\n"\tu004\r\n",4\n'
    )
    assert ws.ingest("users", path).new_users == 4
    again = write(tmp_path / "u2.csv", "user_id,age\nu001,10\nu002,20\n")
    report = ws.ingest("users", again)
    assert (report.new_users, report.updated_rows) == (0, 2)  # no phantom users
    assert [(r["user_id"], r["age"]) for r in rows(ws, "users", "uid")] == [
        ("u001", 10),
        ("u002", 20),
        ("u003", 3),
        ("u004", 4),
    ]


def test_ids_that_differ_only_in_blanks_are_duplicates(ws: Workspace, tmp_path: Path) -> None:
    report = ws.ingest("users", write(tmp_path / "u.csv", 'user_id\nu1\n" u1"\n'))
    assert report.problems == [
        "u.csv row 2, column 'user_id': duplicate user_id u1 (first at u.csv row 1)"
    ]
    assert [r["user_id"] for r in rows(ws, "users", "uid")] == ["u1"]


def test_json_text_is_kept_as_written(ws: Workspace, tmp_path: Path) -> None:
    """Typed formats (JSON, Parquet) carry exact values: blanks in them are data."""
    ws.ingest("users", write_jsonl(tmp_path / "u.jsonl", [{"user_id": " u1 "}, {"user_id": "u1"}]))
    assert [r["user_id"] for r in rows(ws, "users", "uid")] == [" u1 ", "u1"]


def test_whole_numbers_beyond_64_bits(ws: Workspace, tmp_path: Path) -> None:
    big = "12345678901234567890123456"
    # a new CSV column of long numbers stays text: every digit is kept
    ws.ingest("users", write(tmp_path / "u.csv", f"user_id,card,n\nu1,{big},1\nu2,5,2\n"))
    columns = ws.warehouse.tables["users"].columns
    assert (columns["card"], columns["n"]) == ("string", "int")
    assert [r["card"] for r in rows(ws, "users", "uid")] == [big, "5"]

    # in a whole-number column it is a bad row that says why
    report = ws.ingest("users", write(tmp_path / "u2.csv", f"user_id,n\nu3,{big}\nu4,4\n"))
    assert report.problems == [
        f"u2.csv row 1, column 'n': {big} is too large for a whole number "
        "(-9223372036854775808 to 9223372036854775807)"
    ]
    json_path = tmp_path / "u3.jsonl"
    json_path.write_text(f'{{"user_id": "u5", "n": {big}}}\n{{"user_id": "u6", "n": 6}}\n')
    report = ws.ingest("users", json_path)
    assert report.problems == [
        f"u3.jsonl line 1, column 'n': {big} is too large for a whole number "
        "(-9223372036854775808 to 9223372036854775807)"
    ]
    assert [r["n"] for r in rows(ws, "users", "uid")] == [1, 2, 4, 6]


def test_nested_objects_are_stored_as_json_text(ws: Workspace, tmp_path: Path) -> None:
    car = {"brand": "比亚迪", "price": 12.5, "tags": ["ev"]}
    path = write_jsonl(
        tmp_path / "e.jsonl",
        [event("u1", properties={"car": car, "seen": [{"id": 1}, "x"]})],
    )
    ws.ingest("events", path)
    assert ws.warehouse.tables["events"].columns["car"] == "string"
    (row,) = rows(ws, "events", "user_id")
    assert json.loads(row["car"]) == car
    assert [row["seen"][0], row["seen"][1]] == ['{"id":1}', "x"]


def test_a_flattened_property_colliding_with_a_column_is_refused(
    ws: Workspace, tmp_path: Path
) -> None:
    path = write_jsonl(
        tmp_path / "e.jsonl", [event("u1", car_price=3, properties={"car_price": 5})]
    )
    with pytest.raises(IngestError) as err:
        ws.ingest("events", path)
    assert err.value.where == str(path)
    assert "'car_price'" in err.value.message
    assert "'properties.car_price'" in err.value.message
    assert ws.warehouse.version == "none"

    other = write_jsonl(tmp_path / "e2.jsonl", [event("u1", properties={"Page": 1, "page": 2})])
    with pytest.raises(IngestError, match=r"'properties\.Page' and 'properties\.page'"):
        ws.ingest("events", other)


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("user_id,ts,event,a,", "column 5 of the header has no name"),
        ("user_id,,ts,event", "column 2 of the header has no name"),
        ("user_id,ts,event,a,a", "columns 4 and 5 of the header are both named 'a'"),
        ("user_id,ts,event,Page,page", "columns 4 and 5 of the header are both named 'Page'"),
    ],
)
def test_empty_or_repeated_csv_header_names_are_refused(
    ws: Workspace, tmp_path: Path, header: str, message: str
) -> None:
    path = write(tmp_path / "e.csv", f"{header}\nu1,2026-10-01,view,1,2\n")
    with pytest.raises(IngestError) as err:
        ws.ingest("events", path)
    assert err.value.message.startswith(message)
    assert err.value.where == str(path)
    assert ws.warehouse.version == "none"
