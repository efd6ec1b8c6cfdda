"""Input files → a DuckDB table ``src`` with the file name and row number of every row."""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Literal

import duckdb
import pyarrow as pa

from portrait.engine.duckdb.sqltext import path_literal, quote, sql_literal
from portrait.errors import IngestError, InputError
from portrait.ingest.jsonlines import load_json_file
from portrait.ingest.textchecks import MAX_LINE_BYTES, check_csv_header, read_error

FileFormat = Literal["csv", "parquet", "jsonl"]
_SUFFIXES: dict[str, FileFormat] = {
    ".csv": "csv",
    ".txt": "csv",
    ".tsv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}


def detect_format(path: Path, fmt: str | None) -> FileFormat:
    if fmt:
        if fmt not in ("csv", "parquet", "jsonl"):
            raise InputError(f"unknown format '{fmt}'", hint="use csv, parquet or jsonl")
        return fmt  # type: ignore[return-value]
    found = _SUFFIXES.get(path.suffix.lower())
    if found is None:
        raise IngestError(
            f"cannot tell the format from the suffix '{path.suffix}'",
            where=str(path),
            hint="name the file .csv, .parquet or .jsonl, or pass --file-format",
        )
    return found


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class FileReader:
    """Reads input files into a DuckDB temp table ``src`` with ``_fname`` and ``_line``
    (the file's name and the row's number in it: the data row for CSV and Parquet, the line
    for JSON lines) so every problem can be pointed at, and ``_read_column``/``_read_error``
    for a problem of the whole record found while reading (JSON lines).

    ``keep``: column names never flattened (the table's known columns)."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        paths: list[Path],
        fmt: FileFormat,
        keep: Collection[str] = (),
    ):
        self.con = con
        self.paths = paths
        self.fmt = fmt
        self.keep = keep

    @staticmethod
    def delimiter(path: Path) -> str:
        return "\t" if path.suffix.lower() == ".tsv" else ","

    def _read(self, i: int, path: Path) -> str:
        """Read one file into a temp table; return the SELECT of its data columns plus
        ``_read_column``, ``_read_error`` and ``_rec`` (the record number from 0)."""
        lit = path_literal(path)
        no_problem = "CAST(NULL AS VARCHAR) AS _read_column, CAST(NULL AS VARCHAR) AS _read_error"
        try:
            if self.fmt == "jsonl":
                return load_json_file(self.con, i, path, self.keep)
            if self.fmt == "csv":
                check_csv_header(path, self.delimiter(path))
                self.con.execute(
                    f"CREATE TEMP TABLE src_{i} AS SELECT * FROM read_csv({lit}, "
                    "all_varchar = true, header = true, delim = ?, quote = '\"', escape = '\"', "
                    f"strict_mode = true, null_padding = false, max_line_size = {MAX_LINE_BYTES})",
                    [self.delimiter(path)],
                )
            else:
                self.con.execute(f"CREATE TEMP TABLE src_{i} AS SELECT * FROM read_parquet({lit})")
        except duckdb.Error as exc:
            raise read_error(path, self.fmt, self.delimiter(path), str(exc)) from None
        return f"SELECT *, {no_problem}, rowid AS _rec FROM src_{i}"

    def label(self, path: Path) -> str:
        """How problems name a file: its name, or the path when two files share a name."""
        names = [p.name for p in self.paths]
        return path.name if names.count(path.name) == 1 else str(path)

    def _json_lines(self, i: int, path: Path) -> str | None:
        """A table mapping record number → physical line (read_json skips blank lines)."""
        with open(path, "rb") as fh:
            head = fh.read(4096).lstrip()
        if head.startswith(b"["):  # one JSON array: there are no lines to point at
            return None
        lines = []
        with open(path, "rb") as fh:
            for number, line in enumerate(fh, start=1):
                if line.strip():
                    lines.append(number)
        table = pa.table(
            {"record": pa.array(range(len(lines)), pa.int64()), "line": pa.array(lines, pa.int64())}
        )
        self.con.register(f"lines_{i}_arrow", table)
        self.con.execute(f"CREATE TEMP TABLE lines_{i} AS SELECT * FROM lines_{i}_arrow")
        self.con.unregister(f"lines_{i}_arrow")
        return f"lines_{i}"

    def load(self) -> dict[str, str]:
        reads = [self._read(i, path) for i, path in enumerate(self.paths)]
        parts = []
        for i, (path, read) in enumerate(zip(self.paths, reads, strict=True)):
            fname = sql_literal(self.label(path))
            lines = self._json_lines(i, path) if self.fmt == "jsonl" else None
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
        order = "" if len(parts) == 1 and self.fmt != "jsonl" else " ORDER BY _fidx, _line"
        try:
            self.con.execute(
                f"CREATE TEMP TABLE src AS SELECT * EXCLUDE (_fidx) FROM ({union}){order}"
            )
        except duckdb.Error as exc:
            raise IngestError(
                f"cannot combine the columns of the files: {str(exc).splitlines()[0]}",
                where=", ".join(str(p) for p in self.paths),
                hint="give a column the same type in every file",
            ) from None
        for i in range(len(self.paths)):
            self.con.execute(f"DROP TABLE IF EXISTS src_{i}")
            self.con.execute(f"DROP TABLE IF EXISTS jraw_{i}")
        return data_columns(self.con)


#: Columns of ``src`` that say where a row came from and what was wrong with it as a whole.
BOOKKEEPING = ("_fname", "_line", "_read_column", "_read_error")


def data_columns(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Columns of ``src`` without the bookkeeping ones."""
    return {r[0]: r[1] for r in con.execute("DESCRIBE src").fetchall() if r[0] not in BOOKKEEPING}


def as_written(column: str, raw_type: str, table: str) -> str:
    """SQL for a raw value of ``table`` as the file had it (a JSON string without quotes)."""
    col = f"{table}.{quote(column)}"
    if raw_type.upper() == "JSON":
        return f"CASE WHEN json_type({col}) = 'VARCHAR' THEN {col} ->> '$' ELSE CAST({col} AS VARCHAR) END"
    return col


def apply_mapping(
    con: duckdb.DuckDBPyConnection, raw: dict[str, str], mapping: Mapping[str, str], path: Path
) -> dict[str, str]:
    if not mapping:
        return raw
    for target, source in mapping.items():
        if source not in raw:
            raise IngestError(
                f"--map {target}={source}: the file has no column '{source}'",
                where=str(path),
                hint="columns in the file: " + ", ".join(raw),
            )
    renamed = {source: target for target, source in mapping.items()}
    select = ", ".join(
        f"{quote(c)} AS {quote(renamed.get(c, c))}"
        for c in raw
        if not (c not in renamed and c in mapping)  # a mapped target shadows a same-named column
    )
    keep = ", ".join(BOOKKEEPING)
    con.execute(f"CREATE TEMP TABLE src2 AS SELECT {select}, {keep} FROM src ORDER BY rowid")
    con.execute("DROP TABLE src")
    con.execute("ALTER TABLE src2 RENAME TO src")
    return data_columns(con)
