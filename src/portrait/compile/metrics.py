"""The ``metric`` kind: windowed aggregates over an event table.

Every metric on a table is one ``agg(...) FILTER (WHERE ...)`` column of one GROUP BY over it
(one scan, like hand-written SQL), except the distinct counts, which get a query of their own.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlglot import exp

from portrait.compile.conditions import where_predicate
from portrait.compile.parts import TAG_TABLE_KEY, BuildContext, SqlPart, TagRelation
from portrait.compile.virtual import substitute_virtual
from portrait.compile.windows import window_predicate
from portrait.model.tags import MetricTag

#: Aggregates over distinct values, computed in a query of their own: inside the one-scan
#: aggregate a COUNT(DISTINCT …) FILTER makes DuckDB split the aggregate into an extra pass over
#: every row; counting distinct (user, value) pairs of the tag's own window is much cheaper.
DISTINCT_AGGS = frozenset({"distinct_days", "count_distinct"})


def _agg_expression(tag: MetricTag, as_of: dt.date) -> exp.Expr:
    of = exp.column(tag.of) if tag.of else None
    ts = exp.column("ts")
    match tag.agg:
        case "count":
            return exp.Count(this=exp.Star())
        case "sum":
            assert of is not None
            return exp.Sum(this=of)
        case "avg":
            assert of is not None
            return exp.Avg(this=of)
        case "min":
            assert of is not None
            return exp.Min(this=of)
        case "max":
            assert of is not None
            return exp.Max(this=of)
        case "count_distinct":
            assert of is not None
            return exp.Count(this=exp.Distinct(expressions=[of]))
        case "distinct_days":
            return exp.Count(this=exp.Distinct(expressions=[exp.cast(ts, "DATE")]))
        case "first_time":
            return exp.Min(this=ts)
        case "last_time":
            return exp.Max(this=ts)
        case "days_since_last":
            return exp.DateDiff(
                this=exp.cast(exp.Literal.string(as_of.isoformat()), "DATE"),
                expression=exp.cast(exp.Max(this=ts), "DATE"),
                unit=exp.var("DAY"),
            )
    raise AssertionError(tag.agg)


def aggregate_query(
    table: str,
    tags: Sequence[MetricTag],
    as_of: dt.date,
    timezone: str = "UTC",
    columns_of_table: set[str] | None = None,
) -> exp.Select:
    """One scan of ``table`` computing every metric tag as a filtered aggregate per user."""
    windows = [t.window_days for t in tags]
    widest = None if any(w is None for w in windows) else max(w for w in windows if w is not None)
    columns: list[exp.Expr] = [exp.column(TAG_TABLE_KEY)]
    for tag in tags:
        agg = _agg_expression(tag, as_of)
        conditions = []
        if tag.window_days != widest:
            conditions.append(window_predicate(tag.window_days, as_of))
        predicate = where_predicate(dict(tag.where), tag.name)
        if predicate is not None:
            conditions.append(predicate)
        if conditions:
            condition = exp.and_(*conditions) if len(conditions) > 1 else conditions[0]
            if isinstance(agg, exp.DateDiff):  # FILTER goes on the aggregate inside
                inner = agg.expression.this
                agg.expression.set(
                    "this", exp.Filter(this=inner, expression=exp.Where(this=condition))
                )
            else:
                agg = exp.Filter(this=agg, expression=exp.Where(this=condition))
        columns.append(exp.alias_(agg, tag.name, quoted=True))
    query = (
        exp.select(*columns)
        .from_(table)
        .where(window_predicate(widest, as_of))
        .group_by(exp.column(TAG_TABLE_KEY))
    )
    result = substitute_virtual(query, table, timezone, columns_of_table)
    assert isinstance(result, exp.Select)
    return result


def distinct_count_query(
    tag: MetricTag,
    as_of: dt.date,
    timezone: str = "UTC",
    columns_of_table: set[str] | None = None,
) -> exp.Select:
    """``count(DISTINCT day or value)`` of one metric tag per user, from distinct pairs."""
    key: exp.Expr = exp.cast(exp.column("ts"), "DATE")
    if tag.agg == "count_distinct":
        assert tag.of is not None
        key = exp.column(tag.of)
    conditions = [window_predicate(tag.window_days, as_of)]
    predicate = where_predicate(dict(tag.where), tag.name)
    if predicate is not None:
        conditions.append(predicate)
    if tag.agg == "count_distinct":  # ts is required, so a day is never missing
        conditions.append(exp.not_(exp.Is(this=key.copy(), expression=exp.Null())))
    pairs = substitute_virtual(
        exp.select(exp.column(TAG_TABLE_KEY), exp.alias_(key, "k"))
        .distinct()
        .from_(tag.from_)
        .where(exp.and_(*conditions)),
        tag.from_,
        timezone,
        columns_of_table,
    )
    return (
        exp.select(
            exp.column(TAG_TABLE_KEY), exp.alias_(exp.Count(this=exp.Star()), tag.name, quoted=True)
        )
        .from_(exp.Subquery(this=pairs, alias=exp.TableAlias(this=exp.to_identifier("pairs"))))
        .group_by(exp.column(TAG_TABLE_KEY))
    )


def metric_parts(tags: Sequence[MetricTag], context: BuildContext) -> list[SqlPart]:
    """One shared scan per table (tables in the order of their first tag), then a relation of
    its own per distinct count."""
    shared: dict[str, list[MetricTag]] = {}
    own: list[MetricTag] = []
    for tag in tags:
        if tag.agg in DISTINCT_AGGS:
            own.append(tag)
        else:
            shared.setdefault(tag.from_, []).append(tag)
    parts: list[SqlPart] = [
        TagRelation(
            key=table,
            shared=True,
            query=aggregate_query(
                table, group, context.as_of, context.timezone, context.columns_of(table)
            ),
            tags=tuple(group),
        )
        for table, group in shared.items()
    ]
    for tag in own:
        query = distinct_count_query(
            tag, context.as_of, context.timezone, context.columns_of(tag.from_)
        )
        parts.append(TagRelation(key=tag.name, shared=False, query=query, tags=(tag,)))
    return parts
