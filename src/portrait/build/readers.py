"""Input files → a DuckDB table ``src`` with the file name and row number of every row."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import duckdb
import pyarrow as pa

from portrait.engine.duckdb import path_literal, quote, sql_literal
from portrait.errors import IngestError, InputError

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


def parse_mapping(items: list[str] | None) -> dict[str, str]:
    """``["user_id=uid", "ts=event_time"]`` → ``{"user_id": "uid", "ts": "event_time"}``."""
    mapping: dict[str, str] = {}
    for item in items or []:
        target, sep, source = item.partition("=")
        if not sep or not target.strip() or not source.strip():
            raise InputError(
                f"bad column mapping '{item}'",
                hint="write TARGET=SOURCE, e.g. --map user_id=member_no",
            )
        mapping[target.strip()] = source.strip()
    return mapping


class FileReader:
    """Reads input files into a DuckDB temp table ``src`` with ``_fname`` and ``_line``
    (the file's name and the row's number in it: the data row for CSV and Parquet, the line
    for JSON lines) so every problem can be pointed at."""

    def __init__(self, con: duckdb.DuckDBPyConnection, paths: list[Path], fmt: FileFormat):
        self.con = con
        self.paths = paths
        self.fmt = fmt

    def _source(self, path: Path) -> tuple[str, list[Any]]:
        lit = path_literal(path)
        if self.fmt == "csv":
            sep = "\t" if path.suffix.lower() == ".tsv" else ","
            return (
                f"read_csv({lit}, all_varchar = true, header = true, delim = ?, "
                "quote = '\"', escape = '\"', strict_mode = true, null_padding = false)",
                [sep],
            )
        if self.fmt == "parquet":
            return f"read_parquet({lit})", []
        return f"read_json({lit}, format = 'auto')", []

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
        for i, path in enumerate(self.paths):
            source, params = self._source(path)
            try:
                self.con.execute(f"CREATE TEMP TABLE src_{i} AS SELECT * FROM {source}", params)
            except duckdb.Error as exc:
                raise IngestError(
                    f"cannot read the file as {self.fmt}: {str(exc).splitlines()[0]}",
                    where=str(path),
                    hint="check the format, the header line and the quoting",
                ) from None
        parts = []
        for i, path in enumerate(self.paths):
            columns = {r[0]: r[1] for r in self.con.execute(f"DESCRIBE src_{i}").fetchall()}
            select = []
            for name, typ in columns.items():
                is_struct = typ.upper().startswith("STRUCT(") and typ.endswith(")")
                if is_struct and self.fmt == "jsonl":
                    # JSON objects nest event properties: lift struct fields to columns.
                    fields = self.con.execute(
                        f"SELECT unnest(struct_keys(any_value({quote(name)}))) FROM src_{i}"
                    ).fetchall()
                    select += [f"s.{quote(name)}.{quote(f[0])} AS {quote(f[0])}" for f in fields]
                else:
                    select.append(f"s.{quote(name)}")
            fname = sql_literal(self.label(path))
            lines = self._json_lines(i, path) if self.fmt == "jsonl" else None
            source = f"(SELECT *, rowid AS _rec FROM src_{i}) s"
            line = "s._rec + 1"
            if lines is not None:
                source += f" JOIN {lines} l ON l.record = s._rec"
                line = "l.line"
            parts.append(
                f"SELECT {', '.join(select)}, {fname} AS _fname, {line} AS _line, "
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
                hint="nested values other than one level of properties are not supported",
            ) from None
        for i in range(len(self.paths)):
            self.con.execute(f"DROP TABLE src_{i}")
        return data_columns(self.con)


def data_columns(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Columns of ``src`` without the bookkeeping ones."""
    return {
        r[0]: r[1]
        for r in con.execute("DESCRIBE src").fetchall()
        if r[0] not in ("_fname", "_line")
    }


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
    con.execute(f"CREATE TEMP TABLE src2 AS SELECT {select}, _fname, _line FROM src ORDER BY rowid")
    con.execute("DROP TABLE src")
    con.execute("ALTER TABLE src2 RENAME TO src")
    return data_columns(con)
