"""JSON lines → rows of JSON values, one column per field, judged row by row later.

DuckDB's ``read_json`` gives a column one type for the whole file: one number among string ids
makes every id JSON text (``"u001"`` → ``"\\"u001\\""``), one list among event names does the
same to every event. So every record is read as JSON (``read_json_objects``) and each field is
kept as a JSON value; validation then judges each row's value against the column's type.

A top-level field whose values are mostly objects (``"properties": {...}``) is flattened: its
keys become columns. A flattened key that collides with another column is an error naming both.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import duckdb

from portrait.engine.duckdb.sqltext import path_literal, quote, sql_literal
from portrait.errors import IngestError

#: Words for ``json_type`` results in messages.
KIND_WORDS = {
    "VARCHAR": "a JSON string",
    "BIGINT": "a JSON number",
    "UBIGINT": "a JSON number",
    "DOUBLE": "a JSON number",
    "BOOLEAN": "a JSON true/false",
    "ARRAY": "a JSON array",
    "OBJECT": "a JSON object",
}


def kind_word_sql(kind: str) -> str:
    """SQL naming the JSON kind ``kind`` (an SQL expression) in words."""
    whens = " ".join(f"WHEN {sql_literal(k)} THEN {sql_literal(w)}" for k, w in KIND_WORDS.items())
    return f"(CASE {kind} {whens} ELSE 'a JSON value' END)"


def json_path(*keys: str) -> str:
    """A JSONPath naming nested keys exactly (quoted: dots, dollars, quotes in keys are safe)."""
    parts = ['"' + k.replace("\\", "\\\\").replace('"', '\\"') + '"' for k in keys]
    return "$." + ".".join(parts)


@dataclass(frozen=True)
class _Field:
    key: str
    objects: int  # rows where the value is an object
    others: int  # rows where it is anything else but null
    first: int  # first record that has it
    position: int  # its position in that record


def _fields(con: duckdb.DuckDBPyConnection, table: str, parent: str | None) -> list[_Field]:
    """The keys of the records (or of the objects under ``parent``), in first-seen order."""
    value = "_j" if parent is None else f"json_extract(_j, {sql_literal(json_path(parent))})"
    rows = con.execute(
        f"SELECT k.key, count_if(json_type(k.value) = 'OBJECT'), "
        "count_if(json_type(k.value) NOT IN ('OBJECT', 'NULL')), min(j._rec), arg_min(k.id, j._rec) "
        f"FROM (SELECT _rec, {value} AS _j FROM {table} WHERE json_type({value}) = 'OBJECT') j, "
        "json_each(j._j) k GROUP BY k.key ORDER BY 4, 5"
    ).fetchall()
    return [_Field(str(r[0]), int(r[1]), int(r[2]), int(r[3]), int(r[4])) for r in rows]


def load_json_file(
    con: duckdb.DuckDBPyConnection, i: int, path: Path, keep: Collection[str]
) -> str:
    """Read ``path`` into ``jraw_{i}`` (``_j`` JSON, ``_rec`` record number from 0).

    Returns a SELECT over ``jraw_{i}`` with one JSON column per field plus ``_read_column``,
    ``_read_error`` (a problem of the whole record) and ``_rec``. Fields named in ``keep`` (the table's known columns) are never flattened.
    Raises ``duckdb.Error`` when the file is not JSON.
    """
    table = f"jraw_{i}"
    con.execute(
        f"CREATE TEMP TABLE {table}_read AS "
        f"SELECT json AS _j FROM read_json_objects({path_literal(path)}, format = 'auto')"
    )
    con.execute(f"CREATE TEMP TABLE {table} AS SELECT _j, rowid AS _rec FROM {table}_read")
    con.execute(f"DROP TABLE {table}_read")
    known = {k.lower() for k in keep}
    sources: dict[str, str] = {}  # column (lower case) → the field it comes from
    columns: dict[str, str] = {}  # column → its SQL
    containers: list[str] = []

    def add(name: str, source: str, sql: str, line: int) -> None:
        if name == "":
            raise IngestError(
                f"record {line + 1} has a field with an empty name ('{source}')",
                where=str(path),
                hint="give every field a name",
            )
        earlier = sources.get(name.lower())
        if earlier is not None:
            raise IngestError(
                f"the fields '{earlier}' and '{source}' would both be the column '{name}'"
                + (" (column names ignore case)" if earlier.lower() == source.lower() else ""),
                where=str(path),
                hint="rename one of them in the file: each column must come from one field",
            )
        sources[name.lower()] = source
        # A JSON null is a missing value, like an absent field.
        columns[name] = f"CASE WHEN json_type({sql}) <> 'NULL' THEN {sql} END"

    for top in _fields(con, table, None):
        if top.key.lower() not in known and top.objects > top.others:
            containers.append(top.key)
            for sub in _fields(con, table, top.key):
                path_sql = sql_literal(json_path(top.key, sub.key))
                add(sub.key, f"{top.key}.{sub.key}", f"json_extract(_j, {path_sql})", sub.first)
        else:
            path_sql = sql_literal(json_path(top.key))
            add(top.key, top.key, f"json_extract(_j, {path_sql})", top.first)

    # Problems of a whole record: not an object, a repeated key, properties that are not an object.
    problems = [
        (
            "json_type(_j) <> 'OBJECT'",
            "''",
            f"'expected a JSON object, found ' || {kind_word_sql('json_type(_j)')}",
        ),
        (
            "len(json_keys(_j)) <> len(list_distinct(json_keys(_j)))",
            "list_filter(json_keys(_j), lambda k, n: list_position(json_keys(_j), k) < n)[1]",
            "'the key appears more than once in the record'",
        ),
    ]
    for key in containers:
        kind = f"json_type(json_extract(_j, {sql_literal(json_path(key))}))"
        problems.append(
            (
                f"{kind} NOT IN ('OBJECT', 'NULL')",
                sql_literal(key),
                f"'expected an object of properties, found ' || {kind_word_sql(kind)}",
            )
        )
    read_column = "CASE " + " ".join(f"WHEN {c} THEN {col}" for c, col, _ in problems) + " END"
    read_error = "CASE " + " ".join(f"WHEN {c} THEN {msg}" for c, _, msg in problems) + " END"
    select = [f"{sql} AS {quote(name)}" for name, sql in columns.items()]
    select += [f"{read_column} AS _read_column", f"{read_error} AS _read_error", "_rec"]
    return f"SELECT {', '.join(select)} FROM {table}"
