"""The ``preference`` kind: the top values of a property per user, one ranked query per tag."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import sqlglot
from sqlglot import exp

from portrait.compile.conditions import where_predicate
from portrait.compile.parts import BuildContext, SqlPart, TagRelation
from portrait.compile.virtual import VIRTUAL_TYPES, substitute_virtual
from portrait.compile.windows import window_predicate
from portrait.model.schema import Schema
from portrait.model.tags import PreferenceTag

_PREFERENCE_TEMPLATE = """
SELECT user_id, ARRAY_AGG(v ORDER BY rn) AS :name FROM (
  SELECT user_id, v, ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY :ranking) AS rn FROM (
    SELECT user_id, v, COUNT(*) AS n, MAX(ts) AS last_ts FROM (
      SELECT user_id, ts, CAST(:value AS VARCHAR) AS v FROM :source WHERE :condition
    ) WHERE :keep GROUP BY user_id, v HAVING COUNT(*) >= :min_count
  )
) WHERE rn <= :top GROUP BY user_id
"""


def preference_query(
    tag: PreferenceTag,
    as_of: dt.date,
    property_type: str = "string",
    timezone: str = "UTC",
    columns_of_table: set[str] | None = None,
) -> exp.Select:
    """Top ``tag.top`` values of ``tag.property_name`` per user, most preferred first.

    Frequency ranks by count, then most recent, then value; recency by most recent, then count.
    A list-valued property (such as ``orders.items``) counts each element.
    """
    conditions = [window_predicate(tag.window_days, as_of)]
    predicate = where_predicate(dict(tag.where), tag.name)
    if predicate is not None:
        conditions.append(predicate)
    value: exp.Expr = exp.column(tag.property_name)
    is_list = property_type.startswith("list")
    is_virtual = tag.property_name in VIRTUAL_TYPES and tag.property_name not in (
        columns_of_table or set()
    )
    if not is_virtual:
        # Filter the stored column, not the computed value: DuckDB would push a filter on the
        # computed value into the scan and evaluate the expression twice.
        conditions.append(
            exp.not_(exp.Is(this=exp.column(tag.property_name), expression=exp.Null()))
        )
    if is_list:
        value = exp.Unnest(expressions=[value])
    ranking = "n DESC, last_ts DESC, v" if tag.by == "frequency" else "last_ts DESC, n DESC, v"
    value = substitute_virtual(value, tag.from_, timezone, columns_of_table)
    condition = substitute_virtual(exp.and_(*conditions), tag.from_, timezone, columns_of_table)
    template = sqlglot.parse_one(_PREFERENCE_TEMPLATE, read="duckdb")
    order = sqlglot.parse_one(f"SELECT 1 ORDER BY {ranking}", read="duckdb").args["order"]
    query = exp.replace_placeholders(
        template,
        name=exp.to_identifier(tag.name, quoted=True),
        value=value,
        source=exp.to_table(tag.from_),
        condition=condition,
        min_count=exp.convert(tag.min_count),
        keep=(
            exp.not_(exp.Is(this=exp.column("v"), expression=exp.Null())) if is_list else exp.true()
        ),
        top=exp.convert(tag.top),
        ranking=exp.column("n"),
    )
    window = query.find(exp.Window)
    assert window is not None
    window.set("order", order)
    assert isinstance(query, exp.Select)
    return query


def property_type(schema: Schema, tag: PreferenceTag) -> str:
    """The value type of the property a preference ranks (a virtual column's when not stored)."""
    columns = schema.get(tag.from_, {})
    return columns.get(tag.property_name) or VIRTUAL_TYPES.get(tag.property_name, "string")


def preference_parts(tags: Sequence[PreferenceTag], context: BuildContext) -> list[SqlPart]:
    """A relation of its own per preference tag."""
    return [
        TagRelation(
            key=tag.name,
            shared=False,
            query=preference_query(
                tag,
                context.as_of,
                property_type(context.schema, tag),
                context.timezone,
                context.columns_of(tag.from_),
            ),
            tags=(tag,),
        )
        for tag in tags
    ]
