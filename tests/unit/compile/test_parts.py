"""The parts the SQL kinds compile to: relation names, temp tables and step labels."""

from __future__ import annotations

import datetime as dt

from sqlglot import exp

from portrait.compile.parts import BuildContext, TagRelation, sql_type
from tests.unit.tag_files import SCHEMA, parse

TAGS = parse(
    "tags:\n"
    "  - {name: views, kind: metric, from: events, agg: count}\n"
    "  - {name: cars, kind: preference, from: events, property: event}\n"
)


def test_relation_names_and_labels() -> None:
    query = exp.select("user_id").from_("events")
    shared = TagRelation(key="events", shared=True, query=query, tags=(TAGS["views"],))
    own = TagRelation(key="cars", shared=False, query=query, tags=(TAGS["cars"],))
    assert (shared.name, shared.table, shared.label) == (
        "agg_events",
        "t_agg_events",
        "metric:events",
    )
    assert (own.name, own.table, own.label) == ("tag_cars", "t_tag_cars", "preference:cars")


def test_context_knows_stored_columns() -> None:
    context = BuildContext(TAGS, dt.date(2026, 10, 31), SCHEMA)
    assert context.columns_of("events") == {"user_id", "ts", "event", "price"}
    assert context.columns_of("orders") == set()
    assert context.timezone == "UTC"


def test_sql_types() -> None:
    assert sql_type("list<string>").sql("duckdb") == "TEXT[]"
    assert sql_type("int").sql("duckdb") == "BIGINT"
