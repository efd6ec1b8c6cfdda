"""The event rollup: events counted per (event, business line, UTC day, user).

Stored as two tables: ``rollup_groups`` numbers the (event, business line) pairs ``g``;
``rollup`` has one row per (g, day, uid) with the event count ``n``, sorted by g, user
block (``uid >> 20``), day, uid.

Behaviour conditions (``events("search", last="7d") > 3``, ``active_days(last="30d")``) read
the rollup instead of the raw events, so a window of any length costs a scan of its days only.
Numeric event properties are summed per row (``sum_<property>``) for ``sum(of=...)``.

Days are UTC calendar days of ``ts``, the same days metric tag windows use.
"""

from __future__ import annotations

import datetime as dt

from sqlglot import exp

from portrait.model.schema import TABLE_SPECS, Schema

ROLLUP_TABLE = "rollup"
ROLLUP_BLOCK_BITS = 20
NUMERIC = frozenset({"int", "float"})


def rollup_sums(schema: Schema) -> list[str]:
    """Numeric event properties the rollup sums (its ``sum_<name>`` columns)."""
    required = TABLE_SPECS["events"].required
    return [
        name
        for name, vtype in schema.get("events", {}).items()
        if vtype in NUMERIC and name not in required
    ]


def sum_column(prop: str) -> str:
    return f"sum_{prop}"


def _line(schema: Schema) -> exp.Expr:
    if "business_line" in schema.get("events", {}):
        return exp.column("business_line")
    return exp.cast(exp.Null(), exp.DataType.Type.VARCHAR)


def groups_query(schema: Schema) -> exp.Select:
    """The (event, business line) pairs of the events, numbered ``g`` in sorted order."""
    pairs = (
        exp.select(exp.column("event"), exp.alias_(_line(schema), "business_line"))
        .distinct()
        .from_("events")
    )
    number = exp.Window(
        this=exp.RowNumber(),
        order=exp.Order(
            expressions=[
                exp.Ordered(this=exp.column("event"), nulls_first=False),
                exp.Ordered(this=exp.column("business_line"), nulls_first=False),
            ]
        ),
    )
    g = exp.cast(exp.Sub(this=number, expression=exp.Literal.number(1)), exp.DataType.Type.INT)
    return exp.select(exp.column("event"), exp.column("business_line"), exp.alias_(g, "g")).from_(
        pairs.subquery("pairs")
    )


def rollup_query(schema: Schema, groups: str = "rollup_groups") -> exp.Select:
    """``SELECT g, day, uid, n, sum_<p>… FROM events JOIN users JOIN groups``, grouped by
    (g, day, uid) and sorted that way; events of unknown users are left out."""
    columns: list[exp.Expr] = [
        exp.column("g", table="r"),
        exp.alias_(exp.cast(exp.column("ts", table="e"), exp.DataType.Type.DATE), "day"),
        exp.alias_(exp.cast(exp.column("uid", table="u"), exp.DataType.Type.UINT), "uid"),
        exp.alias_(exp.cast(exp.Count(this=exp.Star()), exp.DataType.Type.UINT), "n"),
    ]
    for prop in rollup_sums(schema):
        total = exp.Sum(this=exp.cast(exp.column(prop, table="e", quoted=True), "DOUBLE"))
        columns.append(exp.alias_(total, sum_column(prop), quoted=True))
    line = _line(schema)
    if isinstance(line, exp.Column):
        line = exp.column("business_line", table="e")
    on_user = exp.EQ(
        this=exp.column("user_id", table="e"), expression=exp.column("user_id", table="u")
    )
    on_group = exp.and_(
        exp.EQ(this=exp.column("event", table="e"), expression=exp.column("event", table="r")),
        exp.NullSafeEQ(this=line, expression=exp.column("business_line", table="r")),
    )
    grouped = (
        exp.select(*columns)
        .from_(exp.to_table("events").as_("e"))
        .join(exp.to_table("users").as_("u"), on=on_user)
        .join(exp.to_table(groups).as_("r"), on=on_group)
        .group_by(*[exp.Literal.number(i) for i in range(1, 4)])
    )
    return (
        exp.select(exp.Star())
        .from_(grouped.subquery("grouped"))
        .order_by(exp.column("g"), _block(), exp.column("day"), exp.column("uid"))
    )


def _block() -> exp.Expr:
    """The user block of a row (``uid >> BLOCK_BITS``): rows are ordered by block inside a
    group so that counting a window works on one cache-sized block of users at a time."""
    return exp.BitwiseRightShift(
        this=exp.column("uid"), expression=exp.Literal.number(ROLLUP_BLOCK_BITS)
    )


def group_rows_query(relation: str, sums: list[str]) -> exp.Select:
    """Per group ``g``: rows in the rollup and, per summed property, rows with a value."""
    columns: list[exp.Expr] = [exp.column("g"), exp.alias_(exp.Count(this=exp.Star()), "rows")]
    for prop in sums:
        columns.append(
            exp.alias_(exp.Count(this=exp.column(sum_column(prop), quoted=True)), sum_column(prop))
        )
    return exp.select(*columns).from_(relation).group_by(exp.column("g")).order_by("g")


def rollup_view(table: str, groups: str, sums: list[str]) -> exp.Select:
    """The rollup as behaviour SQL reads it: ``uid, event, business_line, day, n, sum_<p>…``."""
    columns: list[exp.Expr] = [
        exp.column("uid", table="r"),
        exp.column("event", table="g"),
        exp.column("business_line", table="g"),
        exp.column("day", table="r"),
        exp.column("n", table="r"),
    ]
    columns += [exp.column(sum_column(p), table="r", quoted=True) for p in sums]
    return (
        exp.select(*columns)
        .from_(exp.to_table(table).as_("r"))
        .join(exp.to_table(groups).as_("g"), using=["g"])
    )


def rollup_any_query(relation: str, day0: dt.date) -> exp.Select:
    """Events of any kind per (day, user): the rows ``active_days`` and ``events()`` without an
    event name read. ``d`` counts days from ``day0``."""
    days = exp.DateDiff(
        this=exp.column("day"),
        expression=exp.cast(exp.Literal.string(day0.isoformat()), exp.DataType.Type.DATE),
        unit=exp.var("DAY"),
    )
    grouped = (
        exp.select(
            exp.alias_(exp.cast(days, exp.DataType.Type.INT), "d"),
            exp.column("uid"),
            exp.alias_(exp.cast(exp.Sum(this=exp.column("n")), exp.DataType.Type.UINT), "n"),
        )
        .from_(relation)
        .group_by(exp.column("day"), exp.column("uid"))
    )
    return (
        exp.select(exp.Star())
        .from_(grouped.subquery("grouped"))
        .order_by(_block(), exp.column("d"), exp.column("uid"))
    )
