"""Tag definitions → SQLGlot queries: the plan of a build whose tags are all SQL kinds, and a
standalone query per tag for the catalog.

Each SQL kind compiles in a module of its own (:mod:`.users` for ``attribute`` and ``bucket``,
:mod:`.metrics`, :mod:`.preferences`, :mod:`.rfm`, :mod:`.derived`) to the parts of
:mod:`.parts`; :mod:`.assembly` joins them. The build (``portrait.profile.computers``) reaches the
same functions through its per-kind computers; :func:`plan_queries` is the all-SQL plan in one
call, as the build makes it when no tag is computed outside SQL.

Windows end on the as-of date (:mod:`.windows`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import sqlglot
from sqlglot import exp

from portrait.compile.assembly import BuildQueries, derived_select, stage_queries, typed
from portrait.compile.derived import derived_parts, derived_value
from portrait.compile.metrics import (
    DISTINCT_AGGS,
    aggregate_query,
    distinct_count_query,
    metric_parts,
)
from portrait.compile.parts import TAG_TABLE_KEY, BuildContext, SqlPart, sql_type
from portrait.compile.preferences import preference_parts, preference_query, property_type
from portrait.compile.rfm import rfm_parts, rfm_query, rfm_scores_query
from portrait.compile.users import attribute_parts, bucket_expression, bucket_parts, users_query
from portrait.compile.windows import window_bounds
from portrait.errors import InputError
from portrait.model.schema import Schema
from portrait.model.tags import (
    AnyTag,
    AttributeTag,
    BucketTag,
    DerivedTag,
    MetricTag,
    PreferenceTag,
    RfmTag,
    TagSet,
)

__all__ = [  # the names callers imported from this module before it was split
    "DISTINCT_AGGS",
    "SQL_KIND_PARTS",
    "TAG_TABLE_KEY",
    "BuildQueries",
    "aggregate_query",
    "bucket_expression",
    "check_dialect",
    "derived_select",
    "distinct_count_query",
    "plan_queries",
    "preference_query",
    "rfm_query",
    "rfm_scores_query",
    "sql_parts",
    "sql_type",
    "tag_sql",
    "users_query",
    "window_bounds",
]

#: What each SQL kind compiles to.
SQL_KIND_PARTS: Mapping[str, Callable[[Sequence[Any], BuildContext], list[SqlPart]]] = {
    "attribute": attribute_parts,
    "bucket": bucket_parts,
    "metric": metric_parts,
    "preference": preference_parts,
    "rfm": rfm_parts,
    "derived": derived_parts,
}


def sql_parts(tags: TagSet, names: Iterable[str], context: BuildContext) -> list[SqlPart]:
    """The parts computing the tags ``names`` (all of SQL kinds), kind by kind."""
    wanted = set(names)
    by_kind: dict[str, list[AnyTag]] = {}
    for name in tags:
        if name in wanted:
            by_kind.setdefault(tags[name].kind, []).append(tags[name])
    return [
        part for kind, group in by_kind.items() for part in SQL_KIND_PARTS[kind](group, context)
    ]


def plan_queries(
    tags: TagSet,
    compute: set[str],
    as_of: dt.date,
    schema: Schema,
    *,
    reuse_relation: str | None = None,
    timezone: str = "UTC",
) -> BuildQueries:
    """Queries computing the tags in ``compute``; the others are read from ``reuse_relation``
    (the previous profile, keyed by uid). The assembly query yields ``uid, user_id, <tags>`` in
    declaration order.
    """
    context = BuildContext(tags, as_of, schema, timezone)
    return stage_queries(
        sql_parts(tags, compute, context),
        tags,
        reused=[n for n in tags if n not in compute],
        reuse_relation=reuse_relation,
    )


def check_dialect(dialect: str) -> None:
    """Raise a clear error for a SQL dialect SQLGlot does not know."""
    try:
        sqlglot.Dialect.get_or_raise(dialect)
    except ValueError:
        raise InputError(
            f"unknown SQL dialect '{dialect}'",
            hint="e.g. duckdb, spark, postgres, clickhouse, bigquery, snowflake, trino",
        ) from None


def tag_sql(
    tags: TagSet,
    name: str,
    as_of: dt.date,
    schema: Schema,
    dialect: str = "duckdb",
    timezone: str = "UTC",
) -> str:
    """A standalone query computing one tag as ``(user_id, <tag>)``, for the catalog and docs."""
    check_dialect(dialect)
    tag = tags[name]
    if isinstance(tag, AttributeTag) or (isinstance(tag, BucketTag) and tag.source not in tags):
        query = users_query([tag])
        query.set("expressions", query.expressions[1:])
    elif isinstance(tag, MetricTag):
        inner = aggregate_query(tag.from_, [tag], as_of, timezone, set(schema.get(tag.from_, {})))
        query = (
            exp.select(
                exp.column("user_id", table="u"),
                typed(tag, exp.column(tag.name, table="a", quoted=True)),
            )
            .from_(exp.to_table("users").as_("u"))
            .join(
                exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier("a"))),
                using=["user_id"],
                join_type="left",
            )
        )
    elif isinstance(tag, PreferenceTag):
        query = preference_query(
            tag, as_of, property_type(schema, tag), timezone, set(schema.get(tag.from_, {}))
        )
    elif isinstance(tag, RfmTag):
        query = rfm_query(tag, as_of)
    elif isinstance(tag, BucketTag):
        query = exp.select(
            "user_id",
            exp.alias_(
                bucket_expression(tag, exp.column(tag.source, quoted=True)), tag.name, quoted=True
            ),
        ).from_("profile")
    else:
        assert isinstance(tag, DerivedTag)
        query = exp.select(
            "user_id", exp.alias_(derived_value(tag, tags), tag.name, quoted=True)
        ).from_("profile")
    return query.sql(dialect=dialect, pretty=True)
