"""``portrait campaign …``: define, dry-run, launch, cancel, load responses, report."""

from __future__ import annotations

import datetime as dt
import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from portrait import charts
from portrait.cli.common import (
    ChartOpt,
    FormatOpt,
    WorkspaceOpt,
    err,
    handles_errors,
    open_ws,
    write_chart,
)
from portrait.cli.render import OutputFormat, emit_record, emit_rows, output_console
from portrait.errors import InputError
from portrait.workspace.campaigning import CampaignService

campaign_app = typer.Typer(
    help="Campaigns: A/B variants, control holdout, delivery, effect.",
    no_args_is_help=True,
)
NameArg = Annotated[str, typer.Argument(help="Campaign name.")]


def read_definition(path: Path) -> dict[str, Any]:
    """A campaign definition file: YAML (.yaml/.yml) or JSON."""
    if not path.is_file():
        raise InputError(f"no such file: {path}")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except (ValueError, Exception) as exc:  # yaml.YAMLError and json errors alike
        raise InputError(f"cannot parse: {exc}", where=str(path)) from None
    if not isinstance(data, dict):
        raise InputError("a campaign definition is a mapping of fields", where=str(path))
    return data


def _campaigns(workspace: Path | None) -> Any:
    """The campaign actions, checked for the command's role and audited."""
    return open_ws(workspace).campaigns


@campaign_app.command("create")
@handles_errors
def create(
    file: Annotated[Path, typer.Argument(help="The definition: YAML or JSON (see docs).")],
    replace: Annotated[
        bool, typer.Option("--replace", help="Replace a draft of the same name.")
    ] = False,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """Check and store a campaign definition.

    The definition file (YAML or JSON) is checked (audience, channel, and the templates
    against the built tags) and stored as a draft.
    """
    info = _campaigns(workspace).create(read_definition(file), replace=replace, source=str(file))
    if fmt is OutputFormat.table:
        spec = info["spec"]
        groups = [("control", spec["control"])] if spec.get("control") else []
        groups += [(v["name"], v["weight"]) for v in spec["variants"]]
        err.print(
            f"campaign '{info['name']}' ({info['state']}): {spec['audience']} via "
            f"{spec['channel']}, " + ", ".join(f"{g} {p:g}%" for g, p in groups),
            highlight=False,
        )
        return
    emit_record(info, fmt)


@campaign_app.command("list")
@handles_errors
def list_(workspace: WorkspaceOpt = None, fmt: FormatOpt = OutputFormat.table) -> None:
    """Every campaign with its state.

    Name, state, channel, audience and groups of every campaign.
    """
    rows = _campaigns(workspace).all()
    emit_rows(rows, fmt, title="campaigns", columns=list(rows[0]) if rows else None)


@campaign_app.command("show")
@handles_errors
def show(
    name: NameArg, workspace: WorkspaceOpt = None, fmt: FormatOpt = OutputFormat.table
) -> None:
    """A campaign's definition, runs and change log.

    The definition, the state, the runs with their delivery counts, and the change log (who
    did what, when).
    """
    info = _campaigns(workspace).show(name)
    if fmt is not OutputFormat.table:
        emit_record(info, fmt)
        return
    console = output_console()
    console.print(f"campaign {name}: {info['state']}", highlight=False)
    emit_record(info["spec"] | {"spec": None}, fmt, title="definition")
    if info["runs"]:
        emit_rows(info["runs"], fmt, title="runs")
    emit_rows(info["log"], fmt, title="log")


@campaign_app.command("dry-run")
@handles_errors
def dry_run(
    campaign: Annotated[str, typer.Argument(help="Campaign name, or a definition file.")],
    samples: Annotated[
        int, typer.Option("--samples", help="Messages to show per variant.", min=0)
    ] = 3,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """Sizes per group and sample messages; sends nothing.

    The size of each variant and of the control, the users the frequency cap suppresses,
    rendered sample messages and render errors. CAMPAIGN is a stored campaign's name or a
    definition file.
    """
    service = _campaigns(workspace)
    path = Path(campaign)
    target: Any = (
        read_definition(path) if path.suffix.lower() in (".yaml", ".yml", ".json") else campaign
    )
    result = service.dry_run(target, samples=samples)
    if fmt is not OutputFormat.table:
        emit_record(result, fmt)
        return
    console = output_console()
    console.print(
        f"{result['campaign']}: {result['audience']:,} users, {result['suppressed']:,} "
        f"suppressed by the cap, {result['rendered']:,} messages rendered, "
        f"{result['render_errors']:,} render errors ({result['seconds']} s)",
        highlight=False,
    )
    emit_rows(result["groups"], fmt, title="groups")
    if result["srm_mismatch"]:
        err.print(f"warning: sample ratio mismatch (p={result['srm_p_value']:.2g})", style="yellow")
    if result["first_errors"]:
        emit_rows(result["first_errors"], fmt, title="render errors")
    if result["samples"]:
        emit_rows(result["samples"], fmt, title="sample messages")


@campaign_app.command("launch")
@handles_errors
def launch(
    name: NameArg,
    batches: Annotated[
        int | None,
        typer.Option(
            "--batches", help="Stop after this many batches (resume by launching again).", min=1
        ),
    ] = None,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """Send (or schedule) a campaign, or resume its run.

    The audience is frozen, assigned to the groups, capped and sent in batches, each user at
    most once; a campaign scheduled for later is marked scheduled. With --batches the run
    stops after that many batches: launch again to resume it.
    """
    report = _campaigns(workspace).launch(name, batch_limit=batches)
    emit_record(report.to_dict(), fmt, title=f"campaign {name}")


@campaign_app.command("due")
@handles_errors
def due(workspace: WorkspaceOpt = None, fmt: FormatOpt = OutputFormat.table) -> None:
    """Launch every campaign that is due (for cron).

    Scheduled campaigns whose time has come, and unfinished runs. Meant for a crontab line:

    \b
      * * * * * portrait campaign due -w WS
    """
    reports = [r.to_dict() for r in _campaigns(workspace).launch_due()]
    emit_rows(reports, fmt, title="due campaigns", columns=list(reports[0]) if reports else None)


@campaign_app.command("cancel")
@handles_errors
def cancel(name: NameArg, workspace: WorkspaceOpt = None) -> None:
    """Stop a campaign.

    No further batches go out.
    """
    info = _campaigns(workspace).cancel(name)
    err.print(f"campaign '{name}' {info['state']}", highlight=False)


@campaign_app.command("responses")
@handles_errors
def responses(
    file: Annotated[Path, typer.Argument(help="Response events: CSV, JSON lines or Parquet.")],
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """Load response events.

    Delivered, opened, clicked and converted events (conversions with an optional revenue)
    from CSV, JSON lines or Parquet. Duplicates are counted once; rows for unknown campaigns
    or users are reported, not loaded.
    """
    report = _campaigns(workspace).record_responses(file)
    examples = report.pop("examples")
    emit_record(report, fmt, title="responses")
    if examples and fmt is OutputFormat.table:
        emit_rows(examples, fmt, title="rejected rows (first 10)")


REPORT_COLUMNS = [
    "group",
    "targeted",
    "sent",
    "delivered",
    "clicked",
    "converted",
    "ctr",
    "cvr",
    "revenue",
    "cost",
    "roi",
    "uplift",
    "uplift_low",
    "uplift_high",
    "p_value",
]
COMPARISON_COLUMNS = [
    "metric",
    "comparison",
    "value_baseline",
    "value_group",
    "difference",
    "low",
    "high",
    "relative",
    "p_value",
    "p_adjusted",
    "chance_to_win",
    "cuped_difference",
    "variance_reduction",
    "mde",
    "decision",
]


def _comparison_rows(comparisons: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The comparisons flattened for a table or CSV (the JSON keeps them nested)."""
    out = []
    for c in comparisons:
        if not (c["n_baseline"] and c["n_group"]):
            continue
        cuped, seq, bayes = c["cuped"] or {}, c["sequential"], c["bayes"]
        low, high = (seq["low"], seq["high"]) if seq else (c["low"], c["high"])
        out.append(
            {
                "metric": c["metric"],
                "comparison": f"{c['group']} vs {c['baseline']}",
                "value_baseline": c["value_baseline"],
                "value_group": c["value_group"],
                "difference": c["difference"],
                "low": low,
                "high": high,
                "relative": c["relative"],
                "relative_low": c["relative_low"],
                "relative_high": c["relative_high"],
                "newcomb_low": c.get("newcomb_low"),
                "newcomb_high": c.get("newcomb_high"),
                "test": c["test"],
                "statistic": c["statistic"],
                "p_value": c["p_value"],
                "p_adjusted": c["p_adjusted"],
                "chance_to_win": bayes["chance_to_win"],
                "risk_baseline": bayes["risk_baseline"],
                "risk_group": bayes["risk_group"],
                "credible_low": bayes["low"],
                "credible_high": bayes["high"],
                "cuped_difference": cuped.get("difference"),
                "cuped_low": cuped.get("low"),
                "cuped_high": cuped.get("high"),
                "variance_reduction": cuped.get("variance_reduction"),
                "mde": c["mde"],
                "decision": (
                    "significant"
                    if c["significant"]
                    else "underpowered"
                    if c["underpowered"]
                    else "no clear effect"
                ),
            }
        )
    return out


class Correction(StrEnum):
    holm = "holm"
    bh = "bh"
    none = "none"


class RelativeInterval(StrEnum):
    log = "log"
    log_adjusted = "log-adjusted"


class ChartOf(StrEnum):
    effects = "effects"
    funnel = "funnel"


@campaign_app.command("report")
@handles_errors
def report(
    name: NameArg,
    run: Annotated[
        int | None, typer.Option("--run", help="Run number (default: the latest).")
    ] = None,
    metric: Annotated[
        list[str] | None,
        typer.Option("--metric", help="Also compare the rate of this event (repeatable)."),
    ] = None,
    correction: Annotated[
        Correction,
        typer.Option(help="Multiple-comparison correction across pairs and metrics."),
    ] = Correction.holm,
    level: Annotated[float, typer.Option(help="Confidence level of the intervals.")] = 0.95,
    relative_interval: Annotated[
        RelativeInterval,
        typer.Option(help="Interval of a relative difference of proportions."),
    ] = RelativeInterval.log,
    sequential: Annotated[
        bool,
        typer.Option(
            "--sequential", help="Always-valid intervals, for looking while the campaign runs."
        ),
    ] = False,
    tuning: Annotated[
        float, typer.Option(help="Sequential: the sample size where its interval is tightest.")
    ] = 5000.0,
    cuped: Annotated[
        bool, typer.Option("--cuped/--no-cuped", help="CUPED variance reduction.")
    ] = True,
    pre_days: Annotated[
        int, typer.Option(help="CUPED: days before the run whose orders and events it uses.")
    ] = 28,
    prior_sd: Annotated[
        float | None,
        typer.Option(
            help="Bayesian: a normal prior N(0, sd²) on the relative effect (default: flat)."
        ),
    ] = None,
    chart: ChartOpt = None,
    chart_of: Annotated[
        ChartOf, typer.Option(help="What --chart draws: the effects or the funnel.")
    ] = ChartOf.effects,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """Effect per variant and control, every metric for every pair.

    Per group: the funnel, CTR, CVR, revenue, cost, ROI and the conversion uplift against the
    control. Then every metric (CTR, conversion, click to conversion, revenue per user and per
    converter, and --metric event rates) for every pair (each variant against the control and
    against each other): difference, interval, test and p-value corrected for the number of
    comparisons, the Bayesian chance to win, CUPED, the minimum detectable effect. A verdict
    in words per comparison; a sample-ratio check first.
    """
    options = {
        "correction": correction.value,
        "level": level,
        "relative_interval": relative_interval.value,
        "sequential": sequential,
        "tuning": tuning,
        "cuped": cuped,
        "prior_sd": prior_sd,
    }
    ws = open_ws(workspace)
    result = ws.campaigns.report(
        name, run, options=options, events=tuple(metric or ()), pre_days=pre_days
    )
    rows = _comparison_rows(result["comparisons"])
    if fmt is OutputFormat.json:
        emit_record(result, fmt)
    elif fmt is OutputFormat.csv:
        emit_rows(rows, fmt)
    else:
        kind = "imported experiment" if result["imported"] else "campaign"
        output_console().print(
            f"{kind} {name}, run {result['run']} ({result['run_state']}), started "
            f"{result['started_at']}, attribution {result['attribution_days']} days",
            highlight=False,
        )
        emit_rows(
            result["groups"],
            fmt,
            title="effect",
            columns=REPORT_COLUMNS,
            percent=["ctr", "cvr", "uplift", "uplift_low", "uplift_high"],
        )
        emit_rows(
            rows,
            fmt,
            title=f"comparisons ({_describe(result['options'])})",
            columns=COMPARISON_COLUMNS,
            percent=["relative", "chance_to_win", "variance_reduction"],
        )
        for line in result["verdict"]:
            output_console().print(line, highlight=False)
    if chart_of is ChartOf.funnel:
        write_chart(chart, lambda: charts.funnel_chart(result["groups"], title=f"Campaign {name}"))
    else:
        write_chart(
            chart,
            lambda: charts.effects_chart(
                result["comparisons"], title=f"Campaign {name}", level=level
            ),
        )


def _describe(options: dict[str, Any]) -> str:
    parts = [f"{options['level']:.0%} intervals", f"correction {options['correction']}"]
    if options["sequential"]:
        parts.append("sequential")
    parts.append(f"prior {options['prior']}")
    return ", ".join(parts)


@campaign_app.command("import")
@handles_errors
def import_(
    name: NameArg,
    assignments: Annotated[
        Path,
        typer.Option(
            help="Who was in which group: user_id, group, optional ts (CSV/JSONL/Parquet)."
        ),
    ],
    weights: Annotated[
        str, typer.Option(help="The planned split in percent, e.g. control=10,A=45,B=45.")
    ],
    outcomes: Annotated[
        Path | None,
        typer.Option(
            help="Outcome events (user_id, response, ts, revenue) or a row per user "
            "(user_id, clicked, converted, revenue)."
        ),
    ] = None,
    start: Annotated[
        str | None,
        typer.Option(help="When it started (ISO 8601; default: the first assignment time)."),
    ] = None,
    attribution_days: Annotated[
        int, typer.Option(help="Days after assignment an order or conversion counts.")
    ] = 7,
    conversion_event: Annotated[
        str | None, typer.Option(help="An event that also counts as a conversion.")
    ] = None,
    metric: Annotated[
        list[str] | None,
        typer.Option("--metric", help="An event whose rate the report compares (repeatable)."),
    ] = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="Replace an experiment imported before.")
    ] = False,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """Load an A/B test run elsewhere.

    Its assignments (made by another system), the planned weights and optionally its
    outcomes; then 'portrait campaign report NAME' analyses it like a Portrait campaign (the
    workspace's orders count as conversions too). One transaction: a bad file stores nothing.
    """
    started = None
    if start is not None:
        try:
            started = dt.datetime.fromisoformat(start)
        except ValueError:
            raise InputError(f"'{start}' is not a time (ISO 8601)", where="--start") from None
        if started.tzinfo is None:
            started = started.replace(tzinfo=dt.UTC)
    info = open_ws(workspace).campaigns.import_experiment(
        name,
        assignments,
        CampaignService.parse_weights(weights),
        outcomes=outcomes,
        started_at=started,
        attribution_days=attribution_days,
        conversion_event=conversion_event,
        metrics=tuple(metric or ()),
        replace=replace,
    )
    emit_record(info, fmt, title=f"imported {name}")


@campaign_app.command("plan-size")
@handles_errors
def plan_size(
    baseline: Annotated[float, typer.Option(help="The control's rate (0.05) or mean (with --sd).")],
    effect: Annotated[
        str,
        typer.Option(help="The smallest effect worth finding: absolute (0.01) or relative (10%)."),
    ],
    weights: Annotated[
        str, typer.Option(help="The planned split in percent, e.g. control=10,A=45,B=45.")
    ] = "control=50,A=50",
    sd: Annotated[
        float | None, typer.Option(help="Per-user standard deviation, for a mean metric.")
    ] = None,
    alpha: Annotated[float, typer.Option(help="Significance level (two-sided).")] = 0.05,
    power: Annotated[float, typer.Option(help="The chance to find the effect.")] = 0.8,
    correction: Annotated[
        Correction, typer.Option(help="Plan for this many comparisons (holm/bh: Bonferroni).")
    ] = Correction.holm,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """How many users an experiment needs.

    The sample size at which each variant's comparison with the control (or, without a
    control, the variants' with each other) finds the effect with the power asked, by the
    normal approximation of the z-test (the report's); with several comparisons alpha is
    split among them (Bonferroni), the conservative plan for Holm's correction.
    """
    text = effect.strip()
    relative = text.endswith("%")
    try:
        value = float(text.rstrip("%")) / (100 if relative else 1)
    except ValueError:
        raise InputError(f"'{effect}' is not a number or a percentage", where="--effect") from None
    plan = CampaignService.plan_size(
        baseline,
        value,
        CampaignService.parse_weights(weights),
        relative=relative,
        sd=sd,
        alpha=alpha,
        power=power,
        correction=correction.value,
    )
    if fmt is OutputFormat.table:
        output_console().print(plan["summary"], highlight=False)
        emit_rows(plan["groups"], fmt)
    else:
        emit_record(plan, fmt)
