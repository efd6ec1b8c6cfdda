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

from sqlglot import exp

from portrait.config import Config
from portrait.engine import Engine, Staging, file_loading, open_engine, settings_from_config
from portrait.engine.loading import StoredTable
from portrait.errors import IngestError, InputError
from portrait.ingest.readers import apply_mapping, detect_format, file_digest, stage_files
from portrait.ingest.validation import check_required, column_types
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

        engine = open_engine(settings_from_config(config, layout.spill_dir))
        try:
            loading = file_loading(engine, "ingest")
            progress.start(
                f"read {path.name}" + (f" (+{len(files) - 1})" if len(files) > 1 else "")
            )
            load = loading.staging(file_format, keep={*spec.known(), *mapping.values()})
            raw = stage_files(load, files, file_format)
            raw = apply_mapping(load, raw, mapping, path)
            check_required(spec, raw, path, mapping)
            progress.finish()
            types = column_types(load, spec, raw, previous, infer=file_format == "csv")

            progress.start("validate rows")
            bounds = TimeBounds.from_config(config)
            checked = load.check_rows(
                spec, types, bounds, trim=file_format == "csv", examples=MAX_EXAMPLES
            )
            progress.finish()
            report.rows_read, report.rows_rejected = checked.rows, checked.rejected
            report.rows_loaded = report.rows_read - report.rows_rejected
            row_word = "line" if file_format == "jsonl" else "row"
            report.problems = [
                f"{p.file} {row_word} {p.line}"
                + (f", column '{p.column}'" if p.column else "")
                + f": {p.error}"
                for p in checked.problems
            ]
            if report.rows_rejected and on_error == "fail":
                more = report.rows_rejected - len(checked.problems)
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
                    report.rejects_file = str(_write_rejects(load, layout, table, path))
                new_state = _write_table(
                    engine, load, spec, types, staging, current, previous, report, bounds
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
                if table in ("events", "orders"):
                    users = tables.get("users") if current is not None else None
                    _report_unknown_users(load, users, staging, report)
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


def _write_rejects(load: Staging, layout: Layout, table: str, path: Path) -> Path:
    layout.rejects_dir.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
    out = layout.rejects_dir / f"{table}-{path.stem}-{stamp}.csv"
    tmp = out.with_suffix(".tmp")
    load.write_rejects(tmp)
    tmp.replace(out)
    return out


def _write_table(
    engine: Engine,
    load: Staging,
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
    columns = dict(previous.columns) if previous else {}
    columns.update(types)
    version = (previous.version if previous else 0) + 1
    batches = list(previous.batches) if previous else []
    (staging / spec.name).mkdir(parents=True, exist_ok=True)

    if spec.key is None:  # events: append one batch file, keep the earlier ones
        files = list(previous.files) if previous else []
        for f in files:
            assert current is not None
            link_or_copy(current / f, staging / f)
        name = f"{spec.name}/batch-{version:06d}.parquet"
        written = load.append_rows(staging / name, time_column=spec.time_column)
        earlier = previous.max_time if previous else None
        if previous is not None and current is not None and not bounds.holds_text(earlier):
            earlier = _latest_time(engine, previous.paths(current), bounds)
        times = [t for t in (written.max_time, earlier) if t]
        rows = (previous.rows if previous else 0) + written.rows
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

    stored, next_uid = None, 0
    if previous is not None and current is not None:
        stored = StoredTable(current / previous.files[0], previous.columns)
        next_uid = previous.max_uid + 1
    # Dense ids (users): a known user keeps its uid; new users get the next ones, in file order.
    first_new_id = next_uid if spec.name == "users" else None
    name = f"{spec.name}/{spec.name}.parquet"
    written = load.merge_rows(
        staging / name,
        key=spec.key,
        columns=[c for c in columns if c != "uid"],
        stored=stored,
        first_new_id=first_new_id,
        time_column=spec.time_column,
        bounds=bounds,
    )
    report.updated_rows = written.replaced
    if spec.name == "users":
        report.new_users = written.rows - (previous.rows if previous else 0)
    return TableState(
        spec.name,
        [name],
        written.rows,
        columns,
        version,
        batches,
        written.max_uid,
        written.max_time,
    )


def _latest_time(engine: Engine, paths: list[Path], bounds: TimeBounds) -> str | None:
    """The latest ``ts`` inside ``bounds`` in stored batches, as text (None without)."""
    engine.register_parquet("_stored_batches", paths)
    latest = exp.cast(exp.Max(this=exp.column("ts", quoted=True)), exp.DataType.Type.VARCHAR)
    query = exp.select(latest.as_("latest")).from_("_stored_batches").where(bounds.condition("ts"))
    value = engine.to_arrow(query).column("latest")[0].as_py()
    return str(value) if value is not None else None


def _report_unknown_users(
    load: Staging, users: TableState | None, staging: Path, report: IngestReport
) -> None:
    found = load.unknown_users(staging / users.files[0] if users else None, MAX_EXAMPLES)
    report.unknown_user_rows, report.unknown_users = found.rows, found.users
    report.unknown_user_examples = found.examples
