"""The :class:`~portrait.engine.Engine` methods: relations from Parquet and Arrow, views,
column value types, materialized tables, results as Arrow and Parquet, and UTC sessions."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import sqlglot
from sqlglot import exp

from portrait.engine import Engine


def write(path: Path, table: pa.Table) -> Path:
    pq.write_table(table, path)
    return path


def rows(engine: Engine, query: exp.Expr) -> list[dict[str, object]]:
    result: list[dict[str, object]] = engine.to_arrow(query).to_pylist()
    return result


EVERY_TYPE = pa.table(
    {
        "small": pa.array([1, 2], pa.int32()),
        "n": pa.array([10, None], pa.int64()),
        "x": pa.array([1.5, 2.0], pa.float64()),
        "flag": pa.array([True, False]),
        "day": pa.array([dt.date(2026, 10, 1), dt.date(2026, 10, 2)]),
        "ts": pa.array([dt.datetime(2026, 10, 1, 8, 30), None], pa.timestamp("us")),
        "name": pa.array(["北京", "a'b"]),
        "tags": pa.array([["a", "b"], []], pa.list_(pa.string())),
    }
)


def test_an_engine_is_what_its_type_says(engine: Engine, engine_type: str) -> None:
    assert isinstance(engine, Engine)
    assert engine.name == engine_type
    assert sqlglot.Dialect.get_or_raise(engine.dialect) is not None


def test_parquet_files_are_one_relation_unioned_by_name(engine: Engine, tmp_path: Path) -> None:
    a = write(tmp_path / "a.parquet", pa.table({"user_id": ["u1", "u2"], "n": [1, 2]}))
    b = write(tmp_path / "b.parquet", pa.table({"n": [3], "city": ["北京"], "user_id": ["u3"]}))
    engine.register_parquet("visits", [a, b])
    assert engine.columns("visits") == {"user_id": "string", "n": "int", "city": "string"}
    query = exp.select("user_id", "n", "city").from_("visits").order_by("n")
    assert rows(engine, query) == [
        {"user_id": "u1", "n": 1, "city": None},
        {"user_id": "u2", "n": 2, "city": None},
        {"user_id": "u3", "n": 3, "city": "北京"},
    ]
    engine.register_parquet("visits", [b])  # registering a name again replaces it
    assert rows(engine, exp.select(exp.func("COUNT", exp.Star()).as_("n")).from_("visits")) == [
        {"n": 1}
    ]


def test_columns_give_portrait_value_types(engine: Engine, tmp_path: Path) -> None:
    engine.register_parquet("every", [write(tmp_path / "every.parquet", EVERY_TYPE)])
    assert engine.columns("every") == {
        "small": "int",
        "n": "int",
        "x": "float",
        "flag": "bool",
        "day": "date",
        "ts": "timestamp",
        "name": "string",
        "tags": "list<string>",
    }


def test_values_come_back_as_they_were_stored(engine: Engine, tmp_path: Path) -> None:
    engine.register_parquet("every", [write(tmp_path / "every.parquet", EVERY_TYPE)])
    got = engine.to_arrow(exp.select("*").from_("every").order_by("small"))
    assert got.to_pylist() == EVERY_TYPE.to_pylist()


def test_arrow_tables_are_relations(engine: Engine) -> None:
    engine.register_arrow("members", pa.table({"segment": ["a", "a", "b"], "uid": [3, 1, 2]}))
    query = (
        exp.select("segment", exp.func("SUM", exp.column("uid")).as_("total"))
        .from_("members")
        .group_by("segment")
        .order_by("segment")
    )
    assert rows(engine, query) == [{"segment": "a", "total": 4}, {"segment": "b", "total": 2}]


def test_views_and_materialized_tables(engine: Engine) -> None:
    engine.register_arrow("people", pa.table({"uid": [0, 1, 2, 3], "age": [17, 30, None, 61]}))
    adults = exp.select("uid", "age").from_("people").where(exp.column("age") >= 18)
    engine.create_view("adults", adults)
    assert engine.columns("adults") == {"uid": "int", "age": "int"}
    assert [r["uid"] for r in rows(engine, exp.select("uid").from_("adults").order_by("uid"))] == [
        1,
        3,
    ]
    engine.create_view("adults", adults.where(exp.column("age") < 60))  # replaced
    assert rows(engine, exp.select("uid").from_("adults")) == [{"uid": 1}]
    assert engine.materialize("kept", exp.select("uid").from_("people").where("uid >= 1")) == 3
    assert engine.materialize("kept", exp.select("uid").from_("people").where("uid >= 3")) == 1
    assert rows(engine, exp.select("uid").from_("kept")) == [{"uid": 3}]
    assert engine.materialize("none", exp.select("uid").from_("people").where("uid > 9")) == 0


def test_results_go_to_one_parquet_file(engine: Engine, tmp_path: Path) -> None:
    engine.register_parquet("every", [write(tmp_path / "every.parquet", EVERY_TYPE)])
    target = tmp_path / "out.parquet"
    query = exp.select("small", "name", "tags", "ts").from_("every").order_by("small")
    assert engine.to_parquet(query, target) == 2
    written = pq.read_table(target)
    assert written.column_names == ["small", "name", "tags", "ts"]
    assert written.to_pylist() == EVERY_TYPE.select(["small", "name", "tags", "ts"]).to_pylist()


def test_queries_run_in_utc(engine: Engine, tmp_path: Path) -> None:
    """The session's time zone is UTC whatever the input files' zone (Asia/Shanghai here):
    stored times are naive UTC, and a zoned time becomes naive UTC, not local time."""
    zoned = exp.cast(exp.Literal.string("2026-01-01 08:00:00+08:00"), "TIMESTAMPTZ")
    assert rows(engine, exp.select(exp.cast(zoned, "TIMESTAMP").as_("t"))) == [
        {"t": dt.datetime(2026, 1, 1, 0, 0)}
    ]
    stored = pa.table({"ts": pa.array([dt.datetime(2026, 1, 1, 23, 30)], pa.timestamp("us"))})
    engine.register_parquet("times", [write(tmp_path / "times.parquet", stored)])
    day = exp.cast(exp.column("ts"), "DATE").as_("day")
    assert rows(engine, exp.select(day).from_("times")) == [{"day": dt.date(2026, 1, 1)}]
