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
from typing import Any

import duckdb

from portrait.config import Config
from portrait.engine import settings_from_config
from portrait.engine.duckdb import DuckDBEngine
from portrait.engine.duckdb.sqltext import path_literal, quote
from portrait.errors import IngestError, InputError
from portrait.ingest.readers import (
    FileReader,
    apply_mapping,
    as_written,
    data_columns,
    detect_format,
    file_digest,
)
from portrait.ingest.validation import check_required, column_types, validation_query
from portrait.model.schema import TABLE_SPECS, TableSpec
from portrait.progress import NullProgress, Progress
from portrait.store.layout import Layout
from portrait.store.manifest import read_manifest, write_manifest
from portrait.store.timebounds import TimeBounds
from portrait.store.versions import link_or_copy, workspace_lock
from portrait.store.warehouse import TableState, warehouse_dir

MAX_EXAMPLES = 5


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

        engine = DuckDBEngine(settings_from_config(config, layout.spill_dir))
        con = engine.con
        try:
            con.execute("SET TimeZone = ?", [config["data.timezone"]])
            progress.start(
                f"read {path.name}" + (f" (+{len(files) - 1})" if len(files) > 1 else "")
            )
            reader = FileReader(con, files, file_format, keep={*spec.known(), *mapping.values()})
            raw = reader.load()
            raw = apply_mapping(con, raw, mapping, path)
            check_required(spec, raw, path, mapping)
            progress.finish()
            types = column_types(con, spec, raw, previous, infer=file_format == "csv")

            progress.start("validate rows")
            utc = config["data.timezone"] == "UTC"
            bounds = TimeBounds.from_config(config)
            con.execute(
                "CREATE TEMP TABLE checked AS "
                + validation_query(spec, types, raw, bounds, utc, trim=file_format == "csv")
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
                f"{r[0]} {row_word} {r[1]}" + (f", column '{r[2]}'" if r[2] else "") + f": {r[3]}"
                for r in examples
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
                new_state = _write_table(
                    con, spec, types, staging, current, previous, report, bounds
                )
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


def _write_rejects(con: duckdb.DuckDBPyConnection, layout: Layout, table: str, path: Path) -> Path:
    layout.rejects_dir.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
    out = layout.rejects_dir / f"{table}-{path.stem}-{stamp}.csv"
    tmp = out.with_suffix(".tmp")
    values = ", ".join(
        f"{as_written(c, t, 's')} AS {quote(c)}" for c, t in data_columns(con).items()
    )
    con.execute(
        "COPY (SELECT s._fname AS _file, s._line AS _row, c._column, c._error, "
        f"{values} FROM src s "
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
    bounds: TimeBounds,
) -> TableState:
    """Write the table's files for the new version into ``staging``; return its state.

    ``max_time`` counts only times inside ``bounds``: rows stored before ingest checked the
    range stay stored (the build leaves them out) but must not move the as-of date."""
    lo, hi = bounds.sql()
    in_range = f"FILTER (WHERE ts >= {lo} AND ts < {hi})"
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
        earlier = previous.max_time if previous else None
        if previous is not None and current is not None and not bounds.holds_text(earlier):
            stored = "[" + ", ".join(path_literal(current / f) for f in previous.files) + "]"
            found = con.execute(
                f"SELECT CAST(max(ts) {in_range} AS VARCHAR) "
                f"FROM read_parquet({stored}, union_by_name = true)"
            ).fetchone()
            earlier = found[0] if found else None
        times = [t for t in (row[1], earlier) if t]
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
    max_ts = f"CAST(max(ts) {in_range} AS VARCHAR)" if spec.time_column else "NULL"
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
