"""Cross-business analysis (交叉营销: how audiences overlap, each cell opening the insight of
its cross users), association rules (关联推荐) with recommendations for an item, and the RFM
segments, each openable in the builder or savable as a segment."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse

from portrait import charts
from portrait.errors import InputError, PortraitError
from portrait.model.access import Caller
from portrait.model.reports import json_rule
from portrait.web.deps import analysis, quick
from portrait.web.render import is_fragment, render
from portrait.web.session import Changing, SignedIn
from portrait.workspace import Workspace

router = APIRouter()
LINES = "lines"  # the cross matrix of the business lines (the facade's default)


def share(text: str, field: str, *, low_open: bool) -> float:
    """A share typed into a form (0 to 1), or the problem next to its field."""
    try:
        value = float(text)
    except ValueError:
        raise InputError(
            f"'{text}' is not a number", where=field, hint="a share from 0 to 1"
        ) from None
    if not (0 < value <= 1 if low_open else 0 <= value <= 1):
        lowest = "above 0" if low_open else "from 0"
        raise InputError(
            f"{value:g} is out of range", where=field, hint=f"a share {lowest} up to 1"
        )
    return value


# -- cross-business ---------------------------------------------------------------------------


def cross_choices(ws: Workspace, caller: Caller) -> dict[str, Any]:
    segments = (
        [s["name"] for s in ws.audiences.segments.all(caller=caller)]
        if caller.can("segments:read")
        else []
    )
    return {"segments": segments, "lines": list(ws.insights.line_audiences())}


@router.get("/cross")
async def cross_form(request: Request, session: SignedIn) -> HTMLResponse:
    caller = session.caller
    context = await quick(request, lambda ws: cross_choices(ws, caller))
    fields = {"chosen": [], "min_support": "0", "min_confidence": "0"}
    return render(request, "analysis/cross.html", {**context, "fields": fields, "problems": {}})


@router.post("/cross")
async def cross_page(
    request: Request,
    session: Changing,
    audience: Annotated[list[str] | None, Form(max_length=200)] = None,
    min_support: Annotated[str, Form(max_length=20)] = "0",
    min_confidence: Annotated[str, Form(max_length=20)] = "0",
) -> HTMLResponse:
    """The matrix of the chosen segments, or of the business lines when none is chosen."""
    caller = session.caller
    chosen = [a for a in audience or [] if a and a != LINES]
    context = await quick(request, lambda ws: cross_choices(ws, caller))
    fields: dict[str, Any] = {
        "chosen": chosen,
        "min_support": min_support,
        "min_confidence": min_confidence,
    }
    problems: dict[str, PortraitError] = {}
    thresholds: dict[str, float] = {}
    for field in ("min_support", "min_confidence"):
        try:
            thresholds[field] = share(fields[field], field, low_open=False)
        except InputError as error:
            problems[field] = error
    if len(chosen) == 1:
        problems["audience"] = InputError(
            "choose at least two segments (or none, for the business lines)", where="audience"
        )
    page = {**context, "fields": fields, "problems": problems}
    if problems:
        return render(request, "analysis/cross.html", page, status=400)
    rows = await analysis(
        request,
        "the cross analysis",
        lambda ws: ws.insights.cross(
            chosen or None,
            min_support=thresholds["min_support"],
            min_confidence=thresholds["min_confidence"],
            caller=caller,
        ),
    )
    names = list(dict.fromkeys([r["a"] for r in rows] + [r["b"] for r in rows]))
    cells = {(r["a"], r["b"]): r for r in rows}
    found = {
        "rows": rows,
        "names": names,
        "cells": cells,
        "mode": "segments" if chosen else LINES,
        "chart": charts.cross_chart(rows),
    }
    return render(request, "analysis/cross.html", {**page, **found})


@router.post("/cross/insight")
async def cross_cell(
    request: Request,
    session: Changing,
    a: Annotated[str, Form(max_length=200)],
    b: Annotated[str, Form(max_length=200)],
    mode: Annotated[str, Form(max_length=20)] = "segments",
) -> HTMLResponse:
    """Who are the cross users of a cell: the insight of A∩B against A."""
    caller = session.caller

    def work(ws: Workspace) -> dict[str, Any]:
        lines = ws.insights.line_audiences() if mode == LINES else {}
        spec_a, spec_b = lines.get(a, a), lines.get(b, b)
        report = ws.insights.cross_insight(spec_a, spec_b, caller=caller)
        rows = [r for r in report.ranked(20) if not r["missing"]]
        shown = [r for r in rows if not r.get("suppressed")]
        titles = {t["name"]: t.get("title") or "" for t in ws.catalog.summaries(caller=caller)}
        return {
            "report": report,
            "rows": rows,
            "titles": titles,
            "chart": charts.insight_chart(shown, title=f"{a} ∩ {b}") if shown else None,
        }

    found = await analysis(request, "the cross users' insight", work)
    return render(request, "analysis/_cross_insight.html", {**found, "a": a, "b": b})


# -- association rules ------------------------------------------------------------------------


def rule_rows(rules: list[dict[str, Any]], top: int) -> list[dict[str, Any]]:
    return [json_rule(r) for r in (rules[:top] if top else rules)]


@router.get("/association")
async def association_page(
    request: Request,
    session: SignedIn,
    min_support: Annotated[str, Query(max_length=20)] = "0.01",
    min_confidence: Annotated[str, Query(max_length=20)] = "0.2",
    top: Annotated[str, Query(max_length=8)] = "30",
) -> HTMLResponse:
    """Association rules for the given thresholds (read-only: a plain GET form)."""
    caller = session.caller
    fields = {"min_support": min_support, "min_confidence": min_confidence, "top": top}
    problems: dict[str, PortraitError] = {}
    values: dict[str, float] = {}
    for field, low_open in (("min_support", True), ("min_confidence", False)):
        try:
            values[field] = share(fields[field], field, low_open=low_open)
        except InputError as error:
            problems[field] = error
    if not top.isdigit() or not 0 <= int(top) <= 10_000:
        problems["top"] = InputError(
            f"'{top}' is not a number of rules", where="top", hint="0 (all) to 10,000"
        )
    page: dict[str, Any] = {"fields": fields, "problems": problems}
    if problems:
        return render(request, "analysis/association.html", page, status=400)
    if not is_fragment(request):  # the page at once; the rules (an analysis) follow
        return render(request, "analysis/association.html", {**page, **pending(request)})

    def work(ws: Workspace) -> dict[str, Any]:
        rules = ws.insights.association_rules(
            min_support=values["min_support"],
            min_confidence=values["min_confidence"],
            caller=caller,
        )
        itemsets = ws.insights.frequent_itemsets(min_support=values["min_support"], caller=caller)
        return {"rules": rules, "itemsets": itemsets}

    found = await analysis(request, "the association rules", work)
    rules = found["rules"]
    context = {
        **page,
        "rules": rule_rows(rules, int(top)),
        "total": len(rules),
        "itemsets": found["itemsets"][:30],
        "chart": charts.rules_chart(rules) if rules else None,
    }
    return render(request, "analysis/association.html", context)


@router.get("/association/recommend")
async def recommend(
    request: Request,
    session: SignedIn,
    item: Annotated[str, Query(max_length=200)] = "",
    min_support: Annotated[str, Query(max_length=20)] = "0.01",
    min_confidence: Annotated[str, Query(max_length=20)] = "0.2",
) -> HTMLResponse:
    """What to recommend with an item (an htmx fragment under the item's field)."""
    caller = session.caller
    support = share(min_support, "min_support", low_open=True)
    confidence = share(min_confidence, "min_confidence", low_open=False)
    found = await analysis(
        request,
        "the recommendations",
        lambda ws: ws.insights.recommendations(
            item, min_support=support, min_confidence=confidence, caller=caller
        ),
    )
    return render(
        request, "analysis/_recommend.html", {"item": item.strip(), "rules": rule_rows(found, 0)}
    )


def pending(request: Request) -> dict[str, Any]:
    """A page whose analysis is asked for by the page itself once shown (``_pending.html``):
    the first render does not wait for it."""
    query = request.url.query
    return {"pending": True, "request_url": request.url.path + (f"?{query}" if query else "")}


# -- RFM --------------------------------------------------------------------------------------


@router.get("/rfm")
async def rfm_page(request: Request, session: SignedIn) -> HTMLResponse:
    """The 8 RFM segments, each openable in the builder or savable as a segment."""
    caller = session.caller
    if not is_fragment(request):  # the page at once; the report (an analysis) follows
        return render(request, "analysis/rfm.html", pending(request))

    def work(ws: Workspace) -> dict[str, Any]:
        return {
            "rows": ws.insights.rfm_report(caller=caller),
            "rules": ws.insights.rfm_rules(),
            "as_of": str(ws.built.as_of or ""),
        }

    found = await analysis(request, "the RFM report", work)
    shown = [r for r in found["rows"] if not r.get("suppressed")]
    chart = charts.rfm_chart(shown) if shown else None
    return render(request, "analysis/rfm.html", {**found, "chart": chart})
