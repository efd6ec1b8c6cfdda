"""Windows end on the as-of date and include it."""

from __future__ import annotations

import datetime as dt

from portrait.compile.windows import day_start, window_bounds, window_predicate

AS_OF = dt.date(2026, 10, 31)


def test_bounds_include_the_as_of_day() -> None:
    assert window_bounds(7, AS_OF) == (dt.date(2026, 10, 25), dt.date(2026, 11, 1))
    assert window_bounds(1, AS_OF) == (AS_OF, dt.date(2026, 11, 1))
    assert window_bounds(None, AS_OF) == (None, dt.date(2026, 11, 1))


def test_predicates() -> None:
    assert day_start(AS_OF).sql("duckdb") == "CAST('2026-10-31 00:00:00' AS TIMESTAMP)"
    assert window_predicate(None, AS_OF).sql("duckdb") == (
        "ts < CAST('2026-11-01 00:00:00' AS TIMESTAMP)"
    )
    assert window_predicate(7, AS_OF, "seen").sql("duckdb") == (
        "seen >= CAST('2026-10-25 00:00:00' AS TIMESTAMP) "
        "AND seen < CAST('2026-11-01 00:00:00' AS TIMESTAMP)"
    )
