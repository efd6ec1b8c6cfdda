"""Windows of the windowed tag kinds (metric, preference, rfm), ending on the as-of date.

``last Nd`` covers the N calendar days (UTC) up to and including the as-of date, i.e.
``ts >= as_of - (N-1) days AND ts < as_of + 1 day``; ``all`` covers everything up to the end of
the as-of date.
"""

from __future__ import annotations

import datetime as dt

from sqlglot import exp


def day_start(day: dt.date) -> exp.Expr:
    """``CAST('<day> 00:00:00' AS TIMESTAMP)``."""
    return exp.cast(exp.Literal.string(f"{day.isoformat()} 00:00:00"), exp.DataType.Type.TIMESTAMP)


def window_bounds(days: int | None, as_of: dt.date) -> tuple[dt.date | None, dt.date]:
    """[start, end) dates of a window of ``days`` days ending on ``as_of`` (None: unbounded)."""
    end = as_of + dt.timedelta(days=1)
    return (None if days is None else as_of - dt.timedelta(days=days - 1)), end


def window_predicate(days: int | None, as_of: dt.date, time_column: str = "ts") -> exp.Expr:
    """The rows of a window of ``days`` days (None: every day) ending on ``as_of``."""
    start, end = window_bounds(days, as_of)
    upper = exp.LT(this=exp.column(time_column), expression=day_start(end))
    if start is None:
        return upper
    return exp.and_(exp.GTE(this=exp.column(time_column), expression=day_start(start)), upper)
