"""``portrait campaign …``: define, dry-run, launch, cancel, load responses, report."""

from __future__ import annotations

import json
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


@campaign_app.command("report")
@handles_errors
def report(
    name: NameArg,
    run: Annotated[
        int | None, typer.Option("--run", help="Run number (default: the latest).")
    ] = None,
    chart: ChartOpt = None,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """Effect per variant and control.

    Per variant and the control: the funnel, CTR, CVR, revenue, cost and ROI, and the uplift
    against the control with its 95% interval and p-value; the sample-ratio check; a verdict
    in words.
    """
    result = _campaigns(workspace).report(name, run)
    if fmt is OutputFormat.json:
        emit_record(result, fmt)
    elif fmt is OutputFormat.csv:
        emit_rows(result["groups"], fmt)
    else:
        output_console().print(
            f"campaign {name}, run {result['run']} ({result['run_state']}), started "
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
        for line in result["verdict"]:
            output_console().print(line, highlight=False)
    write_chart(chart, lambda: charts.funnel_chart(result["groups"], title=f"Campaign {name}"))
