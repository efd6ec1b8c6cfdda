"""Analysis commands: ``portrait insight [show|distinctive] TARGET`` and ``portrait cross``."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from portrait import charts
from portrait.cli.common import (
    ChartOpt,
    FormatOpt,
    UnmaskOpt,
    WorkspaceOpt,
    handles_errors,
    open_ws,
    write_chart,
)
from portrait.cli.render import OutputFormat, emit_record, emit_rows, output_console
from portrait.errors import InputError


class _DefaultToShow(TyperGroup):
    """``portrait insight TARGET …`` runs ``portrait insight show TARGET …``."""

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["show", *args]
        return super().resolve_command(ctx, args)


insight_app = typer.Typer(
    cls=_DefaultToShow,
    help="Audience insight (人群洞察): TGI against a baseline.",
    no_args_is_help=True,
)

TargetArg = Annotated[
    str, typer.Argument(help="A saved segment's name or a rule, e.g. 'city = \"北京\"'.")
]
BaselineOpt = Annotated[
    str | None,
    typer.Option("--baseline", "-b", help="Segment or rule to compare with (default: all users)."),
]
MinCountOpt = Annotated[
    int, typer.Option("--min-count", help="Target members a value needs to count as significant.")
]
COLUMNS = [
    "tag",
    "value",
    "target",
    "target_share",
    "baseline",
    "baseline_share",
    "tgi",
    "tgi_low",
    "tgi_high",
    "p_value",
    "significant",
]


def _sizes(report: Any) -> str:
    return f"{report.target_size:,} users vs {report.baseline} ({report.baseline_size:,})"


def _header(report: Any, target: str) -> None:
    output_console().print(f"{target}: {_sizes(report)}", highlight=False)


@insight_app.command("show")
@handles_errors
def show(
    target: TargetArg,
    baseline: BaselineOpt = None,
    tags: Annotated[
        str | None, typer.Option("--tags", "-t", help="Tags to compare (comma-separated).")
    ] = None,
    min_count: MinCountOpt = 30,
    include_missing: Annotated[
        bool,
        typer.Option("--include-missing", help="Count the missing value in the shares."),
    ] = False,
    top: Annotated[int, typer.Option("--top", help="Rows to show (0: all).", min=0)] = 30,
    chart: ChartOpt = None,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """TGI of every tag value of an audience.

    For every value of the tags: the target's and the baseline's counts and shares, the TGI
    with its 95% interval and p-value; large significant differences first. 'portrait
    insight TARGET' is short for 'portrait insight show TARGET'. The chart shows the rows
    shown, in tag order with --tags.
    """
    names = [t.strip() for t in tags.split(",") if t.strip()] if tags else None
    report = open_ws(workspace).insight(
        target, baseline=baseline, tags=names, include_missing=include_missing, min_count=min_count
    )
    rows = report.ranked(top)
    if fmt is OutputFormat.table:
        _header(report, target)
    emit_rows(
        rows, fmt, title="insight", columns=COLUMNS, percent=["target_share", "baseline_share"]
    )
    # with --tags the chart keeps each tag's values together, in the tag's own order
    shown = {id(r) for r in rows}
    drawn = [r for r in report.rows if id(r) in shown] if names else rows
    write_chart(
        chart,
        lambda: charts.insight_chart(drawn, title=f"Insight: {target}", subtitle=_sizes(report)),
    )


@insight_app.command("distinctive")
@handles_errors
def distinctive(
    target: TargetArg,
    baseline: BaselineOpt = None,
    top: Annotated[int, typer.Option("--top", help="How many values.", min=1)] = 10,
    min_count: MinCountOpt = 30,
    chart: ChartOpt = None,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """The values that most distinguish an audience.

    The audience's persona: the values whose TGI is above 100 even at the low end of its 95%
    interval, ranked by that low end.
    """
    rows = open_ws(workspace).distinctive(target, baseline=baseline, top=top, min_count=min_count)
    emit_rows(
        rows, fmt, title="distinctive", columns=COLUMNS, percent=["target_share", "baseline_share"]
    )
    against = f"against {baseline}" if baseline else "against all users"
    write_chart(
        chart,
        lambda: charts.distinctive_chart(
            rows, title=f"Distinctive features: {target}", subtitle=against
        ),
    )


CROSS_COLUMNS = [
    "a",
    "b",
    "size_a",
    "size_b",
    "both",
    "union",
    "overlap_union",
    "support",
    "confidence",
    "lift",
    "flagged",
]


@handles_errors
def cross(
    audiences: Annotated[
        list[str] | None,
        typer.Argument(
            help="Segment names or rules (default: the users of each business line, 360 days)."
        ),
    ] = None,
    min_support: Annotated[
        float,
        typer.Option("--min-support", help="Flag pairs with |A∩B| / all users at least this."),
    ] = 0.0,
    min_confidence: Annotated[
        float, typer.Option("--min-confidence", help="Flag pairs with |A∩B| / |A| at least this.")
    ] = 0.0,
    flagged: Annotated[bool, typer.Option("--flagged", help="Show flagged pairs only.")] = False,
    insight: Annotated[
        bool,
        typer.Option("--insight", help="With two audiences A B: insight on A∩B against A."),
    ] = False,
    chart: ChartOpt = None,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """How audiences overlap: support, confidence, lift.

    Cross-business analysis (交叉营销): for every ordered pair A→B of the audiences (default:
    the users of each business line in the last 360 days) the sizes, overlap/union, support,
    confidence and lift; pairs reaching both thresholds are flagged. With --insight and two
    audiences A B: who the users of A∩B are, against A.
    """
    if insight:
        if not audiences or len(audiences) != 2:
            raise InputError("--insight drills into one pair: give two audiences A B")
        report = open_ws(workspace).cross_insight(audiences[0], audiences[1])
        if fmt is OutputFormat.table:
            _header(report, f"{audiences[0]} ∩ {audiences[1]}")
        shown = report.ranked(30)
        emit_rows(
            shown,
            fmt,
            title="who are the cross users",
            columns=COLUMNS,
            percent=["target_share", "baseline_share"],
        )
        write_chart(
            chart,
            lambda: charts.insight_chart(
                shown,
                title=f"Who are the cross users: {audiences[0]} ∩ {audiences[1]}",
                subtitle=_sizes(report),
            ),
        )
        return
    rows = open_ws(workspace).cross(
        audiences or None, min_support=min_support, min_confidence=min_confidence
    )
    if flagged:
        rows = [r for r in rows if r["flagged"]]
    emit_rows(
        rows,
        fmt,
        title="cross",
        columns=CROSS_COLUMNS,
        percent=["overlap_union", "support", "confidence"],
    )
    write_chart(chart, lambda: charts.cross_chart(rows))


@handles_errors
def user(
    user_id: Annotated[str, typer.Argument(help="The user's id (user_id).")],
    events: Annotated[int, typer.Option("--events", help="Latest events to show.", min=0)] = 20,
    unmask: UnmaskOpt = False,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """One user's 360 view (个人画像).

    The user's tags by category, segments, campaigns, orders and latest events.
    """
    view = open_ws(workspace).user(user_id, events=events, unmask=unmask)
    if fmt is OutputFormat.json:
        emit_record(view, fmt)
        return
    if fmt is OutputFormat.csv:  # one row per tag value
        rows = [{"category": c, **t} for c, tags in view["tags"].items() for t in tags]
        emit_rows(rows, fmt, columns=["category", "tag", "title", "value"])
        return
    console = output_console()
    console.print(
        f"user {view['user_id']} (uid {view['uid']}) · as of {view['as_of']} · segments: "
        + (", ".join(view["segments"]) or "none"),
        highlight=False,
    )
    for category, tags in view["tags"].items():
        emit_rows(tags, fmt, title=category, columns=["title", "tag", "value"])
    if view["orders"]:
        emit_record(view["orders"], fmt, title="orders")
    if view["campaigns"]:
        emit_rows(
            view["campaigns"],
            fmt,
            title="campaigns",
            columns=["campaign", "run", "group", "state", "sent_at", "responses"],
        )
    if view["events"]:
        columns = list(dict.fromkeys(k for e in view["events"] for k in e))
        emit_rows(
            view["events"], fmt, title=f"latest {len(view['events'])} events", columns=columns
        )


@handles_errors
def rfm(
    segment_tag: Annotated[
        str | None,
        typer.Option("--tag", help="The built RFM segment tag to report (default: the first)."),
    ] = None,
    window: Annotated[
        str | None,
        typer.Option("--window", help="Compute from the orders of this window: 90d, 52w, all."),
    ] = None,
    scores: Annotated[
        int | None,
        typer.Option("--scores", help="Compute with scores 1..N (2 to 10; default 5)."),
    ] = None,
    chart: ChartOpt = None,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """RFM segments: size, share and mean scores.

    The users, share and mean R, F and M scores of each RFM segment (重要价值, 重要发展, …), read
    from the profile's RFM tags (tags of kind rfm). With --window or --scores, or when no
    RFM tag is built, computed from the orders, adding the mean recency in days, orders and
    amount.
    """
    rows = open_ws(workspace).rfm_report(segment_tag, window=window, scores=scores)
    emit_rows(rows, fmt, title="RFM segments", columns=list(rows[0]), percent=["share"])
    write_chart(chart, lambda: charts.rfm_chart(rows))
