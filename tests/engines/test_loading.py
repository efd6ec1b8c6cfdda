"""The file-loading capability (:class:`~portrait.engine.FileLoading`, what ingest needs):
CSV, Parquet and JSON lines staged with their file and line, types inferred, each row checked,
good rows written (appended, or merged by key with dense ids), rejects written, unknown users.

The engine's session reads input timestamps without an offset in Asia/Shanghai (UTC+8, see
``conftest.engine``) and stores them in UTC."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from portrait.engine import Engine, FileLoading, Staging, open_engine
from portrait.engine import settings_from_config as engine_settings
from portrait.engine.loading import (
    MAX_LINE_BYTES,
    FileFormat,
    IncompatibleFiles,
    InputFile,
    RowProblem,
    StoredTable,
    UnknownUsers,
    UnreadableFile,
)
from portrait.model.schema import TABLE_SPECS
from portrait.store.timebounds import TimeBounds
from tests.engines.conftest import engine_config

BOUNDS = TimeBounds(dt.datetime(1970, 1, 1), dt.datetime(2100, 1, 1))
EVENTS, USERS = TABLE_SPECS["events"], TABLE_SPECS["users"]

EVENTS_CSV = """user_id,ts,event,price,n
u1,2026-10-01 08:00:00, view ,12.5,1
,2026-10-01 09:00:00,view,3,2
u2,not a time,view,4,3
u3,2026-10-02 10:00:00+02:00,buy,7,4
u1,2200-01-01 00:00:00,view,1,5
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def stage(
    loading: FileLoading, fmt: FileFormat, *paths: Path, keep: set[str] | None = None
) -> Staging:
    load = loading.staging(fmt, keep or set())
    for path in paths:
        load.read(InputFile(path, path.name, "\t" if path.suffix == ".tsv" else ","))
    return load


@pytest.fixture
def sessions(
    engine_type: str, loading: FileLoading, tmp_path: Path
) -> Iterator[Callable[[], FileLoading]]:
    """Further sessions of the engine (one load per session, as ingest does)."""
    opened: list[Engine] = []

    def new() -> FileLoading:
        config = engine_config(engine_type, **{"data.timezone": "Asia/Shanghai"})
        session = open_engine(engine_settings(config, tmp_path / f"spill{len(opened)}"))
        opened.append(session)
        assert isinstance(session, FileLoading)
        return session

    yield new
    for session in opened:
        session.close()


def test_csv_rows_are_checked_one_by_one(loading: FileLoading, tmp_path: Path) -> None:
    load = stage(loading, "csv", write(tmp_path / "events.csv", EVENTS_CSV))
    raw = load.combine()
    assert list(raw) == ["user_id", "ts", "event", "price", "n"]
    assert load.infer_types(["price", "n"], from_text=True) == {"price": "float", "n": "int"}
    types = {
        "user_id": "string",
        "ts": "timestamp",
        "event": "string",
        "price": "float",
        "n": "int",
    }
    check = load.check_rows(EVENTS, types, BOUNDS, trim=True, examples=2)
    assert (check.rows, check.rejected) == (5, 3)
    assert check.problems == [  # the first two, in file order
        RowProblem("events.csv", 2, "user_id", "missing value"),
        RowProblem("events.csv", 3, "ts", "cannot read not a time as a timestamp"),
    ]
    written = load.append_rows(tmp_path / "events.parquet", time_column="ts")
    assert (written.rows, written.max_time) == (2, "2026-10-02 08:00:00")
    stored = pq.read_table(tmp_path / "events.parquet")
    assert stored.column_names == ["user_id", "ts", "event", "price", "n"]
    assert stored.to_pylist() == [
        # no offset: Asia/Shanghai → UTC; an offset is honoured; CSV text is trimmed
        {
            "user_id": "u1",
            "ts": dt.datetime(2026, 10, 1, 0, 0),
            "event": "view",
            "price": 12.5,
            "n": 1,
        },
        {
            "user_id": "u3",
            "ts": dt.datetime(2026, 10, 2, 8, 0),
            "event": "buy",
            "price": 7.0,
            "n": 4,
        },
    ]


def test_rejects_keep_the_rows_as_written(loading: FileLoading, tmp_path: Path) -> None:
    load = stage(loading, "csv", write(tmp_path / "events.csv", EVENTS_CSV))
    load.combine()
    types = {
        "user_id": "string",
        "ts": "timestamp",
        "event": "string",
        "price": "float",
        "n": "int",
    }
    load.check_rows(EVENTS, types, BOUNDS, trim=True, examples=5)
    load.write_rejects(tmp_path / "rejects.csv")
    with open(tmp_path / "rejects.csv", newline="", encoding="utf-8") as fh:
        rejects = list(csv.DictReader(fh))
    assert [(r["_file"], r["_row"], r["_column"]) for r in rejects] == [
        ("events.csv", "2", "user_id"),
        ("events.csv", "3", "ts"),
        ("events.csv", "5", "ts"),
    ]
    assert rejects[2]["_error"] == (
        "2200-01-01 00:00:00 is outside the accepted time range [1970-01-01, 2100-01-01) "
        "(settings ingest.min_time and ingest.max_time)"
    )
    assert {k: rejects[0][k] for k in ("user_id", "ts", "event", "price", "n")} == {
        "user_id": "",
        "ts": "2026-10-01 09:00:00",
        "event": "view",
        "price": "3",
        "n": "2",
    }


def test_parquet_keeps_its_types(loading: FileLoading, tmp_path: Path) -> None:
    table = pa.table(
        {
            "user_id": ["u1", "u2"],
            "ts": pa.array(
                [dt.datetime(2026, 10, 1, 8), dt.datetime(2026, 10, 1, 9)], pa.timestamp("us")
            ),
            "event": ["view", None],
            "amount": pa.array([3, 4], pa.int64()),
        }
    )
    pq.write_table(table, tmp_path / "events.parquet")
    load = stage(loading, "parquet", tmp_path / "events.parquet")
    assert list(load.combine()) == ["user_id", "ts", "event", "amount"]
    assert load.infer_types(["amount"], from_text=False) == {"amount": "int"}
    types = {"user_id": "string", "ts": "timestamp", "event": "string", "amount": "int"}
    check = load.check_rows(EVENTS, types, BOUNDS, trim=False, examples=5)
    assert (check.rows, check.rejected) == (2, 1)
    assert check.problems == [RowProblem("events.parquet", 2, "event", "missing value")]
    load.append_rows(tmp_path / "out.parquet", time_column="ts")
    # a naive timestamp type is in the workspace time zone too
    assert pq.read_table(tmp_path / "out.parquet").column("ts").to_pylist() == [
        dt.datetime(2026, 10, 1, 0, 0)
    ]


def test_json_lines_point_at_lines(loading: FileLoading, tmp_path: Path) -> None:
    path = write(
        tmp_path / "users.jsonl",
        '{"user_id": "u1", "age": 30, "props": {"city": "北京"}}\n'
        "\n"  # blank lines are skipped but counted
        '{"user_id": "u2", "age": "x"}\n'
        "[1, 2]\n"
        '{"user_id": "u3", "age": 7, "props": {"city": "上海"}}\n',
    )
    load = stage(loading, "jsonl", path, keep=set(USERS.known()))
    assert list(load.combine()) == ["user_id", "age", "city"]  # props flattened
    types = {"user_id": "string", **load.infer_types(["age", "city"], from_text=False)}
    assert types == {"user_id": "string", "age": "int", "city": "string"}
    check = load.check_rows(USERS, types, BOUNDS, trim=False, examples=5)
    assert (check.rows, check.rejected) == (4, 2)
    assert check.problems == [
        RowProblem("users.jsonl", 3, "age", "cannot read x as a whole number"),
        RowProblem("users.jsonl", 4, "", "expected a JSON object, found a JSON array"),
    ]


def test_several_files_and_renamed_columns(loading: FileLoading, tmp_path: Path) -> None:
    a = write(tmp_path / "a.tsv", "member\tage\nm1\t30\n")
    b = write(tmp_path / "b.tsv", "age\tmember\tcity\n41\tm2\t北京\n")
    load = stage(loading, "csv", a, b)
    assert set(load.combine()) == {"member", "age", "city"}
    assert list(load.rename([("member", "user_id"), ("age", "age")])) == ["user_id", "age"]
    check = load.check_rows(
        USERS, {"user_id": "string", "age": "int"}, BOUNDS, trim=True, examples=5
    )
    assert (check.rows, check.rejected) == (2, 0)
    written = load.merge_rows(
        tmp_path / "users.parquet",
        key="user_id",
        columns=["user_id", "age"],
        stored=None,
        first_new_id=0,
        time_column=None,
        bounds=BOUNDS,
    )
    assert (written.rows, written.max_uid, written.max_time) == (2, 1, None)
    assert pq.read_table(tmp_path / "users.parquet").to_pylist() == [
        {"uid": 0, "user_id": "m1", "age": 30},
        {"uid": 1, "user_id": "m2", "age": 41},
    ]


def test_a_key_repeated_in_the_files_is_a_bad_row(loading: FileLoading, tmp_path: Path) -> None:
    load = stage(loading, "csv", write(tmp_path / "users.csv", "user_id,age\nu1,3\n u1 ,4\n"))
    load.combine()
    check = load.check_rows(
        USERS, {"user_id": "string", "age": "int"}, BOUNDS, trim=True, examples=5
    )
    assert check.problems == [
        RowProblem("users.csv", 2, "user_id", "duplicate user_id u1 (first at users.csv row 1)")
    ]


def test_merging_by_key_keeps_dense_ids(
    loading: FileLoading, sessions: Callable[[], FileLoading], tmp_path: Path
) -> None:
    first = stage(
        loading, "csv", write(tmp_path / "u1.csv", "user_id,age,city\nu1,30,北京\nu2,20,上海\n")
    )
    first.combine()
    types = {"user_id": "string", "age": "int", "city": "string"}
    first.check_rows(USERS, types, BOUNDS, trim=True, examples=5)
    stored = first.merge_rows(
        tmp_path / "v1.parquet",
        key="user_id",
        columns=list(types),
        stored=None,
        first_new_id=0,
        time_column=None,
        bounds=BOUNDS,
    )
    assert (stored.rows, stored.max_uid, stored.replaced) == (2, 1, 0)

    second = stage(sessions(), "csv", write(tmp_path / "u2.csv", "user_id,age\nu3,50\nu2,21\n"))
    second.combine()
    second.check_rows(USERS, {"user_id": "string", "age": "int"}, BOUNDS, trim=True, examples=5)
    merged = second.merge_rows(
        tmp_path / "v2.parquet",
        key="user_id",
        columns=["user_id", "age", "city"],
        stored=StoredTable(tmp_path / "v1.parquet", ["uid", *types]),
        first_new_id=2,
        time_column=None,
        bounds=BOUNDS,
    )
    assert (merged.rows, merged.max_uid, merged.replaced) == (3, 2, 1)
    assert pq.read_table(tmp_path / "v2.parquet").to_pylist() == [
        {"uid": 0, "user_id": "u1", "age": 30, "city": "北京"},  # not in the file: kept
        {"uid": 1, "user_id": "u2", "age": 21, "city": "上海"},  # replaced; city kept
        {"uid": 2, "user_id": "u3", "age": 50, "city": None},  # new: the next id
    ]


def test_unknown_users(loading: FileLoading, tmp_path: Path) -> None:
    pq.write_table(pa.table({"uid": [0], "user_id": ["u1"]}), tmp_path / "users.parquet")
    events = "user_id,ts,event\nu1,2026-10-01,view\nu9,2026-10-01,view\nu9,2026-10-02,view\nu8,2026-10-02,view\n"
    load = stage(loading, "csv", write(tmp_path / "events.csv", events))
    load.combine()
    types = {"user_id": "string", "ts": "timestamp", "event": "string"}
    load.check_rows(EVENTS, types, BOUNDS, trim=True, examples=5)
    assert load.unknown_users(tmp_path / "users.parquet", 1) == UnknownUsers(3, 2, ["u8"])
    assert load.unknown_users(None, 5) == UnknownUsers(4, 3, ["u1", "u8", "u9"])


def test_an_unreadable_file_says_what_went_wrong(
    sessions: Callable[[], FileLoading], tmp_path: Path
) -> None:
    bad_bytes = tmp_path / "bad.csv"
    bad_bytes.write_bytes(b"user_id,city\nu1,\xff\xfe\n")
    with pytest.raises(UnreadableFile) as info:
        sessions().staging("csv", set()).read(InputFile(bad_bytes, "bad.csv"))
    assert info.value.path == bad_bytes and info.value.detail
    long = write(tmp_path / "long.csv", "user_id,note\nu1," + "x" * (MAX_LINE_BYTES + 10) + "\n")
    with pytest.raises(UnreadableFile) as info:
        sessions().staging("csv", set()).read(InputFile(long, "long.csv"))
    assert info.value.problem == "line_too_long"
    not_json = write(tmp_path / "bad.jsonl", '{"a": 1}\n{"a": \n')
    with pytest.raises(UnreadableFile) as info:
        sessions().staging("jsonl", set()).read(InputFile(not_json, "bad.jsonl"))
    assert info.value.problem == "not_json"


def test_files_whose_columns_do_not_combine(loading: FileLoading, tmp_path: Path) -> None:
    pq.write_table(pa.table({"user_id": ["u1"], "a": [1]}), tmp_path / "a.parquet")
    pq.write_table(pa.table({"user_id": ["u2"], "a": [{"x": 1}]}), tmp_path / "b.parquet")
    load = stage(loading, "parquet", tmp_path / "a.parquet", tmp_path / "b.parquet")
    with pytest.raises(IncompatibleFiles):
        load.combine()
