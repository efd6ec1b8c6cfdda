"""Commands. Each parses its arguments, calls one facade method and renders the result."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from portrait import workspace as ws_api
from portrait.cli.analysis import cross, insight_app, rfm, rules_app, user
from portrait.cli.campaigns import campaign_app
from portrait.cli.common import (
    FormatOpt,
    QuietOpt,
    UnmaskOpt,
    WorkspaceOpt,
    act_as,
    err,
    handles_errors,
)
from portrait.cli.common import open_ws as _open
from portrait.cli.database import db_app
from portrait.cli.group import PortraitGroup
from portrait.cli.progress import RichProgress
from portrait.cli.render import OutputFormat, emit_record, emit_rows, output_console
from portrait.cli.segments import ids_app, segment_app
from portrait.cli.service import audit, keys_app, serve

app = typer.Typer(
    name="portrait",
    help="Portrait: user profiles, tags as code and audiences (用户画像平台).",
    cls=PortraitGroup,  # lists the commands in the order of the work
    rich_markup_mode=None,  # help is plain text, wrapped to the terminal (\b keeps a layout)
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
tags_app = typer.Typer(
    help="The tag catalog (标签市场): list tags, show one.", no_args_is_help=True
)
app.add_typer(tags_app, name="tags")
app.add_typer(segment_app, name="segment")
app.add_typer(ids_app, name="ids")
app.add_typer(insight_app, name="insight")
app.command("cross")(cross)
app.command("user")(user)
app.command("rfm")(rfm)
app.add_typer(rules_app, name="rules")
app.add_typer(campaign_app, name="campaign")
app.add_typer(keys_app, name="keys")
app.command("serve")(serve)
app.command("audit")(audit)
app.add_typer(db_app, name="db")


@app.callback()
def root(
    role: Annotated[
        str | None,
        typer.Option(
            "--role",
            help="Act as this role: viewer, analyst, marketer or admin (default: the setting "
            "privacy.local_role). A viewer gets the numbers a viewer's API key gets "
            "(docs/privacy.md).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Portrait: user profiles, tags as code and audiences (用户画像平台)."""
    act_as(role)


@app.command()
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


@app.command()
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


@app.command()
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


@app.command()
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


@tags_app.command("list")
@handles_errors
def tags_list(
    category: Annotated[str | None, typer.Option(help="Only this category.")] = None,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """The tag catalog.

    Every tag with its title, category, kind, type, coverage, distinct values, pii flag,
    last build time and whether it is stale.
    """
    ws = _open(workspace)
    rows = ws.tags.summaries(category)
    emit_rows(
        rows,
        fmt,
        title="tags",
        columns=[
            "name",
            "title",
            "category",
            "kind",
            "type",
            "coverage",
            "distinct",
            "pii",
            "last_built",
            "stale",
        ],
        percent=["coverage"],
    )


@tags_app.command("show")
@handles_errors
def tags_show(
    name: Annotated[str, typer.Argument(help="Tag name.")],
    dialect: Annotated[
        str, typer.Option(help="SQL dialect of the generated SQL (duckdb, spark, postgres, …).")
    ] = "duckdb",
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """One tag in detail, with its SQL.

    The definition and its file, the SQL that computes the tag (in --dialect), its value
    distribution, null rate and build time.
    """
    ws = _open(workspace)
    info = ws.tags[name]
    # the record is the tag as this caller may see it (statistics released for a viewer)
    record = ws.tag_detail(name, dialect)
    definition, sql = record["definition"], record["sql"]
    if fmt is not OutputFormat.table:
        if fmt is OutputFormat.json:
            emit_record(record, fmt)
        else:
            emit_rows(record.get("distribution", []), fmt, columns=["value", "count", "share"])
        return
    import yaml
    from rich.syntax import Syntax

    console = output_console()
    console.print(
        f"[bold]{name}[/] {info.definition.title}  ({info.definition.kind}, {info.definition.value_type}) — {info.source}"
    )
    for text, lexer in (
        (yaml.safe_dump(definition, allow_unicode=True, sort_keys=False), "yaml"),
        (sql, "sql"),
    ):
        if console.is_terminal:
            console.print(Syntax(text, lexer))
        else:  # plain text in files and pipes (Syntax pads every line to the full width)
            console.print(text.rstrip(), markup=False, highlight=False)
    if info.built is None:
        console.print("not built yet: run 'portrait build'")
        return
    console.print(_stats_line(record, info.built.index_seconds or 0.0))
    extra = {k: record[k] for k in ("min", "max", "mean", "p50", "p90") if k in record}
    if extra:
        console.print(
            " · ".join(
                f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in extra.items()
            )
        )
    emit_rows(
        record.get("distribution", []),
        fmt,
        title="distribution",
        columns=["value", "count", "share"],
        percent=["share"],
    )


def _stats_line(record: dict[str, Any], index_seconds: float) -> str:
    """Coverage, null rate, distinct values and build time of a tag record (a number a
    viewer's release suppressed shows as —)."""

    def percent(value: float | None) -> str:
        return "—" if value is None else f"{value * 100:.1f}%"

    def count(value: int | None) -> str:
        return "—" if value is None else f"{value:,}"

    return (
        f"coverage {percent(record.get('coverage'))} ({count(record.get('covered'))} of "
        f"{count(record.get('users'))}) · null rate {percent(record.get('null_rate'))} · "
        f"distinct {count(record.get('distinct'))} · built {record.get('built_at')}"
        f" · index {index_seconds:.3f}s" + (" · STALE" if record.get("stale") else "")
    )


@app.command()
@handles_errors
def profile(
    columns: Annotated[
        str | None, typer.Option(help="Tags to include (comma-separated; default all).")
    ] = None,
    limit: Annotated[int, typer.Option(help="Rows to print (ignored with --output).")] = 10,
    output: Annotated[
        Path | None, typer.Option(help="Write the whole profile to this .parquet or .csv file.")
    ] = None,
    unmask: UnmaskOpt = False,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """Show or export the profile.

    The first rows of the profile (one row per user, one column per tag), or with --output
    the whole profile as a .parquet or .csv file. Tags marked pii are masked unless
    --unmask.
    """
    ws = _open(workspace)
    names = [c.strip() for c in columns.split(",")] if columns else None
    if output is not None:
        rows = ws.export_profile(output, columns=names, unmask=unmask)
        err.print(f"wrote {rows:,} users to {output}")
        return
    table = ws.profile(names, unmask=unmask).slice(0, limit)
    emit_rows(table.to_pylist(), fmt, title="profile")


@app.command()
@handles_errors
def count(
    rule: Annotated[
        str, typer.Argument(help='Rule text, e.g. \'city in ("北京", "上海") and age >= 25\'.')
    ],
    sql: Annotated[
        bool, typer.Option("--sql", help="Print the rule as SQL instead of counting.")
    ] = False,
    dialect: Annotated[
        str, typer.Option("--dialect", help="SQL dialect for --sql (duckdb, spark, …).")
    ] = "duckdb",
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """The size of the audience a rule selects, or its SQL.

    A rule combines tag conditions, behaviour, segments and ID lists (docs/rules.md), e.g.

    \b
      portrait count 'city in ("北京", "上海") and age >= 25'
      portrait count 'events("search", last="7d") > 3' --sql
    """
    ws = _open(workspace)
    if sql:
        output_console().print(ws.rule_sql(rule, dialect), markup=False, highlight=False)
        return
    result = ws.count(rule)
    if fmt is not OutputFormat.table:
        emit_record(result, fmt)
        return
    output_console().print(
        f"{result['size']:,} user{'' if result['size'] == 1 else 's'} "
        f"({result['share'] * 100:.2f}% of {result['population']:,}) "
        f"as of {result['as_of']} · {result['seconds'] * 1000:.1f} ms",
        highlight=False,
    )


@app.command()
@handles_errors
def status(workspace: WorkspaceOpt = None, fmt: FormatOpt = OutputFormat.table) -> None:
    """What is loaded and built.

    The tables with their rows and versions, the profile version, the as-of date and the
    number of users.
    """
    emit_record(_open(workspace).status(), fmt, title="workspace")


@app.command()
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


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
