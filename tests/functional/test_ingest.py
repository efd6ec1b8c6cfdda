"""Data ingestion through the Python API and the CLI, against real files and a real warehouse.

Covers the three input formats, column mapping, whole-file errors, row validation under
``on_error="reject"`` and ``"fail"``, unknown users, idempotent re-ingest, user and order
upserts, several files in one ingest, type consistency across batches, time zones, the
workspace write lock and atomicity when an ingest is killed half-way.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import portrait
from portrait.errors import BusyError, IngestError, InputError, PortraitError
from portrait.workspace import Workspace

PORTRAIT = Path(sys.executable).parent / "portrait"
REJECT_COLUMNS = ["_file", "_row", "_column", "_error"]


# -- helpers -------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _no_portrait_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings from the developer's environment must not leak into these tests."""
    for name in list(os.environ):
        if name.startswith("PORTRAIT_"):
            monkeypatch.delenv(name)


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return portrait.init(tmp_path / "ws")


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def write_jsonl(path: Path, records: Sequence[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def table_rows(ws: Workspace, table: str, order_by: str) -> list[dict[str, Any]]:
    """Every row of ``table`` in the live warehouse version, as dicts."""
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


def users_parquet(ws: Workspace) -> list[dict[str, Any]]:
    """The users file, read directly from ``warehouse/<version>/users/users.parquet``."""
    snap = ws.warehouse
    assert snap.path is not None
    rows: list[dict[str, Any]] = (
        pq.read_table(snap.path / "users/users.parquet").sort_by("uid").to_pylist()
    )
    return rows


def read_rejects(path: str | None) -> tuple[list[str], list[dict[str, str]]]:
    assert path is not None
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
        return list(reader.fieldnames or []), rows


def numbered_versions(ws: Workspace) -> list[str]:
    return sorted(p.name for p in ws.layout.warehouse_dir.iterdir() if p.name.isdigit())


def staging_dirs(ws: Workspace) -> list[Path]:
    return sorted(ws.layout.warehouse_dir.glob(".staging-*"))


def assert_untouched(ws: Workspace, version: str, rows: dict[str, int]) -> None:
    """The live version, the version folders and every table's row count are as before."""
    snap = portrait.open(ws.root).warehouse
    assert snap.version == version
    assert {n: t.rows for n, t in snap.tables.items()} == rows
    expected = [] if version == "none" else [f"{i:06d}" for i in range(1, int(version) + 1)]
    assert numbered_versions(ws) == expected
    assert staging_dirs(ws) == []


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTRAIT_")}
    env.update({"COLUMNS": "250", "NO_COLOR": "1"})
    env.pop("FORCE_COLOR", None)
    return subprocess.run(
        [str(PORTRAIT), *args], capture_output=True, text=True, check=False, env=env, timeout=60
    )


def set_timezone(ws: Workspace, zone: str) -> Workspace:
    """Write ``data.timezone`` into portrait.toml and reopen the workspace."""
    text = ws.layout.config_file.read_text(encoding="utf-8")
    assert '# timezone = "UTC"' in text  # init writes the defaults commented out
    ws.layout.config_file.write_text(
        text.replace('# timezone = "UTC"', f'timezone = "{zone}"'), encoding="utf-8"
    )
    reopened = portrait.open(ws.root)
    assert reopened.config["data.timezone"] == zone
    return reopened


USERS_CSV = """user_id,age,city,registered_at
u1,34,Beijing,2024-01-05 10:00:00
u2,28,Shanghai,2025-03-01T08:00:00+08:00
u3,,Beijing,
"""


# -- formats -------------------------------------------------------------------------------


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


def test_bad_arguments_are_input_errors(ws: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path / "u.csv", "user_id\nu1\n")
    with pytest.raises(InputError, match="unknown table 'people'"):
        ws.ingest("people", path)
    with pytest.raises(InputError, match="unknown format 'xlsx'"):
        ws.ingest("users", path, fmt="xlsx")
    with pytest.raises(InputError, match="unknown --on-error 'skip'"):
        ws.ingest("users", path, on_error="skip")
    with pytest.raises(IngestError, match="file not found") as err:
        ws.ingest("users", tmp_path / "nope.csv")
    assert err.value.where == str(tmp_path / "nope.csv")
    assert_untouched(ws, "none", {})


def test_unreadable_csv_is_a_whole_file_error(ws: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path / "ragged.csv", "user_id,age\nu1,1,2,3\nu2\n")
    with pytest.raises(IngestError, match="cannot read the file as csv") as err:
        ws.ingest("users", path)
    assert err.value.where == str(path)
    assert str(err.value).startswith(f"{path}: ")
    assert_untouched(ws, "none", {})


def test_reserved_uid_column_is_refused(ws: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path / "u.csv", "user_id,uid\nu1,7\n")
    with pytest.raises(IngestError, match="'uid' is reserved") as err:
        ws.ingest("users", path)
    assert err.value.where == str(path)
    assert_untouched(ws, "none", {})


# -- mapping and required columns ----------------------------------------------------------


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


# -- row validation ------------------------------------------------------------------------


@dataclass(frozen=True)
class BadRowCase:
    """A file with exactly one bad row, and what its problem must say."""

    table: str
    name: str
    text: str
    row: int
    column: str
    words: tuple[str, ...]  # in the problem text
    raw: dict[str, str]  # original values kept in the rejects file
    key: str
    loaded: list[str]  # key values of the rows that are loaded

    @property
    def prefix(self) -> str:
        return f"{self.name} row {self.row}, column '{self.column}': "


BAD_ROWS = [
    BadRowCase(
        "events",
        "events.csv",
        "user_id,ts,event\n"
        "u1,2026-10-01 10:00:00,view\n"
        "u2,abc,view\n"
        "u3,2026-10-02 10:00:00,click\n",
        2,
        "ts",
        ("abc", "timestamp"),
        {"user_id": "u2", "ts": "abc", "event": "view"},
        "user_id",
        ["u1", "u3"],
    ),
    BadRowCase(
        "orders",
        "orders.csv",
        "order_id,user_id,ts,amount\n"
        "o1,u1,2026-10-01 10:00:00,12.5\n"
        "o2,u1,2026-10-01 11:00:00,7\n"
        "o3,u2,2026-10-01 12:00:00,twelve\n",
        3,
        "amount",
        ("twelve", "number"),
        {"order_id": "o3", "amount": "twelve"},
        "order_id",
        ["o1", "o2"],
    ),
    BadRowCase(
        "events",
        "events.csv",
        "user_id,ts,event\nu1,2026-10-01 10:00:00,\nu2,2026-10-01 11:00:00,view\n",
        1,
        "event",
        ("missing value",),
        {"user_id": "u1", "event": ""},
        "user_id",
        ["u2"],
    ),
    BadRowCase(
        "users",
        "users.csv",
        "user_id,age\nu1,30\n,40\nu3,50\n",
        2,
        "user_id",
        ("missing value",),
        {"user_id": "", "age": "40"},
        "user_id",
        ["u1", "u3"],
    ),
    BadRowCase(
        "users",
        "users.csv",
        "user_id,age\nu1,30\nu2,40\nu1,50\n",
        3,
        "user_id",
        ("duplicate", "u1", "users.csv row 1"),  # names the first row of that id
        {"user_id": "u1", "age": "50"},
        "user_id",
        ["u1", "u2"],
    ),
]
BAD_ROW_IDS = ["bad-timestamp", "text-amount", "empty-event", "empty-user-id", "duplicate-user"]


@pytest.mark.parametrize("case", BAD_ROWS, ids=BAD_ROW_IDS)
def test_bad_row_is_rejected_and_valid_rows_load(
    ws: Workspace, tmp_path: Path, case: BadRowCase
) -> None:
    path = write(tmp_path / case.name, case.text)
    rows = case.text.count("\n") - 1

    report = ws.ingest(case.table, path, on_error="reject")

    assert (report.rows_read, report.rows_loaded, report.rows_rejected) == (rows, rows - 1, 1)
    assert len(report.problems) == 1
    problem = report.problems[0]
    assert problem.startswith(case.prefix), problem
    for word in case.words:
        assert word in problem[len(case.prefix) :], problem

    header, rejects = read_rejects(report.rejects_file)
    rejects_file = Path(report.rejects_file or "")
    assert rejects_file.parent == ws.layout.rejects_dir
    assert rejects_file.suffix == ".csv"
    assert list(ws.layout.rejects_dir.iterdir()) == [rejects_file]
    assert header[:4] == REJECT_COLUMNS
    assert len(rejects) == 1
    reject = rejects[0]
    assert (reject["_file"], reject["_row"], reject["_column"]) == (
        case.name,
        str(case.row),
        case.column,
    )
    assert problem.endswith(reject["_error"])
    for column, value in case.raw.items():
        assert reject[column] == value

    assert report.warehouse_version == "000001"
    assert ws.warehouse.tables[case.table].rows == rows - 1
    loaded = table_rows(ws, case.table, case.key)
    assert [r[case.key] for r in loaded] == case.loaded


def test_duplicate_user_keeps_the_first_row(ws: Workspace, tmp_path: Path) -> None:
    ws.ingest("users", write(tmp_path / "users.csv", "user_id,age\nu1,30\nu2,40\nu1,50\n"))
    assert [(u["uid"], u["user_id"], u["age"]) for u in users_parquet(ws)] == [
        (0, "u1", 30),
        (1, "u2", 40),
    ]


@pytest.mark.parametrize("case", BAD_ROWS, ids=BAD_ROW_IDS)
def test_bad_row_under_fail_loads_nothing(ws: Workspace, tmp_path: Path, case: BadRowCase) -> None:
    ws.ingest("users", write(tmp_path / "seed.csv", "user_id\nz1\n"))
    path = write(tmp_path / case.name, case.text)

    with pytest.raises(IngestError) as err:
        ws.ingest(case.table, path, on_error="fail")

    text = str(err.value)
    assert case.prefix in text
    line = next(li for li in text.splitlines() if case.prefix in li)
    for word in case.words:
        assert word in line
    assert "nothing was loaded" in text
    assert err.value.hint is not None
    assert "--on-error reject" in err.value.hint
    assert_untouched(ws, "000001", {"users": 1})
    assert list(ws.layout.rejects_dir.iterdir()) == []


def test_on_error_default_comes_from_the_setting(tmp_path: Path) -> None:
    portrait.init(tmp_path / "ws")
    ws = portrait.open(tmp_path / "ws", overrides={"ingest.on_error": "fail"})
    path = write(tmp_path / "users.csv", "user_id,age\nu1,30\nu1,31\n")
    with pytest.raises(IngestError, match="nothing was loaded"):
        ws.ingest("users", path)
    assert_untouched(ws, "none", {})
    assert ws.ingest("users", path, on_error="reject").rows_loaded == 1


def test_fail_error_names_the_file(ws: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path / "users.csv", "user_id,age\nu1,30\nu1,31\n")
    with pytest.raises(IngestError) as err:
        ws.ingest("users", path, on_error="fail")
    assert err.value.where == str(path)
    assert str(err.value).startswith(f"{path}: ")


def test_batch_record_names_the_file(ws: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path / "users.csv", "user_id\nu1\n")
    ws.ingest("users", path)
    assert ws.warehouse.tables["users"].batches[-1]["file"] == str(path)


def test_problems_list_five_examples_and_count_the_rest(ws: Workspace, tmp_path: Path) -> None:
    lines = ["user_id,ts,event"] + [f"u{i},bad{i},view" for i in range(1, 8)]
    lines += ["u8,2026-10-01 00:00:00,view"]
    path = write(tmp_path / "events.csv", "\n".join(lines) + "\n")

    with pytest.raises(IngestError) as err:
        ws.ingest("events", path, on_error="fail")
    assert "7 of 8 rows are invalid" in str(err.value)
    assert "and 2 more" in str(err.value)

    report = ws.ingest("events", path, on_error="reject")
    assert (report.rows_read, report.rows_loaded, report.rows_rejected) == (8, 1, 7)
    assert [p.split(":")[0] for p in report.problems] == [
        f"events.csv row {i}, column 'ts'" for i in range(1, 6)
    ]
    _, rejects = read_rejects(report.rejects_file)
    assert [r["_row"] for r in rejects] == [str(i) for i in range(1, 8)]


def test_all_rows_invalid_is_an_error_even_under_reject(ws: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path / "events.csv", "user_id,ts,event\nu1,nope,view\nu2,never,view\n")
    with pytest.raises(IngestError, match="all 2 rows are invalid") as err:
        ws.ingest("events", path, on_error="reject")
    assert "events.csv row 1, column 'ts'" in str(err.value)
    assert "events.csv row 2, column 'ts'" in str(err.value)
    assert_untouched(ws, "none", {})


def test_jsonl_problems_name_the_physical_line(ws: Workspace, tmp_path: Path) -> None:
    good = {"user_id": "u1", "ts": "2026-10-31 10:00:00", "event": "view"}
    bad = {"user_id": "u2", "ts": "bad", "event": "view"}
    path = write(tmp_path / "e.jsonl", f"{json.dumps(good)}\n\n{json.dumps(bad)}\n")
    report = ws.ingest("events", path)
    assert report.problems[0].startswith("e.jsonl line 3, column 'ts'")


def test_jsonl_problems_use_line_numbers(ws: Workspace, tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "e.jsonl",
        [
            {"user_id": "u1", "ts": "2026-10-31 10:00:00", "event": "view"},
            {"user_id": "u2", "ts": "bad", "event": "view"},
            {"user_id": "", "ts": "2026-10-31 10:00:00", "event": "view"},
        ],
    )
    report = ws.ingest("events", path)
    assert report.problems == [
        "e.jsonl line 2, column 'ts': cannot read bad as a timestamp",
        "e.jsonl line 3, column 'user_id': missing value",
    ]
    _, rejects = read_rejects(report.rejects_file)
    assert [(r["_row"], r["_column"]) for r in rejects] == [("2", "ts"), ("3", "user_id")]


# -- unknown users -------------------------------------------------------------------------


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


# -- orders --------------------------------------------------------------------------------


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


# -- idempotence and upserts ---------------------------------------------------------------


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


# -- types across batches ------------------------------------------------------------------


def test_text_in_a_column_loaded_as_int_is_an_error(ws: Workspace, tmp_path: Path) -> None:
    ws.ingest("events", write(tmp_path / "e1.csv", "user_id,ts,event,n\nu1,2026-10-01,a,1\n"))
    assert ws.warehouse.tables["events"].columns["n"] == "int"
    path = write(
        tmp_path / "e2.csv", "user_id,ts,event,n\nu1,2026-10-02,a,abc\nu2,2026-10-02,a,x\n"
    )

    with pytest.raises(IngestError) as err:
        ws.ingest("events", path)

    assert err.value.where == str(path)
    assert "column 'n'" in str(err.value)
    assert "whole number" in str(err.value)
    assert_untouched(ws, "000001", {"events": 1})
    assert ws.warehouse.tables["events"].columns["n"] == "int"


def test_a_column_keeps_its_first_type(ws: Workspace, tmp_path: Path) -> None:
    ws.ingest("events", write(tmp_path / "e1.csv", "user_id,ts,event,page\nu1,2026-10-01,a,home\n"))
    ws.ingest("events", write(tmp_path / "e2.csv", "user_id,ts,event,page\nu1,2026-10-02,a,42\n"))
    assert ws.warehouse.tables["events"].columns["page"] == "string"
    assert [r["page"] for r in table_rows(ws, "events", "ts")] == ["home", "42"]


def test_decimal_in_an_int_column_is_rejected_not_rounded(ws: Workspace, tmp_path: Path) -> None:
    ws.ingest("events", write(tmp_path / "e1.csv", "user_id,ts,event,n\nu1,2026-10-01,a,1\n"))
    path = write(
        tmp_path / "e2.csv", "user_id,ts,event,n\nu1,2026-10-02,a,2.5\nu2,2026-10-03,a,4\n"
    )
    report = ws.ingest("events", path)
    assert (report.rows_loaded, report.rows_rejected) == (1, 1)
    assert report.problems[0].startswith("e2.csv row 1, column 'n': ")
    assert "2.5" in report.problems[0]
    assert [r["n"] for r in table_rows(ws, "events", "ts")] == [1, 4]


# -- time zones ----------------------------------------------------------------------------


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


# -- the write lock ------------------------------------------------------------------------

HOLD_LOCK = """
import sys
from pathlib import Path
from portrait.store.versions import workspace_lock
with workspace_lock(Path(sys.argv[1])):
    print("locked", flush=True)
    sys.stdin.read()
"""


def test_a_second_writer_is_refused_while_the_lock_is_held(ws: Workspace, tmp_path: Path) -> None:
    ws.ingest("users", write(tmp_path / "seed.csv", "user_id\nz1\n"))
    path = write(tmp_path / "users.csv", "user_id\nu1\n")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(ws.layout.lock_file)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"

        with pytest.raises(BusyError) as err:
            ws.ingest("users", path)
        assert "another ingest or build" in err.value.message
        assert err.value.exit_code == 1

        result = cli("ingest", "users", str(path), "-w", str(ws.root), "-q")
        assert result.returncode == 1
        assert result.stderr.startswith("error: ")
        assert "another ingest or build" in result.stderr
        assert "Traceback" not in result.stderr
        assert_untouched(ws, "000001", {"users": 1})
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)
    assert holder.returncode == 0

    report = ws.ingest("users", path)
    assert (report.new_users, report.warehouse_version) == (1, "000002")


# -- atomicity under interruption ----------------------------------------------------------

KILL_ROWS = 1_500_000
INGEST_SCRIPT = "import sys, portrait; portrait.open(sys.argv[1]).ingest('events', sys.argv[2])"


@pytest.mark.slow
def test_an_ingest_killed_half_way_changes_nothing(ws: Workspace, tmp_path: Path) -> None:
    ws.ingest("users", write(tmp_path / "users.csv", "user_id,age\nu1,30\nu2,40\n"))
    ws.ingest("events", write(tmp_path / "e1.csv", "user_id,ts,event\nu1,2026-10-01,a\n"))
    before = ws.warehouse
    assert before.version == "000002"
    rows_before = {n: t.rows for n, t in before.tables.items()}
    assert rows_before == {"users": 2, "events": 1}

    big = tmp_path / "big.parquet"
    con = duckdb.connect()
    try:
        con.execute(
            "COPY (SELECT 'u' || (i % 50000) AS user_id, "
            "TIMESTAMP '2026-01-01' + to_seconds((i * 7919) % 20000000) AS ts, "
            "'ev' || (i % 7) AS event, md5(CAST(i AS VARCHAR)) AS token "
            f"FROM range({KILL_ROWS}) t(i)) TO '{big}' (FORMAT parquet)"
        )
    finally:
        con.close()

    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTRAIT_")}
    env["PORTRAIT_ENGINE_THREADS"] = "1"  # a slower write, and a core left for this process
    proc = subprocess.Popen(
        [sys.executable, "-c", INGEST_SCRIPT, str(ws.root), str(big)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    staging: list[Path] = []
    try:
        deadline = time.monotonic() + 90
        while not staging and proc.poll() is None and time.monotonic() < deadline:
            staging = staging_dirs(ws)
            time.sleep(0.001)
    finally:
        proc.kill()
        _, stderr = proc.communicate(timeout=30)

    assert staging, f"no staging folder seen (exit {proc.returncode}): {stderr[-2000:]}"
    assert proc.returncode == -signal.SIGKILL
    assert staging_dirs(ws), "the killed ingest should have left its staging folder"

    after = portrait.open(ws.root).warehouse
    assert after.version == "000002"
    assert (ws.layout.warehouse_dir / "CURRENT").read_text(encoding="utf-8").strip() == "000002"
    assert {n: t.rows for n, t in after.tables.items()} == rows_before
    assert after.tables == before.tables
    assert numbered_versions(ws) == ["000001", "000002"]
    assert [r["event"] for r in table_rows(ws, "events", "ts")] == ["a"]

    report = ws.ingest("events", write(tmp_path / "e2.csv", "user_id,ts,event\nu2,2026-10-02,b\n"))
    assert report.warehouse_version == "000003"
    assert staging_dirs(ws) == []
    assert {n: t.rows for n, t in ws.warehouse.tables.items()} == {"users": 2, "events": 2}
    assert [r["event"] for r in table_rows(ws, "events", "ts")] == ["a", "b"]


# -- the command line ----------------------------------------------------------------------


def test_cli_ingest_with_mapping_and_json_report(ws: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path / "members.csv", "member_no,age\nm1,30\nm2,40\n")
    args = ["ingest", "users", str(path), "-w", str(ws.root), "--map", "user_id=member_no"]

    result = cli(*args, "--format", "json", "-q")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["table"] == "users"
    assert report["file"] == str(path)
    assert (report["rows_read"], report["rows_loaded"], report["new_users"]) == (2, 2, 2)
    assert (report["already_ingested"], report["warehouse_version"]) == (False, "000001")
    assert [u["user_id"] for u in users_parquet(ws)] == ["m1", "m2"]

    again = cli(*args, "--format", "json", "-q")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["already_ingested"] is True
    assert ws.warehouse.version == "000001"


def test_cli_file_format_option(ws: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path / "export.dat", "user_id,age\nu1,30\n")
    result = cli(
        "ingest", "users", str(path), "-w", str(ws.root), "--file-format", "csv", "-f", "json"
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["rows_loaded"] == 1


def test_cli_several_files(ws: Workspace, tmp_path: Path) -> None:
    a = write(tmp_path / "a.csv", "user_id\nu1\nu2\n")
    b = write(tmp_path / "b.csv", "user_id\nu2\nu3\n")
    result = cli("ingest", "users", str(a), str(b), "-w", str(ws.root), "-f", "json", "-q")
    assert result.returncode == 0, result.stderr
    reports = json.loads(result.stdout)
    assert [(r["file"], r["rows_loaded"], r["new_users"]) for r in reports] == [
        (str(a), 2, 2),
        (str(b), 2, 1),
    ]
    assert [(u["uid"], u["user_id"]) for u in users_parquet(ws)] == [
        (0, "u1"),
        (1, "u2"),
        (2, "u3"),
    ]


def test_cli_reports_rejected_rows(ws: Workspace, tmp_path: Path) -> None:
    path = write(
        tmp_path / "events.csv",
        "user_id,ts,event\nu1,2026-10-01 00:00:00,view\nu2,abc,view\n",
    )
    result = cli("ingest", "events", str(path), "-w", str(ws.root), "-q")
    assert result.returncode == 0, result.stderr
    assert "rejected events.csv row 2, column 'ts'" in result.stderr
    rejects = list(ws.layout.rejects_dir.iterdir())
    assert len(rejects) == 1
    assert f"rejected rows written to {rejects[0]}" in result.stderr
    assert ws.warehouse.tables["events"].rows == 1


@pytest.mark.parametrize(
    ("files", "text", "options", "expected"),
    [
        pytest.param(
            ["users.csv"],
            "name,age\nu1,3\n",
            [],
            ["users.csv: missing required column 'user_id'", "--map user_id="],
            id="missing-column",
        ),
        pytest.param(
            ["users.csv"],
            "member_no,age\nm1,3\n",
            ["--map", "user_id=member_id"],
            ["the file has no column 'member_id'", "member_no, age"],
            id="map-to-missing-column",
        ),
        pytest.param(
            ["users.csv"],
            "user_id\nu1\n",
            ["--map", "user_id"],
            ["bad column mapping 'user_id'", "TARGET=SOURCE"],
            id="bad-map-syntax",
        ),
        pytest.param(
            ["absent.csv"],
            "",
            [],
            ["absent.csv: file not found"],
            id="file-not-found",
        ),
        pytest.param(
            ["users.csv"],
            "user_id,age\nu1,30\nu1,31\n",
            ["--on-error", "fail"],
            ["nothing was loaded", "users.csv row 2, column 'user_id'", "--on-error reject"],
            id="on-error-fail",
        ),
        pytest.param(
            ["users.csv"],
            "user_id\nu1\n",
            ["--file-format", "xlsx"],
            ["unknown format 'xlsx'"],
            id="unknown-file-format",
        ),
    ],
)
def test_cli_bad_input_exits_2_without_traceback(
    ws: Workspace,
    tmp_path: Path,
    files: list[str],
    text: str,
    options: list[str],
    expected: list[str],
) -> None:
    if text:
        write(tmp_path / files[0], text)
    paths = [str(tmp_path / f) for f in files]
    result = cli("ingest", "users", *paths, "-w", str(ws.root), "-q", *options)

    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: ")
    assert "Traceback" not in result.stderr
    for piece in expected:
        assert piece in result.stderr
    assert result.stdout == ""
    assert_untouched(ws, "none", {})


def test_cli_unknown_table_exits_2(ws: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path / "u.csv", "user_id\nu1\n")
    result = cli("ingest", "people", str(path), "-w", str(ws.root), "-q")
    assert result.returncode == 2
    assert result.stderr.startswith("error: unknown table 'people'")
    assert "Traceback" not in result.stderr


def test_cli_outside_a_workspace_exits_2(tmp_path: Path) -> None:
    path = write(tmp_path / "u.csv", "user_id\nu1\n")
    result = cli("ingest", "users", str(path), "-w", str(tmp_path / "nowhere"), "-q")
    assert result.returncode == 2
    assert result.stderr.startswith("error: ")
    assert "not a Portrait workspace" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_unknown_suffix_hint_names_the_file_format_option(
    ws: Workspace, tmp_path: Path
) -> None:
    path = write(tmp_path / "export.dat", "user_id\nu1\n")
    result = cli("ingest", "users", str(path), "-w", str(ws.root), "-q")
    assert result.returncode == 2
    assert "'.dat'" in result.stderr
    assert "--file-format" in result.stderr


def test_errors_are_portrait_errors() -> None:
    assert issubclass(IngestError, InputError)
    assert issubclass(InputError, PortraitError)
    assert issubclass(BusyError, PortraitError)
    assert IngestError("x").exit_code == 2


def test_header_only_file_changes_nothing(ws: Workspace, tmp_path: Path) -> None:
    first = write(tmp_path / "users.csv", "user_id,age\nu1,30\n")
    ws.ingest("users", first)
    version = ws.warehouse.version
    empty = write(tmp_path / "empty.csv", "user_id,age\n")
    report = ws.ingest("users", empty)
    assert report.rows_read == 0 and report.rows_loaded == 0
    assert ws.warehouse.version == version == report.warehouse_version
    assert ws.warehouse.tables["users"].version == 1
