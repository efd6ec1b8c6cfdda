"""Discovery commands: ``portrait rank`` (feature ranking, 选特征)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from portrait import charts
from portrait.cli.analysis import BaselineOpt, MinCountOpt, TargetArg
from portrait.cli.common import (
    ChartOpt,
    FormatOpt,
    WorkspaceOpt,
    handles_errors,
    open_ws,
    write_chart,
)
from portrait.cli.render import OutputFormat, emit_record, emit_rows, output_console

RANK_COLUMNS = [
    "tag",
    "title",
    "kind",
    "mutual_info",
    "cramers_v",
    "association",
    "coverage",
    "balance",
    "over_represented",
    "circular",
]


def _names(text: str | None) -> list[str] | None:
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


def _shown(row: dict[str, Any]) -> dict[str, Any]:
    direction = row.get("direction")
    over = f"{direction['label']} (TGI {direction['tgi']:.0f})" if direction else ""
    if row.get("best_value") and row["kind"] == "multi":
        over = over or str(row["best_value"])
    return {**row, "over_represented": over}


@handles_errors
def rank(
    target: TargetArg,
    baseline: BaselineOpt = None,
    tags: Annotated[
        str | None,
        typer.Option("--tags", "-t", help="Tags to rank (comma-separated; default all)."),
    ] = None,
    by: Annotated[
        str,
        typer.Option(
            "--by", help="mutual_info, cramers_v, association (|ρ| or |r|), coverage or balance."
        ),
    ] = "mutual_info",
    include_circular: Annotated[
        bool,
        typer.Option(
            "--include-circular",
            help="Also rank tags computed from the target's own conditions (flagged).",
        ),
    ] = False,
    top: Annotated[int, typer.Option("--top", help="Rows to show (0: all).", min=0)] = 20,
    min_count: MinCountOpt = 30,
    chart: ChartOpt = None,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """Rank tags by how much they tell an audience apart (选特征).

    For every tag: mutual information and Cramér's V with membership, Spearman's ρ (and the
    point-biserial r) for numbers, coverage and balance, and the most over-represented value.
    Tags computed from the same data as the target's own conditions (the tags its rule reads,
    buckets and derived tags of them, metrics over the events its behaviour conditions count)
    are left out and listed, unless --include-circular.
    """
    ranking = open_ws(workspace).discovery.rank(
        target,
        baseline=baseline,
        tags=_names(tags),
        by=by,
        include_circular=include_circular,
        min_count=min_count,
    )
    if fmt is OutputFormat.json:
        emit_record(ranking.to_dict(top), fmt)
        return
    rows = [_shown(r) for r in (ranking.rows[:top] if top else ranking.rows)]
    console = output_console()
    if fmt is OutputFormat.table:
        console.print(
            f"{target}: {ranking.target_size or 0:,} of {ranking.universe_size or 0:,} users "
            f"({ranking.universe}), ranked by {ranking.by}",
            highlight=False,
        )
    emit_rows(rows, fmt, title="rank", columns=RANK_COLUMNS, percent=["coverage"])
    if fmt is OutputFormat.table and ranking.left_out:
        why: dict[str, list[str]] = {}
        for tag, reason in sorted(ranking.left_out.items()):
            why.setdefault(reason, []).append(tag)
        console.print("left out as circular (--include-circular ranks them):", highlight=False)
        for reason, names in why.items():
            console.print(f"  {', '.join(names)}: {reason}", highlight=False)
    write_chart(
        chart,
        lambda: charts.ranking_chart(
            rows, by=ranking.by, title=f"Feature ranking: {target}", subtitle=ranking.universe
        ),
    )
