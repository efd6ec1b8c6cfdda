"""The catalog and audience commands: ``tags list``, ``tags show``, ``profile``, ``count``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from portrait.cli.common import (
    FormatOpt,
    UnmaskOpt,
    WorkspaceOpt,
    err,
    handles_errors,
)
from portrait.cli.common import open_ws as _open
from portrait.cli.render import OutputFormat, emit_record, emit_rows, output_console

tags_app = typer.Typer(
    help="The tag catalog (标签市场): list tags, show one.", no_args_is_help=True
)


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
