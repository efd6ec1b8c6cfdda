"""Campaigns (营销活动): the list by state; a create form (audience, channel, variants with a
live template preview, control holdout, schedule, send window, cap); a campaign's page with
its definition, dry run, launch, cancel, the effect report (funnel, rates, uplift, sample
ratio check, verdict) and re-targeting in the builder.

Every action goes through ``ws.campaigns`` (permission checked, personal data masked,
audited there); these handlers parse the form into a definition and render the answers.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from portrait.charts import effects_chart, funnel_chart
from portrait.errors import InputError, PortraitError
from portrait.model.campaigns import CAMPAIGN_STATES
from portrait.web.deps import analysis, quick
from portrait.web.render import is_fragment, render
from portrait.web.session import Changing, SignedIn
from portrait.workspace import Workspace

router = APIRouter()

MAX_VARIANTS = 10
TEXT = 65_536  # the longest template a message may be (the renderer's own limit)
Short = Annotated[str, Form(max_length=256)]
DEFAULT_ZONE = "Asia/Shanghai"
# "variants.1.weight: …" (a definition's problem names the field first)
_LOCATED = re.compile(r"^([a-z_]+(?:\.\w+)*): ")
_VARIANT_PART = re.compile(r"^variant '([^']*)' (template|subject)$")
# the field a problem of each part of the definition is shown next to
_FIELDS = {
    "name": "name",
    "audience": "audience",
    "channel": "channel",
    "control": "control",
    "schedule": "schedule",
    "timezone": "schedule",
    "send_window": "send_window",
    "cap": "cap",
    "description": "description",
    "cost_per_message": "cost_per_message",
}


# -- the list ------------------------------------------------------------------------------
@router.get("/campaigns")
async def campaign_list(request: Request, session: SignedIn) -> HTMLResponse:
    caller = session.caller
    campaigns = await quick(request, lambda ws: ws.campaigns.all(caller=caller))
    by_state = {state: [c for c in campaigns if c["state"] == state] for state in CAMPAIGN_STATES}
    return render(
        request,
        "campaigns/list.html",
        {"by_state": by_state, "total": len(campaigns), "states": CAMPAIGN_STATES},
    )


# -- creating ------------------------------------------------------------------------------
def _blank_variants() -> list[dict[str, str]]:
    return [
        {"name": "A", "weight": "45", "subject": "", "template": ""},
        {"name": "B", "weight": "45", "subject": "", "template": ""},
    ]


@router.get("/campaigns/new")
async def new_campaign(
    request: Request,
    session: SignedIn,
    segment: Annotated[str, Query(max_length=128)] = "",
) -> HTMLResponse:
    caller = session.caller

    def choices(ws: Workspace) -> dict[str, Any]:
        return {
            "channels": ws.campaigns.channels(caller=caller),
            "segments": ws.audiences.segments.all(caller=caller),
        }

    context = await quick(request, choices)
    context.update(
        segment=segment,
        variants=_blank_variants(),
        control="10",
        zone=DEFAULT_ZONE,
    )
    return render(request, "campaigns/new.html", context)


def _number(text: str, where: str, *, integer: bool = False) -> float | int:
    """A form field's number, or a problem shown next to it."""
    cleaned = text.strip().replace(",", "")
    try:
        value = float(cleaned)
        if integer:
            if value != int(value):
                raise ValueError(cleaned)
            return int(value)
    except (ValueError, OverflowError):
        kind = "a whole number" if integer else "a number"
        raise InputError(f"'{text.strip()[:40]}' is not {kind}", where=where) from None
    if value != value or value in (float("inf"), float("-inf")):
        raise InputError(f"'{text.strip()[:40]}' is not a number", where=where)
    return value


def _schedule(kind: str, at: str, zone: str) -> dict[str, Any]:
    if kind == "now":
        return {"kind": "now"}
    if kind != "at":
        raise InputError("choose when to send: now or at a time", where="schedule")
    if not at.strip():
        raise InputError("give the time to send at", where="schedule")
    try:
        moment = dt.datetime.fromisoformat(at.strip())
    except ValueError:
        raise InputError(f"'{at[:40]}' is not a date and time", where="schedule") from None
    try:
        place = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError(
            f"unknown time zone '{zone[:64]}' (use a name like Asia/Shanghai)", where="schedule"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=place)
    return {"kind": "at", "at": moment.isoformat()}


def _definition(form: dict[str, Any]) -> dict[str, Any]:
    """The campaign definition the form describes (the core checks the rest)."""
    names, weights = form["variant_name"], form["variant_weight"]
    subjects, templates = form["variant_subject"], form["variant_template"]
    if not len(names) == len(weights) == len(subjects) == len(templates):
        raise InputError("the variant rows are incomplete; reload the page", where="variants")
    if not names:
        raise InputError("add at least one variant", where="variants")
    if len(names) > MAX_VARIANTS:
        raise InputError(f"at most {MAX_VARIANTS} variants", where="variants")
    variants = []
    for i, (name, weight, subject, template) in enumerate(
        zip(names, weights, subjects, templates, strict=True)
    ):
        variant: dict[str, Any] = {
            "name": name.strip(),
            "weight": _number(weight, f"variants.{i}.weight"),
            "template": template,
        }
        if subject.strip():
            variant["subject"] = subject
        variants.append(variant)
    if not form["audience"].strip():
        raise InputError("choose the audience (a saved segment)", where="audience")
    definition: dict[str, Any] = {
        "name": form["name"].strip(),
        "audience": form["audience"].strip(),
        "channel": form["channel"].strip(),
        "variants": variants,
        "control": _number(form["control"] or "0", "control"),
        "schedule": _schedule(form["schedule"], form["schedule_at"], form["timezone"]),
        "timezone": form["timezone"].strip() or DEFAULT_ZONE,
    }
    if form["description"].strip():
        definition["description"] = form["description"].strip()
    start, end = form["window_start"].strip(), form["window_end"].strip()
    if start or end:
        if not (start and end):
            raise InputError("give both ends of the send window, or neither", where="send_window")
        definition["send_window"] = {"start": start, "end": end}
    messages, days = form["cap_messages"].strip(), form["cap_days"].strip()
    if messages or days:
        if not (messages and days):
            raise InputError("give the cap's messages and days, or neither", where="cap")
        definition["cap"] = {
            "messages": _number(messages, "cap", integer=True),
            "days": _number(days, "cap", integer=True),
        }
    if form["cost_per_message"].strip():
        definition["cost_per_message"] = _number(form["cost_per_message"], "cost_per_message")
    return definition


def field_of(problem: PortraitError, variant_names: list[str]) -> str:
    """The form field a problem is shown next to (``variants.1.weight``, ``audience``, …);
    ``form`` when it names none."""
    where = problem.where or ""
    located = _LOCATED.match(problem.message)
    if where == "campaign" and located:  # a definition's problem: "variants.0.weight: …"
        where = located.group(1)
    part = _VARIANT_PART.match(where)
    if part:
        name, which = part.groups()
        if name in variant_names:
            return f"variants.{variant_names.index(name)}.{which}"
        return "variants"
    pieces = where.split(".")
    if pieces[0] == "variants":
        if len(pieces) >= 3 and pieces[1].isdigit():
            return f"variants.{pieces[1]}.{pieces[2]}"
        return "variants"
    if where == "campaign":  # the weights and the control together, a duplicate variant
        return "variants"
    return _FIELDS.get(pieces[0], "form")


def field_problem(request: Request, problem: PortraitError, field: str) -> HTMLResponse:
    """The problem rendered into the slot next to ``field`` (htmx's HX-Retarget)."""
    slot = "#problem-" + field.replace(".", "-")
    return render(
        request,
        "_problem.html",
        {"problem": problem},
        status=problem.http_status,
        headers={"HX-Retarget": slot, "HX-Reswap": "innerHTML"},
    )


@router.post("/campaigns")
async def create_campaign(
    request: Request,
    session: Changing,
    name: Short = "",
    audience: Short = "",
    channel: Short = "file",
    description: Annotated[str, Form(max_length=2000)] = "",
    variant_name: Annotated[list[str] | None, Form(max_length=64)] = None,
    variant_weight: Annotated[list[str] | None, Form(max_length=64)] = None,
    variant_subject: Annotated[list[str] | None, Form(max_length=TEXT)] = None,
    variant_template: Annotated[list[str] | None, Form(max_length=TEXT)] = None,
    control: Annotated[str, Form(max_length=64)] = "0",
    schedule: Annotated[str, Form(max_length=16)] = "now",
    schedule_at: Annotated[str, Form(max_length=64)] = "",
    timezone: Annotated[str, Form(max_length=64)] = DEFAULT_ZONE,
    window_start: Annotated[str, Form(max_length=16)] = "",
    window_end: Annotated[str, Form(max_length=16)] = "",
    cap_messages: Annotated[str, Form(max_length=16)] = "",
    cap_days: Annotated[str, Form(max_length=16)] = "",
    cost_per_message: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    caller = session.caller
    form: dict[str, Any] = {
        "name": name,
        "audience": audience,
        "channel": channel,
        "description": description,
        "variant_name": variant_name or [],
        "variant_weight": variant_weight or [],
        "variant_subject": variant_subject or [],
        "variant_template": variant_template or [],
        "control": control,
        "schedule": schedule,
        "schedule_at": schedule_at,
        "timezone": timezone,
        "window_start": window_start,
        "window_end": window_end,
        "cap_messages": cap_messages,
        "cap_days": cap_days,
        "cost_per_message": cost_per_message,
    }
    names = [n.strip() for n in form["variant_name"]]
    try:
        definition = _definition(form)
        created = await analysis(
            request,
            "checking the campaign",
            lambda ws: ws.campaigns.create(definition, source="campaign", caller=caller),
        )
    except PortraitError as problem:
        if problem.http_status == 403 or not is_fragment(request):
            raise
        return field_problem(request, problem, field_of(problem, names))
    target = f"/campaigns/{created['name']}"
    if is_fragment(request):
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


@router.post("/campaigns/preview")
async def preview(
    request: Request,
    session: Changing,
    audience: Short = "",
    variant_name: Annotated[list[str] | None, Form(max_length=64)] = None,
    variant_subject: Annotated[list[str] | None, Form(max_length=TEXT)] = None,
    variant_template: Annotated[list[str] | None, Form(max_length=TEXT)] = None,
) -> HTMLResponse:
    """Every variant's template rendered for a few users of the audience: one fragment per
    variant row (swapped out of band next to its template), and the audience's problem."""
    caller = session.caller
    names = variant_name or []
    subjects = variant_subject or []
    templates = variant_template or []
    rows: list[dict[str, Any]] = []
    problem: PortraitError | None = None
    size: int | None = None
    if not audience.strip():
        problem = InputError("choose the audience to preview its users", where="audience")
    for i, template in enumerate(templates[:MAX_VARIANTS]):
        row: dict[str, Any] = {"index": i, "name": names[i] if i < len(names) else ""}
        rows.append(row)
        if problem is not None or not template.strip():
            continue
        subject = subjects[i] if i < len(subjects) else ""

        def work(ws: Workspace, template: str = template, subject: str = subject) -> Any:
            return ws.campaigns.preview(
                audience.strip(), template, subject=subject or None, caller=caller
            )

        try:
            shown = await quick(request, work)
        except PortraitError as error:
            if error.http_status == 403 or field_of(error, []) == "audience":
                raise
            row["problem"] = error
            continue
        row["samples"] = shown["samples"]
        size = shown["audience"]
    return render(
        request,
        "campaigns/_preview.html",
        {"rows": rows, "problem": problem, "size": size},
    )


# -- one campaign --------------------------------------------------------------------------
#: the report's options as the form names them (checked by the facade, which names a bad one)
REPORT_LEVELS = (0.9, 0.95, 0.99)


def _report_options(
    correction: str = "holm",
    level: float = 0.95,
    relative_interval: str = "log",
    sequential: bool = False,
    cuped: bool = True,
    prior_sd: str = "",
) -> dict[str, Any]:
    prior = prior_sd.strip()
    try:
        sd = float(prior) if prior else None
    except ValueError:
        raise InputError(f"'{prior}' is not a number", where="prior_sd") from None
    return {
        "correction": correction,
        "level": level,
        "relative_interval": relative_interval,
        "sequential": sequential,
        "cuped": cuped,
        "prior_sd": sd,
    }


def _events(text: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(e.strip() for e in text.split(",") if e.strip()))


def _report_context(report: dict[str, Any] | None, name: str) -> dict[str, Any]:
    """The report with its charts and its comparisons grouped by metric."""
    if not report or not report["groups"]:
        return {"report": report, "chart": None, "effects": None, "by_metric": []}
    shown = [c for c in report["comparisons"] if c["n_baseline"] and c["n_group"]]
    by_metric = [
        (m, [c for c in shown if c["metric"] == m["name"]])
        for m in report["metrics"]
        if any(c["metric"] == m["name"] for c in shown)
    ]
    level = report["options"]["level"]
    return {
        "report": report,
        "chart": funnel_chart(report["groups"], title=name),
        "effects": effects_chart(shown, title=name, level=level) if shown else None,
        "by_metric": by_metric,
    }


async def _campaign(
    request: Request, session: SignedIn, name: str, options: dict[str, Any], events: str
) -> HTMLResponse:
    caller = session.caller
    wanted = _events(events)

    def work(ws: Workspace) -> dict[str, Any]:
        shown = ws.campaigns.show(name, caller=caller)
        report = None
        if shown["runs"]:
            report = ws.campaigns.report(name, caller=caller, options=options, events=wanted)
        return {
            "campaign": shown,
            "actions": ws.campaigns.actions(shown["state"]),
            "report": report,
            "retarget": ws.audiences.builder.retarget(name) if shown["runs"] else None,
        }

    context = await analysis(request, "the campaign's report", work)
    context.update(_report_context(context["report"], name))
    context.update(name=name, levels=REPORT_LEVELS, chosen=options, events=events)
    return render(request, "campaigns/detail.html", context)


@router.get("/campaigns/{name}")
async def campaign_page(request: Request, session: SignedIn, name: str) -> HTMLResponse:
    return await _campaign(request, session, name, _report_options(), "")


@router.get("/campaigns/{name}/report")
async def campaign_report(
    request: Request,
    session: SignedIn,
    name: str,
    correction: Annotated[str, Query(max_length=8)] = "holm",
    level: float = 0.95,
    relative_interval: Annotated[str, Query(max_length=16)] = "log",
    sequential: bool = False,
    cuped: bool = False,
    prior_sd: Annotated[str, Query(max_length=32)] = "",
    events: Annotated[str, Query(max_length=1024)] = "",
) -> HTMLResponse:
    """The report with the options of the form above it (a checkbox left unticked is not
    sent: CUPED is off unless the form says so); the whole page when asked without htmx."""
    options = _report_options(correction, level, relative_interval, sequential, cuped, prior_sd)
    if not is_fragment(request):
        return await _campaign(request, session, name, options, events)
    caller = session.caller
    wanted = _events(events)
    report = await analysis(
        request,
        "the campaign's report",
        lambda ws: ws.campaigns.report(name, caller=caller, options=options, events=wanted),
    )
    context = _report_context(report, name)
    context.update(name=name, levels=REPORT_LEVELS, chosen=options, events=events)
    return render(request, "campaigns/_report.html", context)


@router.post("/campaigns/{name}/dry-run")
async def dry_run(request: Request, session: Changing, name: str) -> HTMLResponse:
    caller = session.caller
    plan = await analysis(
        request, "the dry run", lambda ws: ws.campaigns.dry_run(name, caller=caller)
    )
    return render(request, "campaigns/_dry_run.html", {"plan": plan})


@router.post("/campaigns/{name}/launch")
async def launch(request: Request, session: Changing, name: str) -> Response:
    caller = session.caller
    await analysis(request, "the launch", lambda ws: ws.campaigns.launch(name, caller=caller))
    return RedirectResponse(f"/campaigns/{name}", status_code=303)


@router.post("/campaigns/{name}/cancel")
async def cancel(request: Request, session: Changing, name: str) -> Response:
    caller = session.caller
    await quick(request, lambda ws: ws.campaigns.cancel(name, caller=caller))
    return RedirectResponse(f"/campaigns/{name}", status_code=303)
