"""Typing and checking of staged rows, as SQL over the table ``src``: the value type of a
column without one of its own (text, JSON), and the query that converts every column and
finds each row's first problem (the table ``checked``)."""

from __future__ import annotations

from collections.abc import Mapping

import duckdb

from portrait.engine.duckdb.conversions import RawColumn, column_checks, trimmed, typed_expr
from portrait.engine.duckdb.sqltext import quote, sql_literal, value_type
from portrait.engine.loading import TimeRange
from portrait.model.schema import TableSpec

_WHOLE = "'[+-]?[0-9]+'"


def _infer_text_type(con: duckdb.DuckDBPyConnection, column: str) -> str:
    """Value type of a text column from every non-empty value: ``int`` when all are whole
    numbers that fit 64 bits, ``string`` when some whole number does not (long ids keep every
    digit), else ``float`` when all are numbers, ``bool`` when all are truth values."""
    text = f"NULLIF({trimmed(quote(column))}, '')"
    row = con.execute(
        f"SELECT count({text}), count_if(regexp_full_match({text}, {_WHOLE})), "
        f"count_if(regexp_full_match({text}, {_WHOLE}) AND TRY_CAST({text} AS BIGINT) IS NOT NULL), "
        f"count(TRY_CAST({text} AS DOUBLE)), count(TRY_CAST({text} AS BOOLEAN)) FROM src"
    ).fetchall()[0]
    n, whole, fits, floats, bools = row
    if n == 0:
        return "string"
    if whole == n:
        return "int" if fits == n else "string"
    if floats == n:
        return "float"
    if bools == n:
        return "bool"
    return "string"


_KIND_TYPES = {
    "VARCHAR": "string",
    "OBJECT": "string",
    "BIGINT": "number",
    "UBIGINT": "number",
    "DOUBLE": "number",
    "BOOLEAN": "bool",
    "ARRAY": "list<string>",
}


def _infer_json_type(con: duckdb.DuckDBPyConnection, column: str) -> str:
    """Value type of a JSON column: the kind most of its values have (ties: the kind seen
    first). Values of another kind are then bad rows, judged one by one."""
    col = quote(column)
    rows = con.execute(
        f"SELECT json_type({col}) AS kind, count(*), min(rowid), "
        f"count_if(NOT regexp_full_match({col} ->> '$', {_WHOLE})) "
        f"FROM src WHERE {col} IS NOT NULL GROUP BY kind"
    ).fetchall()
    votes: dict[str, list[int]] = {}
    fractions = 0
    for kind, n, first, not_whole in rows:
        family = _KIND_TYPES.get(str(kind), "string")
        vote = votes.setdefault(family, [0, int(first)])
        vote[0] += int(n)
        vote[1] = min(vote[1], int(first))
        if kind == "DOUBLE":
            fractions += int(not_whole)
    if not votes:
        return "string"
    family = max(votes, key=lambda f: (votes[f][0], -votes[f][1]))
    if family == "number":
        return "float" if fractions else "int"
    return family


def infer_types(
    con: duckdb.DuckDBPyConnection, raw: Mapping[str, str], from_text: bool
) -> dict[str, str]:
    """Value type of each ``raw`` column (name → DuckDB type): JSON columns and, when
    ``from_text``, text columns (CSV) are inferred from their values; others follow their
    type (Parquet)."""
    types: dict[str, str] = {}
    for column, raw_type in raw.items():
        if raw_type.upper() == "JSON":
            types[column] = _infer_json_type(con, column)
        elif from_text and raw_type.upper().startswith("VARCHAR"):
            types[column] = _infer_text_type(con, column)
        else:
            types[column] = value_type(raw_type)
    return types


def _case(subject: str, branches: list[tuple[str, str]]) -> str:
    """``CASE [subject] WHEN a THEN b … END``, or NULL without branches."""
    if not branches:
        return "NULL"
    whens = " ".join(f"WHEN {when} THEN {then}" for when, then in branches)
    return f"CASE {subject + ' ' if subject else ''}{whens} END"


def validation_query(
    spec: TableSpec,
    types: Mapping[str, str],
    raw: Mapping[str, str],
    bounds: TimeRange,
    utc: bool = True,
    trim: bool = True,
) -> str:
    """SELECT of typed columns plus ``_row``, ``_fname``, ``_line``, ``_column`` and ``_error``
    (the first problem of the row). Each column is converted once; each check runs once.

    ``trim``: text was typed by hand (CSV): ASCII whitespace around values is trimmed."""
    known = spec.known()
    columns = {
        c: RawColumn(c, t, raw[c], trim=trim, objects=c not in known) for c, t in types.items()
    }
    typed = {c: f"__typed_{i}" for i, c in enumerate(types)}
    # (condition, column SQL, reason SQL); a problem found while reading the record comes first
    checks: list[tuple[str, str, str]] = [
        ("_read_error IS NOT NULL", "_read_column", "_read_error")
    ]
    for column in spec.required:
        if column in columns:
            checks.append((columns[column].blank(), sql_literal(column), "'missing value'"))
    for column, c in columns.items():
        for condition, reason in column_checks(c, typed[column], bounds):
            checks.append((condition, sql_literal(column), reason))
    key = spec.key if spec.key and spec.key in raw else None
    if key:
        # Keys compare as loaded (trimmed for CSV): " u1" and "u1" are the same user.
        checks.append(
            (
                f"(NOT {columns[key].blank()} AND _first_row <> _row)",
                sql_literal(key),
                f"'duplicate {key} ' || {typed[key]} || ' (first at ' || _first_at || ')'",
            )
        )
    conversions = ", ".join(f"{typed_expr(c, utc)} AS {typed[n]}" for n, c in columns.items())
    first = "_row AS _first_row, NULL AS _first_at"
    if key:
        window = f"OVER (PARTITION BY {typed[key]})"
        first = (
            f"min(_row) {window} AS _first_row, "
            f"arg_min(_fname || ' row ' || _line, _row) {window} AS _first_at"
        )
    # _check numbers the first failing check; the column and message are looked up by it.
    which = _case("", [(c, str(i)) for i, (c, _, _) in enumerate(checks)])
    column_of = _case("_check", [(str(i), col) for i, (_, col, _) in enumerate(checks)])
    error_of = _case("_check", [(str(i), reason) for i, (_, _, reason) in enumerate(checks)])
    outputs = ", ".join(f"{typed[c]} AS {quote(c)}" for c in types)
    return (
        f"SELECT _row, _fname, _line, {column_of} AS _column, {error_of} AS _error, {outputs} "
        f"FROM (SELECT *, {which} AS _check FROM (SELECT *, {first} FROM "
        f"(SELECT *, rowid + 1 AS _row, {conversions} FROM src)))"
    )
