"""Input files → the temp table ``src``: every data column, plus where each row came from.

``src`` has ``_fname`` and ``_line`` (the file's label and the row's number in it: the data row
for CSV and Parquet, the line for JSON lines) so every problem can be pointed at, and
``_read_column``/``_read_error`` for a problem of the whole record found while reading (JSON
lines). Each file is read into a table of its own first (``src_<i>``; JSON: ``jraw_<i>``), then
the files are combined by column name.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import duckdb
import pyarrow as pa

from portrait.engine.duckdb.jsonlines import load_json_file
from portrait.engine.duckdb.sqltext import path_literal, quote, sql_literal
from portrait.engine.loading import (
    MAX_LINE_BYTES,
    FileFormat,
    IncompatibleFiles,
    InputFile,
    ReadProblem,
    UnreadableFile,
)

#: Columns of ``src`` that say where a row came from and what was wrong with it as a whole.
BOOKKEEPING = ("_fname", "_line", "_read_column", "_read_error")


def _problem(message: str) -> ReadProblem | None:
    """What DuckDB's message says went wrong, when it is something ingest can pin down."""
    text = message.lower()
    if "maximum line size" in text:
        return "line_too_long"
    if "malformed json" in text:
        return "not_json"
    return None


def read_file(
    con: duckdb.DuckDBPyConnection, i: int, file: InputFile, fmt: FileFormat, keep: Collection[str]
) -> str:
    """Read one file into a temp table; return the SELECT of its data columns plus
    ``_read_column``, ``_read_error`` and ``_rec`` (the record number from 0).

    ``keep``: JSON fields never flattened (the table's known columns)."""
    lit = path_literal(file.path)
    no_problem = "CAST(NULL AS VARCHAR) AS _read_column, CAST(NULL AS VARCHAR) AS _read_error"
    try:
        if fmt == "jsonl":
            return load_json_file(con, i, file.path, keep)
        if fmt == "csv":
            con.execute(
                f"CREATE TEMP TABLE src_{i} AS SELECT * FROM read_csv({lit}, "
                "all_varchar = true, header = true, delim = ?, quote = '\"', escape = '\"', "
                f"strict_mode = true, null_padding = false, max_line_size = {MAX_LINE_BYTES})",
                [file.delimiter],
            )
        else:
            con.execute(f"CREATE TEMP TABLE src_{i} AS SELECT * FROM read_parquet({lit})")
    except duckdb.Error as exc:
        raise UnreadableFile(file.path, str(exc), _problem(str(exc))) from None
    return f"SELECT *, {no_problem}, rowid AS _rec FROM src_{i}"


def _json_lines(con: duckdb.DuckDBPyConnection, i: int, file: InputFile) -> str | None:
    """A table mapping record number → physical line (read_json skips blank lines)."""
    with open(file.path, "rb") as fh:
        head = fh.read(4096).lstrip()
    if head.startswith(b"["):  # one JSON array: there are no lines to point at
        return None
    lines = []
    with open(file.path, "rb") as fh:
        for number, line in enumerate(fh, start=1):
            if line.strip():
                lines.append(number)
    table = pa.table(
        {"record": pa.array(range(len(lines)), pa.int64()), "line": pa.array(lines, pa.int64())}
    )
    con.register(f"lines_{i}_arrow", table)
    con.execute(f"CREATE TEMP TABLE lines_{i} AS SELECT * FROM lines_{i}_arrow")
    con.unregister(f"lines_{i}_arrow")
    return f"lines_{i}"


def combine(
    con: duckdb.DuckDBPyConnection, reads: Sequence[tuple[InputFile, str]], fmt: FileFormat
) -> dict[str, str]:
    """Create ``src`` from the files read (each with the SELECT :func:`read_file` returned);
    return its data columns."""
    parts = []
    for i, (file, read) in enumerate(reads):
        fname = sql_literal(file.label)
        lines = _json_lines(con, i, file) if fmt == "jsonl" else None
        source = f"({read}) s"
        line = "s._rec + 1"
        if lines is not None:
            source += f" JOIN {lines} l ON l.record = s._rec"
            line = "l.line"
        parts.append(
            f"SELECT s.* EXCLUDE (_rec), {fname} AS _fname, {line} AS _line, "
            f"{i} AS _fidx FROM {source}"
        )
    union = " UNION ALL BY NAME ".join(f"({p})" for p in parts)
    # One scanned file keeps its order; unions and joins need sorting back into it.
    order = "" if len(parts) == 1 and fmt != "jsonl" else " ORDER BY _fidx, _line"
    try:
        con.execute(f"CREATE TEMP TABLE src AS SELECT * EXCLUDE (_fidx) FROM ({union}){order}")
    except duckdb.Error as exc:
        raise IncompatibleFiles(str(exc)) from None
    for i in range(len(reads)):
        con.execute(f"DROP TABLE IF EXISTS src_{i}")
        con.execute(f"DROP TABLE IF EXISTS jraw_{i}")
    return data_columns(con)


def data_columns(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Columns of ``src`` without the bookkeeping ones."""
    return {r[0]: r[1] for r in con.execute("DESCRIBE src").fetchall() if r[0] not in BOOKKEEPING}


def rename(con: duckdb.DuckDBPyConnection, columns: Sequence[tuple[str, str]]) -> dict[str, str]:
    """Keep only ``columns`` of ``src`` (name, new name), in that order; return them."""
    select = ", ".join(f"{quote(old)} AS {quote(new)}" for old, new in columns)
    keep = ", ".join(BOOKKEEPING)
    con.execute(f"CREATE TEMP TABLE src2 AS SELECT {select}, {keep} FROM src ORDER BY rowid")
    con.execute("DROP TABLE src")
    con.execute("ALTER TABLE src2 RENAME TO src")
    return data_columns(con)


def as_written(column: str, raw_type: str, table: str) -> str:
    """SQL for a raw value of ``table`` as the file had it (a JSON string without quotes)."""
    col = f"{table}.{quote(column)}"
    if raw_type.upper() == "JSON":
        return f"CASE WHEN json_type({col}) = 'VARCHAR' THEN {col} ->> '$' ELSE CAST({col} AS VARCHAR) END"
    return col
