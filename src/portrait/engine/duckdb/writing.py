"""Writes from the checked rows (the table ``checked``): the rejects file, a table's Parquet
file (appended as a batch, or merged by key with the stored file), and the rows of users
not known yet."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import duckdb

from portrait.engine.duckdb.reading import as_written
from portrait.engine.duckdb.sqltext import path_literal, quote, time_range_literals
from portrait.engine.loading import StoredTable, TimeRange, UnknownUsers, WrittenTable

#: The rows that passed every check, with ``_row`` (their number in the load).
GOOD = "SELECT * EXCLUDE (_column, _error, _fname, _line) FROM checked WHERE _error IS NULL"


def write_rejects(con: duckdb.DuckDBPyConnection, raw: Mapping[str, str], path: Path) -> None:
    """The rejected rows as CSV: file, row, column, reason, then the values as written."""
    values = ", ".join(f"{as_written(c, t, 's')} AS {quote(c)}" for c, t in raw.items())
    con.execute(
        "COPY (SELECT s._fname AS _file, s._line AS _row, c._column, c._error, "
        f"{values} FROM src s "
        "JOIN checked c ON c._row = s.rowid + 1 WHERE c._error IS NOT NULL ORDER BY c._row) "
        f"TO {path_literal(path)} (FORMAT csv, HEADER true)"
    )


def append_rows(
    con: duckdb.DuckDBPyConnection, target: Path, time_column: str | None
) -> WrittenTable:
    """The good rows as one Parquet file; their count and latest time (all are in range)."""
    con.execute(
        f"COPY (SELECT * EXCLUDE (_row) FROM ({GOOD})) "
        f"TO {path_literal(target)} (FORMAT parquet, COMPRESSION zstd)"
    )
    latest = f"CAST(max({quote(time_column)}) AS VARCHAR)" if time_column else "NULL"
    row = con.execute(f"SELECT count(*), {latest} FROM ({GOOD})").fetchall()[0]
    return WrittenTable(rows=int(row[0]), max_time=row[1])


def merge_rows(
    con: duckdb.DuckDBPyConnection,
    target: Path,
    *,
    key: str,
    columns: Sequence[str],
    types: Mapping[str, str],
    stored: StoredTable | None,
    first_new_id: int | None,
    time_column: str | None,
    bounds: TimeRange,
) -> WrittenTable:
    """The stored rows merged with the good rows by ``key`` into one Parquet file (see
    :meth:`portrait.engine.Staging.merge_rows`); ``types``: the loaded columns."""
    qkey = quote(key)
    con.execute(f"CREATE TEMP TABLE new AS {GOOD}")
    replaced = 0
    if stored is not None:
        con.execute(
            f"CREATE TEMP VIEW old AS SELECT * FROM read_parquet({path_literal(stored.path)})"
        )
        row = con.execute(f"SELECT count(*) FROM new JOIN old USING ({qkey})").fetchall()[0]
        replaced = int(row[0])
        parts = []
        for c in columns:
            q = quote(c)
            if c == key:
                parts.append(f"COALESCE(n.{q}, o.{q}) AS {q}")
            elif c in types and c in stored.columns:  # a row in the file replaces the old row
                parts.append(f"CASE WHEN n._present THEN n.{q} ELSE o.{q} END AS {q}")
            elif c in types:
                parts.append(f"n.{q} AS {q}")
            else:  # a column the file does not have keeps its earlier values
                parts.append(f"o.{q} AS {q}")
        uid = ""
        if first_new_id is not None:
            uid = (
                f"COALESCE(o.uid, {first_new_id - 1} + row_number() OVER "
                "(PARTITION BY o.uid IS NULL ORDER BY n._row)) AS uid, "
            )
        select = (
            f"SELECT {uid}{', '.join(parts)} FROM (SELECT *, TRUE AS _present FROM new) n "
            f"FULL OUTER JOIN old o USING ({qkey})"
        )
    else:
        uid = ""
        if first_new_id is not None:
            uid = f"{first_new_id - 1} + row_number() OVER (ORDER BY _row) AS uid, "
        select = f"SELECT {uid}* EXCLUDE (_row) FROM new"
    order = " ORDER BY uid" if first_new_id is not None else ""
    out = path_literal(target)
    con.execute(
        f"COPY (SELECT * FROM ({select}){order}) TO {out} (FORMAT parquet, COMPRESSION zstd)"
    )
    max_uid = "max(uid)" if first_new_id is not None else "-1"
    max_time = "NULL"
    if time_column:
        lo, hi = time_range_literals(bounds)
        ts = quote(time_column)
        max_time = f"CAST(max({ts}) FILTER (WHERE {ts} >= {lo} AND {ts} < {hi}) AS VARCHAR)"
    row = con.execute(
        f"SELECT count(*), {max_uid}, {max_time} FROM read_parquet({out})"
    ).fetchall()[0]
    return WrittenTable(
        rows=int(row[0]),
        max_uid=int(row[1]) if row[1] is not None else -1,
        max_time=row[2],
        replaced=replaced,
    )


def unknown_users(
    con: duckdb.DuckDBPyConnection, users: Path | None, examples: int
) -> UnknownUsers:
    """Good rows whose ``user_id`` is not in the users file (all of them without one)."""
    good = "SELECT user_id FROM checked WHERE _error IS NULL"
    if users is not None:
        known = f"read_parquet({path_literal(users)})"
        good = (
            f"SELECT e.user_id FROM ({good}) e "
            f"ANTI JOIN (SELECT user_id FROM {known}) u USING (user_id)"
        )
    row = con.execute(f"SELECT count(*), count(DISTINCT user_id) FROM ({good})").fetchall()[0]
    found = con.execute(
        f"SELECT DISTINCT user_id FROM ({good}) ORDER BY 1 LIMIT {int(examples)}"
    ).fetchall()
    return UnknownUsers(rows=int(row[0]), users=int(row[1]), examples=[r[0] for r in found])
