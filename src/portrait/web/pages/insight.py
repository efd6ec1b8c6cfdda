"""Audience insight (人群洞察): a target (a segment or a rule) against a baseline, value by
value with TGI and significance, its distinctive features, and from any value row the
target ∩ value opened in the builder or saved as a segment. ``POST /insight`` with ``target``
is also how the builder opens insight (posted: no rule in a URL)."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse

from portrait import charts
from portrait.errors import InputError, PortraitError
from portrait.model.access import Caller
from portrait.web.deps import analysis, quick
from portrait.web.render import render
from portrait.web.session import Changing, SignedIn
from portrait.workspace import Workspace

router = APIRouter()
SHOWN = (50, 200, 0)  # rows the table shows (0: all)
CHARTED = 30  # rows the chart draws


def choices(ws: Workspace, caller: Caller) -> dict[str, Any]:
    """What the insight form offers: saved segments, tag categories, titles, the as-of date."""
    summaries = ws.catalog.summaries(caller=caller)
    segments = (
        [s["name"] for s in ws.audiences.segments.all(caller=caller)]
        if caller.can("segments:read")
        else []
    )
    return {
        "segments": segments,
        "categories": sorted({str(t.get("category") or "") for t in summaries} - {""}),
        "titles": {t["name"]: t.get("title") or "" for t in summaries},
        "category_of": {t["name"]: str(t.get("category") or "") for t in summaries},
        "as_of": str(ws.built.as_of or ""),
    }


def split_tags(text: str) -> list[str] | None:
    names = [t for t in re.split(r"[,\s]+", text) if t]
    return names or None


def check_fields(
    ws: Workspace,
    caller: Caller,
    fields: dict[str, str],
    category_of: dict[str, str],
) -> tuple[dict[str, PortraitError], list[str] | None]:
    """Each field's problem (shown next to it), and the tags to compare."""
    problems: dict[str, PortraitError] = {}
    for field in ("target", "baseline"):
        text = fields[field]
        if not text.strip():
            if field == "target":
                problems[field] = InputError("name a segment or write a rule", where=field)
            continue
        try:
            if not ws.audiences.is_segment(text):
                ws.audiences.check_rule(text, caller=caller)
        except PortraitError as error:
            problems[field] = error
    tags = split_tags(fields["tags"])
    chosen: list[str] | None = None
    try:
        chosen = ws.insights.comparable_tags(tags, caller=caller) if tags else None
    except PortraitError as error:
        problems["tags"] = error
    category = fields["category"]
    if category and "tags" not in problems:
        pool = chosen or ws.insights.comparable_tags(None, caller=caller)
        chosen = [t for t in pool if category_of.get(t) == category]
        if not chosen:
            problems["category"] = InputError(
                f"no tag of the category '{category}' can be compared", where="category"
            )
    return problems, chosen


def report_of(
    ws: Workspace, caller: Caller, fields: dict[str, str], tags: list[str] | None, top: int
) -> dict[str, Any]:
    target, baseline = fields["target"].strip(), fields["baseline"].strip() or None
    report = ws.insights.insight(target, baseline=baseline, tags=tags, caller=caller)
    distinctive = ws.insights.distinctive(
        target, baseline=baseline, tags=tags, caller=caller, report=report
    )
    rows = report.ranked(top)
    rules = ws.insights.narrowed(target, [(r["tag"], r["value"]) for r in rows], caller=caller)
    charted = [r for r in rows if not r.get("suppressed") and not r["missing"]][:CHARTED]
    return {
        "report": report,
        "rows": list(zip(rows, rules, strict=True)),
        "distinctive": distinctive,
        "chart": charts.insight_chart(charted, title=target) if charted else None,
        "distinctive_chart": charts.distinctive_chart(distinctive, title=target)
        if distinctive
        else None,
    }


@router.get("/insight")
async def insight_form(request: Request, session: SignedIn) -> HTMLResponse:
    caller = session.caller
    context = await quick(request, lambda ws: choices(ws, caller))
    fields = {"target": "", "baseline": "", "tags": "", "category": "", "top": "50"}
    return render(
        request, "insight/page.html", {**context, "fields": fields, "problems": {}, "shown": SHOWN}
    )


@router.post("/insight")
async def insight_page(
    request: Request,
    session: Changing,
    target: Annotated[str, Form(max_length=100_000)] = "",
    baseline: Annotated[str, Form(max_length=100_000)] = "",
    tags: Annotated[str, Form(max_length=10_000)] = "",
    category: Annotated[str, Form(max_length=100)] = "",
    top: Annotated[str, Form(max_length=8)] = "50",
) -> HTMLResponse:
    """The report for a target (a segment's name or rule text) against a baseline."""
    caller = session.caller
    fields = {
        "target": target,
        "baseline": baseline,
        "tags": tags,
        "category": category,
        "top": top,
    }
    context = await quick(request, lambda ws: choices(ws, caller))
    shown = int(top) if top.isdigit() and int(top) in SHOWN else SHOWN[0]
    problems, chosen = await quick(
        request, lambda ws: check_fields(ws, caller, fields, context["category_of"])
    )
    page = {**context, "fields": fields, "problems": problems, "shown": SHOWN}
    if problems:
        status = max(p.http_status for p in problems.values())
        return render(request, "insight/page.html", page, status=status)
    found = await analysis(
        request, "the insight report", lambda ws: report_of(ws, caller, fields, chosen, shown)
    )
    return render(request, "insight/page.html", {**page, **found})


@router.post("/insight/save")
async def save_segment(
    request: Request,
    session: Changing,
    name: Annotated[str, Form(max_length=128)] = "",
    rule: Annotated[str, Form(max_length=100_000)] = "",
) -> HTMLResponse:
    """Save a narrowed audience (target ∩ value, an RFM segment) as a segment."""
    caller = session.caller
    if not name.strip():
        raise InputError("give the segment a name", where="name")
    if not rule.strip():
        raise InputError("the rule is empty", where="rule")
    saved = await analysis(
        request,
        "saving the segment",
        lambda ws: ws.audiences.segments.create(name.strip(), rule, caller=caller),
    )
    return render(request, "insight/_saved.html", {"segment": saved})
