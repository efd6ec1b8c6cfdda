"""The assembly of a build stage: parts in declaration order, the joins, derived levels, and a
later stage joined with columns computed outside SQL (run on DuckDB)."""

from __future__ import annotations

import datetime as dt

import duckdb
import pyarrow as pa
from sqlglot import exp

from portrait.compile import plan_queries, validate_tags
from portrait.compile.assembly import (
    add_levels,
    join_columns,
    profile_query,
    split_parts,
    stage_queries,
)
from portrait.compile.parts import BuildContext, TagExpression, TagRelation, UsersColumn
from portrait.compile.tags import sql_parts
from portrait.model.tags import DerivedTag, TagSet
from tests.unit.tag_files import SCHEMA, parse

AS_OF = dt.date(2026, 10, 31)
TAGS = validate_tags(
    parse(
        "tags:\n"
        "  - {name: days, kind: metric, from: events, agg: distinct_days}\n"
        "  - {name: city, kind: attribute}\n"
        "  - {name: views, kind: metric, from: events, agg: count}\n"
        '  - {name: busy, kind: derived, type: bool, expr: "views > 1"}\n'
        "  - {name: views_band, kind: bucket, source: views, bins: [2]}\n"
        "  - {name: age_band, kind: bucket, source: age, bins: [30]}\n"
        '  - {name: busy_city, kind: derived, type: string, expr: "if(busy, city, null)"}\n'
    ),
    SCHEMA,
)
CONTEXT = BuildContext(TAGS, AS_OF, SCHEMA)


def test_parts_in_declaration_order_shared_scans_first() -> None:
    parts = sql_parts(TAGS, reversed(list(TAGS)), CONTEXT)
    users, relations, expressions = split_parts(reversed(parts), TAGS)
    assert [c.tag.name for c in users] == ["city", "age_band"]
    assert [r.name for r in relations] == ["agg_events", "tag_days"]
    assert [e.tag.name for e in expressions] == ["busy", "views_band", "busy_city"]


def test_stage_queries_is_the_plan() -> None:
    plan = stage_queries(sql_parts(TAGS, TAGS, CONTEXT), TAGS)
    expected = plan_queries(TAGS, set(TAGS), AS_OF, SCHEMA)
    assert plan.assemble is not None and expected.assemble is not None
    assert plan.assemble.sql() == expected.assemble.sql()
    assert [r.table for r in plan.relations] == ["t_agg_events", "t_tag_days"]
    assert plan.kinds == {
        "users": ["city", "age_band"],
        "agg_events": ["views"],
        "tag_days": ["days"],
    }


def test_levels_follow_dependencies() -> None:
    base = exp.select("*").from_("s")
    parts = sql_parts(TAGS, ["busy", "views_band", "busy_city"], CONTEXT)
    _, _, expressions = split_parts(parts, TAGS)
    sql = add_levels(base, expressions, TAGS).sql()
    # busy and views_band read level-0 tags: one SELECT; busy_city reads busy: the next one
    assert sql.index('AS "busy_city"') < sql.index('AS "busy"')  # the outer select comes first
    assert sql.count("SELECT *,") == 2
    assert add_levels(base, [], TAGS) is base


def test_not_final_stage_has_no_order_and_keeps_all_columns() -> None:
    plan = stage_queries(sql_parts(TAGS, ["city", "views"], CONTEXT), TAGS, final=False)
    assert plan.assemble is not None
    assert plan.assemble.args.get("order") is None
    assert plan.assemble.sql().startswith('SELECT u.uid, u.user_id, CAST("u"."city"')


def test_later_stage_joins_columns_computed_outside_sql() -> None:
    twice = DerivedTag(name="twice", expr="1", type="int")  # stands for a Python-computed tag
    tags = TagSet([*TAGS.values(), twice])
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE t_stage_0 AS SELECT * FROM (VALUES (1, 'b', 4), (0, 'a', 3)) s(uid, user_id, views)"
    )
    con.register("t_python_0", pa.table({"uid": [0, 1], "twice": [6.0, 8.0]}))
    joined = join_columns("t_stage_0", "t_python_0", [twice])
    plus = TagExpression(
        DerivedTag(name="plus", expr="twice + views", type="int", depends_on=("twice", "views")),
        exp.cast(exp.column("twice", quoted=True) + exp.column("views", quoted=True), "BIGINT"),
    )
    tags = TagSet([*tags.values(), plus.tag])
    query = profile_query(add_levels(joined, [plus], tags), ["views", "twice", "plus"])
    assert con.execute(query.sql("duckdb")).fetchall() == [(0, "a", 3, 6, 9), (1, "b", 4, 8, 12)]


def test_relation_and_column_parts_are_plain_values() -> None:
    (city,) = [p for p in sql_parts(TAGS, ["city"], CONTEXT) if isinstance(p, UsersColumn)]
    assert city == UsersColumn(TAGS["city"], exp.column("city"))
    (days,) = sql_parts(TAGS, ["days"], CONTEXT)
    assert isinstance(days, TagRelation) and days.table == "t_tag_days"
