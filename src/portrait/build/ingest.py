"""Load users, events and orders files into the warehouse.

Every ingest validates rows (required columns present and non-empty, values of the declared
types, timestamps parseable, keys unique in the file), writes rejected rows with their row
number, column and reason to ``rejects/``, and swaps in a new warehouse version atomically: a
failed or interrupted ingest leaves the workspace as it was. Re-ingesting a file already loaded
(same content, same table, same mapping) changes nothing.

- users are keyed by ``user_id``: a known user's values are replaced, a new user gets the next
  dense id (``uid``), so ids are stable across ingests and rebuilds;
- orders are keyed by ``order_id`` (a re-sent order replaces the earlier row);
- events are appended in batches; events of users not (yet) in users are kept and reported.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import duckdb
import pyarrow as pa

from portrait.build.warehouse import TableState, warehouse_dir
from portrait.config import Config
from portrait.engine.base import EngineSettings
from portrait.engine.duckdb import DuckDBEngine, path_literal, quote, sql_literal, value_type
from portrait.errors import IngestError, InputError
from portrait.model.schema import TABLE_SPECS, TableSpec
from portrait.progress import NullProgress, Progress
from portrait.store.layout import Layout
from portrait.store.manifest import read_manifest, write_manifest
from portrait.store.versions import link_or_copy, workspace_lock

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
_SQL_TYPES = {
    "string": "VARCHAR",
    "int": "BIGINT",
    "float": "DOUBLE",
    "bool": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
    "list<string>": "VARCHAR[]",
}
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
MAX_EXAMPLES = 5


@dataclass(frozen=True)
class RowProblem:
    row: int
    column: str
    reason: str

    def __str__(self) -> str:
        return f"row {self.row}, column '{self.column}': {self.reason}"


@dataclass
class IngestReport:
    table: str
    file: str
    rows_read: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    rejects_file: str | None = None
    new_users: int = 0
    updated_rows: int = 0
    unknown_user_rows: int = 0
    unknown_users: int = 0
    unknown_user_examples: list[str] = field(default_factory=list)
    already_ingested: bool = False
    warehouse_version: str = ""
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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


class _Reader:
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
        return f"CAST({col} AS {_SQL_TYPES[vtype]})"
    if vtype == "bool":
        return f"TRY_CAST({text} AS BOOLEAN)"
    if vtype == "int" and not raw.endswith("INT"):
        # TRY_CAST('4.5' AS BIGINT) rounds; a whole number must look like one.
        return f"CASE WHEN regexp_full_match({text}, '[+-]?[0-9]+') THEN TRY_CAST({text} AS BIGINT) END"
    return f"TRY_CAST({text} AS {_SQL_TYPES[vtype]})"


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


def _column_types(
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


def _validation_query(
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
    which = "NULL"
    if checks:
        which = (
            "CASE " + " ".join(f"WHEN {c} THEN {i}" for i, (c, _, _) in enumerate(checks)) + " END"
        )
    column_of = (
        "CASE _check "
        + " ".join(f"WHEN {i} THEN '{col}'" for i, (_, col, _) in enumerate(checks))
        + " END"
        if checks
        else "NULL"
    )
    error_of = (
        "CASE _check "
        + " ".join(f"WHEN {i} THEN {reason}" for i, (_, _, reason) in enumerate(checks))
        + " END"
        if checks
        else "NULL"
    )
    outputs = ", ".join(f"{typed[c]} AS {quote(c)}" for c in types)
    return (
        f"SELECT _row, _fname, _line, {column_of} AS _column, {error_of} AS _error, {outputs} "
        f"FROM (SELECT *, {which} AS _check FROM (SELECT *, {first} FROM "
        f"(SELECT *, rowid + 1 AS _row, {conversions} FROM src)))"
    )


def ingest(
    layout: Layout,
    config: Config,
    table: str,
    paths: Path | list[Path],
    *,
    mapping: Mapping[str, str] | None = None,
    on_error: str | None = None,
    fmt: str | None = None,
    progress: Progress | None = None,
) -> IngestReport:
    """Validate ``paths`` (one file or several of one format) and load them into ``table`` as
    one new warehouse version."""
    started = time.perf_counter()
    progress = progress or NullProgress()
    if table not in TABLE_SPECS:
        raise InputError(f"unknown table '{table}'", hint="ingest users, events or orders")
    spec = TABLE_SPECS[table]
    on_error = on_error or config["ingest.on_error"]
    if on_error not in ("reject", "fail"):
        raise InputError(f"unknown --on-error '{on_error}'", hint="use reject or fail")
    files = [Path(p) for p in (paths if isinstance(paths, list) else [paths])]
    if not files:
        raise InputError("no file given", hint=f"portrait ingest {table} FILE")
    for f in files:
        if not f.is_file():
            raise IngestError("file not found", where=str(f))
    formats = {detect_format(f, fmt) for f in files}
    if len(formats) > 1:
        raise IngestError(
            "files of one ingest must share a format", where=", ".join(map(str, files))
        )
    file_format = formats.pop()
    path = files[0]
    label = str(path) if len(files) == 1 else f"{path} (+{len(files) - 1} more)"
    mapping = dict(mapping or {})
    report = IngestReport(table=table, file=label)

    with workspace_lock(layout.lock_file):
        store = warehouse_dir(layout)
        current = store.current()
        manifest = read_manifest(current)
        tables = {n: TableState.from_json(n, d) for n, d in manifest.get("tables", {}).items()}
        previous = tables.get(table)
        digest = (
            file_digest(files[0])
            if len(files) == 1
            else hashlib.sha256("".join(file_digest(f) for f in files).encode()).hexdigest()
        )
        batch_key = {"sha256": digest, "mapping": mapping}
        if previous and any(
            b.get("sha256") == digest and b.get("mapping", {}) == mapping for b in previous.batches
        ):
            report.already_ingested = True
            report.warehouse_version = current.name if current else ""
            report.seconds = time.perf_counter() - started
            return report

        engine = DuckDBEngine(EngineSettings.from_config(config, layout.spill_dir))
        con = engine.con
        try:
            con.execute("SET TimeZone = ?", [config["data.timezone"]])
            progress.start(
                f"read {path.name}" + (f" (+{len(files) - 1})" if len(files) > 1 else "")
            )
            reader = _Reader(con, files, file_format)
            raw = reader.load()
            raw = _apply_mapping(con, raw, mapping, path)
            _check_required(spec, raw, path, mapping)
            progress.finish()
            types = _column_types(con, spec, raw, previous, infer=file_format == "csv")

            progress.start("validate rows")
            utc = config["data.timezone"] == "UTC"
            con.execute(
                "CREATE TEMP TABLE checked AS "
                + _validation_query(spec, types, raw, utc, trim=file_format == "csv")
            )
            progress.finish()
            counts = con.execute("SELECT count(*), count(_error) FROM checked").fetchone()
            assert counts is not None
            report.rows_read, report.rows_rejected = int(counts[0]), int(counts[1])
            report.rows_loaded = report.rows_read - report.rows_rejected
            examples = con.execute(
                f"SELECT _fname, _line, _column, _error FROM checked WHERE _error IS NOT NULL "
                f"ORDER BY _row LIMIT {MAX_EXAMPLES}"
            ).fetchall()
            row_word = "line" if file_format == "jsonl" else "row"
            report.problems = [
                f"{r[0]} {row_word} {r[1]}, column '{r[2]}': {r[3]}" for r in examples
            ]
            if report.rows_rejected and on_error == "fail":
                more = report.rows_rejected - len(examples)
                raise IngestError(
                    f"{report.rows_rejected} of {report.rows_read} rows are invalid; nothing was "
                    "loaded:\n  "
                    + "\n  ".join(report.problems)
                    + (f"\n  … and {more} more" if more > 0 else ""),
                    where=label,
                    hint="fix the rows, or use --on-error reject to load the valid rows",
                )
            if report.rows_loaded == 0 and report.rows_read > 0:
                raise IngestError(
                    f"all {report.rows_read} rows are invalid; nothing was loaded:\n  "
                    + "\n  ".join(report.problems),
                    where=label,
                )
            if report.rows_read == 0:  # a header alone: nothing changes, no new version
                report.warehouse_version = current.name if current else ""
                report.seconds = time.perf_counter() - started
                return report

            with store.stage() as staging:
                progress.start(f"write {table}")
                if report.rows_rejected:
                    report.rejects_file = str(_write_rejects(con, layout, table, path))
                new_state = _write_table(con, spec, types, staging, current, previous, report)
                new_state.batches.append(
                    {
                        **batch_key,
                        "file": label,
                        "rows": report.rows_loaded,
                        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                    }
                )
                tables[table] = new_state
                for other, state in tables.items():
                    if other != table and current is not None:
                        for rel in state.files:
                            (staging / rel).parent.mkdir(parents=True, exist_ok=True)
                            link_or_copy(current / rel, staging / rel)
                if table in ("events", "orders") and "users" in tables and current is not None:
                    _report_unknown_users(con, tables["users"], staging, report)
                elif table in ("events", "orders"):
                    _report_unknown_users(con, None, staging, report)
                write_manifest(
                    staging,
                    {
                        "format": 1,
                        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                        "tables": {n: s.to_json() for n, s in tables.items()},
                    },
                )
                progress.finish()
            store.prune(config["store.keep_versions"])
            live = store.current()
            report.warehouse_version = live.name if live else ""
        finally:
            engine.close()
    report.seconds = time.perf_counter() - started
    return report


def _apply_mapping(
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


def _check_required(
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


def _write_rejects(con: duckdb.DuckDBPyConnection, layout: Layout, table: str, path: Path) -> Path:
    layout.rejects_dir.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
    out = layout.rejects_dir / f"{table}-{path.stem}-{stamp}.csv"
    tmp = out.with_suffix(".tmp")
    con.execute(
        "COPY (SELECT s._fname AS _file, s._line AS _row, c._column, c._error, "
        "s.* EXCLUDE (_fname, _line) FROM src s "
        "JOIN checked c ON c._row = s.rowid + 1 WHERE c._error IS NOT NULL ORDER BY c._row) "
        f"TO {path_literal(tmp)} (FORMAT csv, HEADER true)"
    )
    tmp.replace(out)
    return out


def _write_table(
    con: duckdb.DuckDBPyConnection,
    spec: TableSpec,
    types: Mapping[str, str],
    staging: Path,
    current: Path | None,
    previous: TableState | None,
    report: IngestReport,
) -> TableState:
    """Write the table's files for the new version into ``staging``; return its state."""
    columns = dict(previous.columns) if previous else {}
    columns.update(types)
    version = (previous.version if previous else 0) + 1
    batches = list(previous.batches) if previous else []
    (staging / spec.name).mkdir(parents=True, exist_ok=True)
    good = "SELECT * EXCLUDE (_column, _error, _fname, _line) FROM checked WHERE _error IS NULL"

    if spec.key is None:  # events: append one batch file, keep the earlier ones
        files = list(previous.files) if previous else []
        for f in files:
            assert current is not None
            link_or_copy(current / f, staging / f)
        name = f"{spec.name}/batch-{version:06d}.parquet"
        con.execute(
            f"COPY (SELECT * EXCLUDE (_row) FROM ({good})) "
            f"TO {path_literal(staging / name)} (FORMAT parquet, COMPRESSION zstd)"
        )
        row = con.execute(f"SELECT count(*), CAST(max(ts) AS VARCHAR) FROM ({good})").fetchone()
        assert row is not None
        times = [t for t in (row[1], previous.max_time if previous else None) if t]
        rows = (previous.rows if previous else 0) + int(row[0])
        return TableState(
            spec.name,
            [*files, name],
            rows,
            columns,
            version,
            batches,
            -1,
            max(times) if times else None,
        )

    key = quote(spec.key)
    con.execute(f"CREATE TEMP TABLE new AS {good}")
    out_cols = [c for c in columns if c != "uid"]
    if previous is not None and current is not None:
        old = path_literal(current / previous.files[0])
        con.execute(f"CREATE TEMP VIEW old AS SELECT * FROM read_parquet({old})")
        row = con.execute(f"SELECT count(*) FROM new JOIN old USING ({key})").fetchone()
        report.updated_rows = int(row[0]) if row else 0
        parts = []
        for c in out_cols:
            q = quote(c)
            if c == spec.key:
                parts.append(f"COALESCE(n.{q}, o.{q}) AS {q}")
            elif c in types and c in previous.columns:  # a row in the file replaces the old row
                parts.append(f"CASE WHEN n._present THEN n.{q} ELSE o.{q} END AS {q}")
            elif c in types:
                parts.append(f"n.{q} AS {q}")
            else:  # a column the file does not have keeps its earlier values
                parts.append(f"o.{q} AS {q}")
        uid = ""
        if spec.name == "users":
            uid = (
                f"COALESCE(o.uid, {previous.max_uid} + row_number() OVER "
                "(PARTITION BY o.uid IS NULL ORDER BY n._row)) AS uid, "
            )
        select = (
            f"SELECT {uid}{', '.join(parts)} FROM (SELECT *, TRUE AS _present FROM new) n "
            f"FULL OUTER JOIN old o USING ({key})"
        )
    else:
        uid = "row_number() OVER (ORDER BY _row) - 1 AS uid, " if spec.name == "users" else ""
        select = f"SELECT {uid}* EXCLUDE (_row) FROM new"
    order = " ORDER BY uid" if spec.name == "users" else ""
    name = f"{spec.name}/{spec.name}.parquet"
    target = path_literal(staging / name)
    con.execute(
        f"COPY (SELECT * FROM ({select}){order}) TO {target} (FORMAT parquet, COMPRESSION zstd)"
    )
    max_uid = "max(uid)" if spec.name == "users" else "-1"
    max_ts = "CAST(max(ts) AS VARCHAR)" if spec.time_column else "NULL"
    row = con.execute(
        f"SELECT count(*), {max_uid}, {max_ts} FROM read_parquet({target})"
    ).fetchone()
    assert row is not None
    if spec.name == "users":
        report.new_users = int(row[0]) - (previous.rows if previous else 0)
    return TableState(
        spec.name,
        [name],
        int(row[0]),
        columns,
        version,
        batches,
        int(row[1]) if row[1] is not None else -1,
        row[2],
    )


def _report_unknown_users(
    con: duckdb.DuckDBPyConnection, users: TableState | None, staging: Path, report: IngestReport
) -> None:
    good = "SELECT user_id FROM checked WHERE _error IS NULL"
    if users is None:
        row = con.execute(f"SELECT count(*), count(DISTINCT user_id) FROM ({good})").fetchone()
        examples = con.execute(
            f"SELECT DISTINCT user_id FROM ({good}) ORDER BY 1 LIMIT {MAX_EXAMPLES}"
        ).fetchall()
    else:
        known = f"read_parquet({path_literal(staging / users.files[0])})"
        anti = f"SELECT e.user_id FROM ({good}) e ANTI JOIN (SELECT user_id FROM {known}) u USING (user_id)"
        row = con.execute(f"SELECT count(*), count(DISTINCT user_id) FROM ({anti})").fetchone()
        examples = con.execute(
            f"SELECT DISTINCT user_id FROM ({anti}) ORDER BY 1 LIMIT {MAX_EXAMPLES}"
        ).fetchall()
    assert row is not None
    report.unknown_user_rows, report.unknown_users = int(row[0]), int(row[1])
    report.unknown_user_examples = [r[0] for r in examples]
