"""Virtual columns of the event tables, computed from ``ts`` in the workspace time zone.

``hour`` (0-23), ``weekday`` (1 = Monday … 7 = Sunday) and ``daypart``: 凌晨 (0-6h), 早上
(6-11h), 中午 (11-13h), 下午 (13-19h), 晚上 (19-24h). Tags use them like real columns, e.g. a
preference tag over ``daypart`` gives each user's favourite time of day.
"""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo

from sqlglot import exp

VIRTUAL_TYPES: dict[str, str] = {"hour": "int", "weekday": "int", "daypart": "string"}
DAYPARTS: tuple[tuple[int, str], ...] = (
    (6, "凌晨"),
    (11, "早上"),
    (13, "中午"),
    (19, "下午"),
    (24, "晚上"),
)
TIME_TABLES = frozenset({"events", "orders"})


@functools.cache
def fixed_offset_seconds(timezone: str) -> int | None:
    """The zone's UTC offset if it has not changed in 2000-2040 (UTC, Asia/Shanghai, …), else
    None (zones with daylight saving need a time-zone lookup per row)."""
    zone = zoneinfo.ZoneInfo(timezone)
    offsets = {
        dt.datetime(year, month, 15, tzinfo=zone).utcoffset()
        for year in range(2000, 2041)
        for month in (1, 4, 7, 10)
    }
    if len(offsets) != 1:
        return None
    offset = offsets.pop()
    return None if offset is None else int(offset.total_seconds())


def _local_ts(timezone: str) -> exp.Expr:
    ts = exp.column("ts")
    offset = fixed_offset_seconds(timezone)
    if offset == 0:
        return ts
    if offset is not None:  # plain arithmetic is several times faster than a zone lookup
        return exp.Add(
            this=ts,
            expression=exp.Interval(this=exp.Literal.string(str(offset)), unit=exp.var("SECOND")),
        )
    return exp.Anonymous(
        this="TIMEZONE",
        expressions=[exp.Literal.string(timezone), exp.cast(ts, "TIMESTAMPTZ")],
    )


def virtual_column(name: str, timezone: str) -> exp.Expr:
    """The expression behind a virtual column."""
    hour = exp.Anonymous(this="HOUR", expressions=[_local_ts(timezone)])
    if name == "hour":
        return hour
    if name == "weekday":
        return exp.DayOfWeekIso(this=_local_ts(timezone))
    if name == "daypart":
        case = exp.Case()
        for end, label in DAYPARTS[:-1]:
            case = case.when(
                exp.LT(this=hour.copy(), expression=exp.convert(end)), exp.Literal.string(label)
            )
        return case.else_(exp.Literal.string(DAYPARTS[-1][1]))
    raise KeyError(name)


def substitute_virtual(
    expression: exp.Expr, table: str, timezone: str, real_columns: set[str] | None = None
) -> exp.Expr:
    """Replace references to virtual columns (unless the table has a real column of that name)."""
    if table not in TIME_TABLES:
        return expression

    def swap(node: exp.Expr) -> exp.Expr:
        if (
            isinstance(node, exp.Column)
            and not node.table
            and node.name in VIRTUAL_TYPES
            and (real_columns is None or node.name not in real_columns)
        ):
            return virtual_column(node.name, timezone)
        return node

    return expression.transform(swap)
