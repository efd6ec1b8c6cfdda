"""Row validation: under ``on_error="reject"`` a bad row goes to a rejects file (with its file,
row, column and problem) and the valid rows load; under ``"fail"`` nothing loads. Problems name
the file, row (or JSON line) and column, five examples and a count of the rest."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

import portrait
from portrait.errors import IngestError
from portrait.workspace import Workspace
from tests.functional.ingest_helpers import (
    REJECT_COLUMNS,
    assert_untouched,
    read_rejects,
    table_rows,
    users_parquet,
    write,
    write_jsonl,
)

pytestmark = pytest.mark.usefixtures("no_portrait_environment")


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
