"""Workspace and data commands: ``init``, ``demo``, ``ingest``, ``build``, ``status``,
``config``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from portrait import workspace as ws_api
from portrait.cli.common import (
    FormatOpt,
    QuietOpt,
    WorkspaceOpt,
    err,
    handles_errors,
)
from portrait.cli.common import open_ws as _open
from portrait.cli.progress import RichProgress
from portrait.cli.render import OutputFormat, emit_record, emit_rows, output_console


@handles_errors
def init(
    directory: Annotated[Path, typer.Argument(help="Folder to create (empty or new).")],
) -> None:
    """Create an empty workspace.

    DIRECTORY (new or empty) gets portrait.toml, listing every setting with its default, and
    the folders tags/, warehouse/, profile/, rejects/ and meta/.
    """
    ws = ws_api.init(directory)
    err.print(
        f"created workspace {ws.root}\nnext: add tag files to {ws.layout.tags_dir}/ and run "
        "'portrait ingest users FILE'"
    )


@handles_errors
def demo(
    directory: Annotated[
        Path, typer.Argument(help="Folder for the demo workspace (empty or new).")
    ] = Path("demo-workspace"),
    users: Annotated[
        int, typer.Option(help="Number of demo users (≈50 events each).", min=100)
    ] = 200_000,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same data.")] = 7,
    fmt: FormatOpt = OutputFormat.table,
    quiet: QuietOpt = False,
) -> None:
    """Generate, load and build a demo workspace.

    Synthetic data of a classifieds platform with seven business lines, one of them a beauty
    shop with orders (users, about 50 events per user, orders), loaded through ingest; then
    every demo tag is built. The same --seed and --users give the same data.
    """
    summary = ws_api.create_demo(
        directory, users=users, seed=seed, progress=RichProgress(not quiet)
    )
    if fmt is not OutputFormat.table:
        emit_record(summary, fmt)
        return
    console = output_console()
    console.print(f"[bold]Demo workspace[/] {summary['workspace']}  (as of {summary['as_of']})")
    console.print(
        f"users {summary['users']:,} · events {summary['events']:,} · orders {summary['orders']:,} · "
        f"tags built {summary['tags_built']} · generate {summary['generate_seconds']:.1f}s · "
        f"ingest {summary['ingest_seconds']:.1f}s · build {summary['build_seconds']:.1f}s"
    )
    for name, dist in summary["distributions"].items():
        emit_rows(
            dist,
            OutputFormat.table,
            title=name,
            columns=["value", "count", "share"],
            percent=["share"],
        )
    console.print(f"next: portrait tags list -w {summary['workspace']}")


@handles_errors
def ingest(
    table: Annotated[str, typer.Argument(help="users, events or orders.")],
    files: Annotated[list[Path], typer.Argument(help="CSV, Parquet or JSON-lines file(s).")],
    mapping: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            "-m",
            help="Column mapping TARGET=SOURCE, e.g. --map user_id=member_no (repeatable).",
        ),
    ] = None,
    on_error: Annotated[
        str | None,
        typer.Option(
            help="reject: load valid rows, write bad ones to rejects/; fail: load nothing. (default: setting ingest.on_error)"
        ),
    ] = None,
    file_format: Annotated[
        str | None,
        typer.Option("--file-format", help="csv, parquet or jsonl (default: from the suffix)."),
    ] = None,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = OutputFormat.table,
    quiet: QuietOpt = False,
) -> None:
    """Validate and load data files.

    Each file is loaded into TABLE (users, events or orders) as one new warehouse version,
    atomically. Loading a file already loaded (same content, table and mapping) does
    nothing. Bad rows are written to rejects/, or nothing is loaded with --on-error fail.
    """
    from portrait.model.schema import parse_mapping

    ws = _open(workspace)
    reports = [
        ws.ingest(
            table,
            f,
            mapping=parse_mapping(mapping),
            on_error=on_error,
            fmt=file_format,
            progress=RichProgress(not quiet),
        ).to_dict()
        for f in files
    ]
    if fmt is OutputFormat.json and len(reports) == 1:
        emit_record(reports[0], fmt)
        return
    columns = [
        "file",
        "rows_read",
        "rows_loaded",
        "rows_rejected",
        "new_users",
        "updated_rows",
        "unknown_user_rows",
        "already_ingested",
        "warehouse_version",
        "seconds",
    ]
    emit_rows(reports, fmt, title=f"ingest {table}", columns=columns)
    if fmt is OutputFormat.table:
        for r in reports:
            for problem in r["problems"]:
                err.print(f"  rejected {problem}", highlight=False)
            if r["rejects_file"]:
                err.print(f"  rejected rows written to {r['rejects_file']}", highlight=False)
            if r["unknown_user_rows"]:
                err.print(
                    f"  note: {r['unknown_user_rows']} rows of {r['unknown_users']} users not in users "
                    f"(e.g. {', '.join(r['unknown_user_examples'])}); kept, not in the profile until "
                    "those users are loaded",
                    highlight=False,
                )


@handles_errors
def build(
    full: Annotated[
        bool, typer.Option("--full", help="Recompute every tag, not only the changed ones.")
    ] = False,
    tags: Annotated[
        str | None, typer.Option("--tags", help="Also recompute these tags (comma-separated).")
    ] = None,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = OutputFormat.table,
    quiet: QuietOpt = False,
) -> None:
    """Compute tags into the profile and its index.

    Incremental: only the tags whose definition or input data changed, and the tags that
    read them, are computed (all of them with --full). The new profile version, its bitmap
    index and statistics are swapped in atomically; dynamic segments are then evaluated
    again.
    """
    ws = _open(workspace)
    names = [t.strip() for t in tags.split(",") if t.strip()] if tags else None
    report = ws.build(full=full, tags=names, progress=RichProgress(not quiet)).to_dict()
    if fmt is not OutputFormat.table:
        emit_record(report, fmt)
        return
    if report["stale"]:
        err.print(
            "stale (refresh: manual; definition or data changed, kept as built): "
            + ", ".join(report["stale"])
            + "; recompute with --tags NAME or --full"
        )
    if report["up_to_date"]:
        output_console().print(
            f"profile {report['profile_version']} is up to date (as of {report['as_of']}); "
            "use --full to recompute"
        )
        return
    output_console().print(
        f"built profile {report['profile_version']} from warehouse {report['warehouse_version']} "
        f"as of {report['as_of']}: {report['users']:,} users, {len(report['computed'])} tags computed, "
        f"{len(report['reused'])} reused, in {report['seconds']:.2f}s"
    )
    rows = [{"step": k, "seconds": round(v, 3)} for k, v in report["timings"].items()]
    emit_rows(rows, fmt, title="timings")
    if report["segments_refreshed"]:
        err.print("dynamic segments refreshed: " + ", ".join(report["segments_refreshed"]))
    for name, problem in report["segments_failed"].items():
        err.print(f"segment '{name}' was not refreshed: {problem}", style="yellow")


@handles_errors
def status(workspace: WorkspaceOpt = None, fmt: FormatOpt = OutputFormat.table) -> None:
    """What is loaded and built.

    The tables with their rows and versions, the profile version, the as-of date and the
    number of users.
    """
    emit_record(_open(workspace).status(), fmt, title="workspace")


@handles_errors
def config(workspace: WorkspaceOpt = None, fmt: FormatOpt = OutputFormat.table) -> None:
    """Settings and where they come from.

    Every setting with its value and where the value comes from: the default, portrait.toml
    or a PORTRAIT_* environment variable.
    """
    emit_rows(
        _open(workspace).settings(),
        fmt,
        title="settings",
        columns=["name", "value", "source", "env", "help"],
    )
