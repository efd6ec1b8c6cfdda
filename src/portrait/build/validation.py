"""Typing and validation of ingested rows, as SQL over the table ``src``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import duckdb

from portrait.build.warehouse import TableState
from portrait.engine.duckdb import quote, value_type
from portrait.errors import IngestError
from portrait.model.schema import SQL_TYPES, TableSpec

_TYPE_WORDS = {
    "string": "text",
    "int": "a whole number",
    "float": "a number",
    "bool": "true/false",
    "date": "a date",
    "timestamp": "a timestamp",
    "list<string>": "a list",
}
LIST_SEPARATOR = "|"


def _is_text(raw_type: str) -> bool:
    return raw_type.upper().startswith("VARCHAR")


def _typed_expr(column: str, vtype: str, raw_type: str, utc: bool = True, trim: bool = True) -> str:
    """SQL that converts a raw column to ``vtype``, NULL when it cannot.

    ``utc``: the workspace time zone is UTC, so naive timestamps need no conversion.
    ``trim``: text typed by hand (CSV) has blanks trimmed; text in a typed format (Parquet,
    JSON) is taken as written. Empty text is missing either way.
    """
    col = quote(column)
    raw = raw_type.upper()
    as_text = col if _is_text(raw) else f"CAST({col} AS VARCHAR)"
    text = f"NULLIF(trim({as_text}), '')" if trim else f"NULLIF({as_text}, '')"
    if vtype == "timestamp":
        # Values with an offset (or a zone-aware type) are converted to UTC; values without one
        # (text or a naive timestamp type) are in the workspace time zone (the session's).
        # epoch_us/make_timestamp turn an instant into naive UTC without a time-zone lookup.
        if raw == "TIMESTAMP WITH TIME ZONE":
            return f"make_timestamp(epoch_us({col}))"
        if raw.startswith("TIMESTAMP") or raw == "DATE":
            if utc:
                return f"CAST({col} AS TIMESTAMP)"
            return f"make_timestamp(epoch_us(CAST({col} AS TIMESTAMPTZ)))"
        return f"make_timestamp(epoch_us(TRY_CAST({text} AS TIMESTAMPTZ)))"
    if vtype == "list<string>":
        if raw.endswith("[]"):
            return f"CAST({col} AS VARCHAR[])"
        return (
            f"list_filter(list_transform(string_split(CAST({col} AS VARCHAR), "
            f"'{LIST_SEPARATOR}'), lambda x: trim(x)), lambda x: x <> '')"
        )
    if vtype == "string":
        return text
    if not _can_fail(vtype, raw):
        return f"CAST({col} AS {SQL_TYPES[vtype]})"
    if vtype == "bool":
        return f"TRY_CAST({text} AS BOOLEAN)"
    if vtype == "int" and not raw.endswith("INT"):
        # TRY_CAST('4.5' AS BIGINT) rounds; a whole number must look like one.
        return f"CASE WHEN regexp_full_match({text}, '[+-]?[0-9]+') THEN TRY_CAST({text} AS BIGINT) END"
    return f"TRY_CAST({text} AS {SQL_TYPES[vtype]})"


_INT_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER")


def _can_fail(vtype: str, raw_type: str) -> bool:
    """Whether converting a column of ``raw_type`` to ``vtype`` can fail on some row."""
    raw = raw_type.upper()
    if vtype in ("string", "list<string>"):
        return False
    if vtype == "int":
        return raw not in _INT_TYPES
    if vtype == "float":
        return not (
            raw in _INT_TYPES
            or raw in ("FLOAT", "DOUBLE", "BIGINT", "HUGEINT", "UBIGINT")
            or raw.startswith("DECIMAL")
        )
    if vtype == "bool":
        return raw != "BOOLEAN"
    if vtype in ("timestamp", "date"):
        return _is_text(raw) or not (raw.startswith("TIMESTAMP") or raw == "DATE")
    return True


def _is_blank(column: str, raw_type: str) -> str:
    col = quote(column)
    if _is_text(raw_type):
        return f"({col} IS NULL OR trim({col}) = '')"
    return f"({col} IS NULL)"


def _infer_type(con: duckdb.DuckDBPyConnection, column: str, raw_type: str) -> str:
    """Value type of a column the table spec does not know (an attribute or a property)."""
    natural = value_type(raw_type)
    if natural != "string" or not raw_type.upper().startswith("VARCHAR"):
        return natural
    col = quote(column)
    text = f"NULLIF(trim({col}), '')"
    row = con.execute(
        f"SELECT count({text}), count_if(regexp_full_match({text}, '[+-]?[0-9]+')), "
        f"count(TRY_CAST({text} AS DOUBLE)),"
        f" count(TRY_CAST({text} AS BOOLEAN)) FROM src"
    ).fetchone()
    assert row is not None
    n, ints, floats, bools = row
    if n == 0:
        return "string"
    if ints == n:
        return "int"
    if floats == n:
        return "float"
    if bools == n and n > 0:
        return "bool"
    return "string"


def column_types(
    con: duckdb.DuckDBPyConnection,
    spec: TableSpec,
    raw: Mapping[str, str],
    previous: TableState | None,
    infer: bool = True,
) -> dict[str, str]:
    """Value type of every column to load: spec types, then earlier batches, then the file's
    own types (Parquet, JSON), inferred from the text for CSV (``infer``)."""
    known = spec.known()
    types: dict[str, str] = {}
    for column, raw_type in raw.items():
        if column in known:
            types[column] = known[column]
        elif previous is not None and column in previous.columns:
            types[column] = previous.columns[column]
        else:
            types[column] = _infer_type(con, column, raw_type) if infer else value_type(raw_type)
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
    utc: bool = True,
    trim: bool = True,
) -> str:
    """SELECT of typed columns plus ``_row``, ``_fname``, ``_line``, ``_column`` and ``_error``
    (the first problem of the row). Each column is converted once; each check runs once."""
    typed = {c: f"__typed_{i}" for i, c in enumerate(types)}
    checks: list[tuple[str, str, str]] = []  # (condition, column, reason SQL)
    for column in spec.required:
        if column in raw:
            checks.append((_is_blank(column, raw[column]), column, "'missing value'"))
    for column, vtype in types.items():
        if not _can_fail(vtype, raw[column]):
            continue
        raw_text = f"CAST({quote(column)} AS VARCHAR)"
        checks.append(
            (
                f"(NOT {_is_blank(column, raw[column])} AND {typed[column]} IS NULL)",
                column,
                f"'cannot read ' || {raw_text}[:40] || ' as {_TYPE_WORDS[vtype]}'",
            )
        )
    key = spec.key if spec.key and spec.key in raw else None
    if key:
        checks.append(
            (
                f"(NOT {_is_blank(key, raw[key])} AND _first_row <> _row)",
                key,
                f"'duplicate {key} ' || {quote(key)} || ' (first at ' || _first_at || ')'",
            )
        )
    conversions = ", ".join(
        f"{_typed_expr(c, t, raw[c], utc, trim)} AS {typed[c]}" for c, t in types.items()
    )
    first = "_row AS _first_row, NULL AS _first_at"
    if key:
        window = f"OVER (PARTITION BY {quote(key)})"
        first = (
            f"min(_row) {window} AS _first_row, "
            f"arg_min(_fname || ' row ' || _line, _row) {window} AS _first_at"
        )
    # _check numbers the first failing check; the column and message are looked up by it.
    which = _case("", [(c, str(i)) for i, (c, _, _) in enumerate(checks)])
    column_of = _case("_check", [(str(i), f"'{col}'") for i, (_, col, _) in enumerate(checks)])
    error_of = _case("_check", [(str(i), reason) for i, (_, _, reason) in enumerate(checks)])
    outputs = ", ".join(f"{typed[c]} AS {quote(c)}" for c in types)
    return (
        f"SELECT _row, _fname, _line, {column_of} AS _column, {error_of} AS _error, {outputs} "
        f"FROM (SELECT *, {which} AS _check FROM (SELECT *, {first} FROM "
        f"(SELECT *, rowid + 1 AS _row, {conversions} FROM src)))"
    )


def check_required(
    spec: TableSpec, raw: Mapping[str, str], path: Path, mapping: Mapping[str, str]
) -> None:
    missing = [c for c in spec.required if c not in raw]
    if missing:
        names = ", ".join(f"'{c}'" for c in missing)
        raise IngestError(
            f"missing required column{'s' if len(missing) > 1 else ''} {names} for {spec.name}",
            where=str(path),
            hint="columns in the file: "
            + ", ".join(raw)
            + f"; map yours with --map {missing[0]}=YOUR_COLUMN",
        )
    for column in ("uid",):
        if column in raw:
            raise IngestError(
                f"column '{column}' is reserved (Portrait assigns dense user ids itself)",
                where=str(path),
                hint=f"rename it, e.g. --map external_{column}={column}",
            )
