"""``portrait segment …`` and ``portrait ids …``: saved segments and uploaded ID lists."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from portrait import charts
from portrait.cli.common import (
    ChartOpt,
    FormatOpt,
    UnmaskOpt,
    WorkspaceOpt,
    err,
    handles_errors,
    open_ws,
    write_chart,
)
from portrait.cli.render import OutputFormat, emit_record, emit_rows, output_console
from portrait.errors import InputError

segment_app = typer.Typer(
    help="Saved segments (分群 / 人群包): create, refresh, export.",
    no_args_is_help=True,
)
ids_app = typer.Typer(help='Uploaded ID lists, used in rules as ids("name").', no_args_is_help=True)

ColumnsOpt = Annotated[
    str | None, typer.Option("--columns", "-c", help="Tag columns to include (comma-separated).")
]


def _names(text: str | None) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()] if text else []


def _n(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def _print_upload(report: dict[str, Any]) -> None:
    err.print(
        f"ID list '{report['name']}': {_n(report['rows'], 'line')}, "
        f"{_n(report['matched'], 'user')} matched, {report['unmatched']:,} unmatched, "
        f"{_n(report['duplicates'], 'duplicate line')}"
        + (f" (header '{report['header']}' skipped)" if report["header"] else ""),
        highlight=False,
    )
    if report["unmatched_file"]:
        err.print(f"unmatched ids written to {report['unmatched_file']}", highlight=False)


@segment_app.command("create")
@handles_errors
def create(
    name: Annotated[str, typer.Argument(help="Segment name (letters, digits, _ - .).")],
    rule: Annotated[
        str | None,
        typer.Argument(help='Rule text, e.g. \'value_tier = "高" and not segment("churned")\'.'),
    ] = None,
    static: Annotated[
        bool, typer.Option("--static", help="Freeze the members now (default: dynamic).")
    ] = False,
    union: Annotated[
        str | None, typer.Option("--union", help="Union of these segments (comma-separated).")
    ] = None,
    intersect: Annotated[
        str | None, typer.Option("--intersect", help="Intersection of these segments.")
    ] = None,
    minus: Annotated[
        str | None,
        typer.Option("--minus", help="The first segment minus the others (comma-separated)."),
    ] = None,
    ids: Annotated[
        Path | None,
        typer.Option("--ids", help="From an ID file (one id a line, or --column of a CSV)."),
    ] = None,
    column: Annotated[
        str | None, typer.Option("--column", help="CSV column holding the ids (with --ids).")
    ] = None,
    unmatched: Annotated[
        Path | None,
        typer.Option("--unmatched", help="Where to write unmatched ids (default: rejects/ids/)."),
    ] = None,
    description: Annotated[str, typer.Option("--description", "-d", help="What it is for.")] = "",
    replace: Annotated[
        bool, typer.Option("--replace", help="Replace an existing segment of this name.")
    ] = False,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """Save a segment from a rule, segments or an ID file.

    From a RULE, from set operations on saved segments (--union, --intersect, --minus), or
    from an ID file (--ids). It is dynamic, evaluated again after every build, unless
    --static; a segment from an ID file is always static.
    """
    sources = [rule is not None, bool(union), bool(intersect), bool(minus), ids is not None]
    if sum(sources) != 1:
        raise InputError(
            "give exactly one of: RULE, --union, --intersect, --minus, --ids",
            hint="e.g. portrait segment create vip 'value_tier = \"高\"'",
        )
    if ids is None and (column is not None or unmatched is not None):
        raise InputError("--column and --unmatched go with --ids")
    if ids is not None and (static or replace):
        raise InputError(
            "a segment from an ID file is always static and new",
            hint="drop --static/--replace; to change the list: portrait ids upload NAME FILE --replace",
        )
    segments = open_ws(workspace).audiences.segments
    mode = "static" if static else "dynamic"
    if ids is not None:
        record, report = segments.create_from_ids(
            name, ids, column=column, description=description, unmatched_file=unmatched
        )
        _print_upload(report.to_dict())
    elif rule is not None:
        record = segments.create(name, rule, mode=mode, description=description, replace=replace)
    else:
        operation, names = (
            ("union", union)
            if union
            else ("intersection", intersect)
            if intersect
            else ("difference", minus)
        )
        record = segments.combine(
            name,
            operation,
            _names(names),
            mode=mode,
            description=description,
            replace=replace,
        )
    if fmt is not OutputFormat.table:
        emit_record(record, fmt)
        return
    output_console().print(
        f"segment '{record['name']}' ({record['mode']}): {_n(record['size'] or 0, 'user')} as of "
        f"{record['as_of']} — {record['rule']}",
        highlight=False,
    )


@segment_app.command("list")
@handles_errors
def list_(workspace: WorkspaceOpt = None, fmt: FormatOpt = OutputFormat.table) -> None:
    """Every segment with its latest size.

    Name, mode, size, as-of date, evaluation time, rule and description.
    """
    rows = open_ws(workspace).audiences.segments.all()
    emit_rows(
        rows,
        fmt,
        title="segments",
        columns=["name", "mode", "size", "as_of", "evaluated_at", "rule", "description"],
    )


@segment_app.command("show")
@handles_errors
def show(
    name: Annotated[str, typer.Argument(help="Segment name.")],
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """One segment, its references and dependents.

    The rule, mode and size, the profile version and as-of date of the latest snapshot, the
    segments and ID lists it refers to and the segments that refer to it.
    """
    emit_record(open_ws(workspace).audiences.segments.info(name), fmt, title=f"segment {name}")


@segment_app.command("refresh")
@handles_errors
def refresh(
    name: Annotated[str | None, typer.Argument(help="Segment name (default: all)")] = None,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """Evaluate dynamic segments again.

    One segment, or all of them (each after the segments it refers to), on the live profile;
    builds do this too. Static segments keep the members they were saved with.
    """
    ws = open_ws(workspace)
    if name is not None and ws.segments[name].mode == "static":
        err.print(f"segment '{name}' is static: its members stay as they were saved")
        return
    rows = [
        {
            "segment": s.segment,
            "size": s.size,
            "profile_version": s.profile_version,
            "as_of": s.as_of,
            "seconds": round(s.seconds, 4),
        }
        for s in ws.audiences.segments.refresh(name)
    ]
    emit_rows(rows, fmt, title="refreshed", columns=list(rows[0]) if rows else ["segment"])


@segment_app.command("delete")
@handles_errors
def delete(
    name: Annotated[str, typer.Argument(help="Segment name.")],
    workspace: WorkspaceOpt = None,
) -> None:
    """Delete a segment.

    Refused while other segments refer to it.
    """
    open_ws(workspace).audiences.segments.delete(name)
    err.print(f"deleted segment '{name}'")


@segment_app.command("history")
@handles_errors
def history(
    name: Annotated[str, typer.Argument(help="Segment name.")],
    chart: ChartOpt = None,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """A segment's size over time.

    One row per evaluation (snapshot): when, the profile version, the as-of date, the size
    and its share of all users.
    """
    rows = [
        {
            "evaluated_at": s["evaluated_at"],
            "profile_version": s["profile_version"],
            "as_of": s["as_of"],
            "size": s["size"],
            "share": (None if s["size"] is None else round(s["size"] / s["population"], 6))
            if s["population"]
            else 0.0,
            "seconds": round(s["seconds"], 4),
        }
        for s in open_ws(workspace).audiences.segments.history(name)
    ]
    emit_rows(rows, fmt, title=f"history of {name}", columns=list(rows[0]) if rows else None)
    write_chart(chart, lambda: charts.history_chart(rows, title=f"Size of segment {name}"))


@segment_app.command("export")
@handles_errors
def export(
    name: Annotated[str, typer.Argument(help="Segment name.")],
    output: Annotated[Path, typer.Argument(help="Output file: .csv or .parquet.")],
    columns: ColumnsOpt = None,
    unmask: UnmaskOpt = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Write a segment's members to CSV or Parquet.

    user_id and the tag columns chosen with --columns; streamed, so millions of members need
    little memory. Tags marked pii are masked unless --unmask.
    """
    rows = open_ws(workspace).export_audience(name, output, _names(columns), unmask=unmask)
    err.print(f"wrote {rows:,} members to {output}", highlight=False)


@segment_app.command("sample")
@handles_errors
def sample(
    name: Annotated[str, typer.Argument(help="Segment name.")],
    n: Annotated[int, typer.Argument(help="How many members.", min=0)],
    seed: Annotated[int, typer.Option("--seed", help="The same seed gives the same sample.")] = 0,
    columns: ColumnsOpt = None,
    unmask: UnmaskOpt = False,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """Random members of a segment.

    N members drawn without replacement, in user order, with the tag columns chosen; the
    same --seed gives the same sample.
    """
    table = open_ws(workspace).sample(name, n, seed=seed, columns=_names(columns), unmask=unmask)
    emit_rows(table.to_pylist(), fmt, title=f"sample of {name}", columns=table.column_names)


@segment_app.command("overlap")
@handles_errors
def overlap(
    a: Annotated[str, typer.Argument(help="First segment.")],
    b: Annotated[str, typer.Argument(help="Second segment.")],
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """How two segments overlap.

    The sizes of A, B, A∩B and A∪B, the Jaccard index |A∩B| / |A∪B|, and the users in only
    one of them.
    """
    emit_record(open_ws(workspace).audiences.segments.overlap(a, b), fmt, title=f"{a} vs {b}")


@ids_app.command("upload")
@handles_errors
def upload(
    name: Annotated[str, typer.Argument(help='List name, used as ids("name") in rules.')],
    file: Annotated[Path, typer.Argument(help="CSV or TXT: one id a line, or --column.")],
    column: Annotated[
        str | None, typer.Option("--column", help="CSV column holding the ids.")
    ] = None,
    unmatched: Annotated[
        Path | None,
        typer.Option("--unmatched", help="Where to write unmatched ids (default: rejects/ids/)."),
    ] = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="Replace a list of this name.")
    ] = False,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """Upload an ID list.

    One id a line, or the --column of a CSV. Reports the matched, unmatched and duplicate
    ids and writes the unmatched ones to rejects/ids/ (or --unmatched).
    """
    report = open_ws(workspace).audiences.segments.upload_ids(
        name, file, column=column, replace=replace, unmatched_file=unmatched
    )
    if fmt is not OutputFormat.table:
        emit_record(report.to_dict(), fmt)
        return
    _print_upload(report.to_dict())


@ids_app.command("list")
@handles_errors
def ids_list(workspace: WorkspaceOpt = None, fmt: FormatOpt = OutputFormat.table) -> None:
    """Uploaded ID lists with their match counts."""
    emit_rows(
        open_ws(workspace).segments.id_lists(),
        fmt,
        title="ID lists",
        columns=["name", "rows", "matched", "unmatched", "duplicates", "source", "created_at"],
    )


@ids_app.command("delete")
@handles_errors
def ids_delete(
    name: Annotated[str, typer.Argument(help="List name.")],
    workspace: WorkspaceOpt = None,
) -> None:
    """Delete an ID list.

    Refused while segments use it.
    """
    open_ws(workspace).audiences.segments.delete_id_list(name)
    err.print(f"deleted ID list '{name}'")
