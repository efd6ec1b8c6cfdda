"""What a build reads from the warehouse: its tables seen through the accepted time range
(:class:`portrait.store.timebounds.TimeBounds`), and the last recorded time.

Ingest rejects timestamps outside the range. Data stored before that check (an event at
``99999-01-01`` or ``9999-12-31``) would still break every build (as-of date, windows, a rollup
of eight thousand years of days), and events cannot be deleted; so a build reads every table
through a view that leaves such rows out (and clears such values in other timestamp columns),
with a warning saying how many.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

from sqlglot import exp

from portrait.config import Config
from portrait.engine import Engine, open_engine, settings_from_config
from portrait.model.schema import TABLE_SPECS
from portrait.store.timebounds import TimeBounds
from portrait.store.warehouse import WarehouseSnapshot

log = logging.getLogger("portrait.profile")


def register_in_range(
    engine: Engine, name: str, paths: list[Path], bounds: TimeBounds
) -> list[str]:
    """Register the table ``name`` (its Parquet ``paths``) in ``engine`` so that queries see only
    timestamps inside ``bounds``: rows whose time column is outside are left out, other
    timestamp values outside are read as missing. Returns a warning per column with such
    values (each also logged)."""
    engine.register_parquet(name, paths)
    columns = engine.columns(name)
    stamps = [c for c, t in columns.items() if t in ("timestamp", "date")]
    if not stamps:
        return []
    outside = [exp.not_(bounds.condition(c)) for c in stamps]
    counts = engine.to_arrow(
        exp.select(
            *(
                exp.alias_(
                    exp.func("SUM", exp.case().when(cond, exp.Literal.number(1)).else_("0")),
                    f"n{i}",
                )
                for i, cond in enumerate(outside)
            )
        ).from_(exp.to_table(name, quoted=True))
    ).to_pylist()[0]
    bad = {c: int(counts[f"n{i}"] or 0) for i, c in enumerate(stamps)}
    bad = {c: n for c, n in bad.items() if n}
    if not bad:
        return []
    time_column = next((s.time_column for n, s in TABLE_SPECS.items() if n == name), None)
    stored = f"_stored_{name}"
    engine.register_parquet(stored, paths)
    select: list[exp.Expr] = []
    for c in columns:
        col = exp.column(c, quoted=True)
        if c in bad and c != time_column:
            kept = exp.case().when(bounds.condition(c), col)
            select.append(exp.alias_(kept, c, quoted=True))
        else:
            select.append(col)
    query = exp.select(*select).from_(exp.to_table(stored, quoted=True))
    if time_column in bad:
        query = query.where(bounds.condition(time_column))
    engine.create_view(name, query)
    warnings = []
    for c, n in bad.items():
        what = "left out of this build" if c == time_column else "read as missing in this build"
        warnings.append(
            f"{n:,} {name} row{'s' if n > 1 else ''} with a '{c}' outside the accepted range "
            f"{bounds.describe()} (stored before ingest checked the range, or the range "
            f"has changed since; settings ingest.min_time, ingest.max_time): {what}"
        )
    for warning in warnings:
        log.warning("warning: %s", warning)
    return warnings


def last_time_in_range(config: Config, paths: list[Path], bounds: TimeBounds) -> dt.datetime | None:
    """The latest ``ts`` inside ``bounds`` in the Parquet ``paths`` (a table whose recorded
    ``max_time`` is outside: it was stored before ingest checked the range)."""
    engine = open_engine(settings_from_config(config))
    try:
        engine.register_parquet("timed", paths)
        query = (
            exp.select(exp.alias_(exp.Max(this=exp.column("ts", quoted=True)), "last"))
            .from_("timed")
            .where(bounds.condition("ts"))
        )
        value = engine.to_arrow(query).column("last")[0].as_py()
    finally:
        engine.close()
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None) if value.tzinfo else value
    return None


def last_recorded_time(config: Config, warehouse: WarehouseSnapshot) -> dt.datetime | None:
    """The last event time (orders' without events) inside the accepted range: the recorded
    ``max_time``, or, when that is outside (stored before ingest checked the range), the last
    time inside found by scanning the table."""
    bounds = TimeBounds.from_config(config)
    timed = [t for t in warehouse.tables.values() if t.max_time]
    for group in ([t for t in timed if t.name == "events"], timed):
        times = []
        for state in group:
            if bounds.holds_text(state.max_time):
                assert state.max_time is not None
                times.append(dt.datetime.fromisoformat(state.max_time))
            elif warehouse.path is not None:
                found = last_time_in_range(config, state.paths(warehouse.path), bounds)
                times += [found] if found else []
        if times:
            return max(times)
    return None
