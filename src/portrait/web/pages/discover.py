"""Discover (发现人群): for a target audience (a segment or a rule) against a baseline, the tags
that tell it apart (feature ranking), the niche groups of 2–4 tags' value combinations, and the
subgroups (readable rules) that best describe it. Each section is answered in place (htmx);
every niche cell, merged group and subgroup opens in the builder or is saved as a segment, as
insight's rows are (``insight/_actions.html``).

The numbers are ``ws.discovery``'s, for the signed-in caller: released counts under disclosure
control, circular tags left out by the facade. A problem is shown next to the field it concerns
(the facade names it in ``where``), and the other fields' old problems are cleared by the same
answer (out-of-band swaps)."""

from __future__ import annotations

import copy
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse

from portrait import charts
from portrait.errors import InputError, PortraitError
from portrait.model.access import Caller
from portrait.web.deps import analysis, quick
from portrait.web.render import is_fragment, render
from portrait.web.session import Changing, SignedIn
from portrait.workspace import Workspace

router = APIRouter()

SECTIONS = ("ranking", "niche", "subgroups")
COMMON = ("target", "baseline")
FIELDS = {  # each section's own fields (their problems' slots)
    "ranking": ("rank_metric", "by", "rank_top", "include_circular"),
    "niche": ("tags", "metric", "max_values", "groups"),
    "subgroups": ("depth", "quality", "min_support"),
}
DEFAULTS = {
    "target": "",
    "baseline": "",
    "rank_metric": "",
    "by": "mutual_info",
    "rank_top": "20",
    "include_circular": "",
    "tags": [],
    "metric": "",
    "max_values": "12",
    "groups": "8",
    "depth": "2",
    "quality": "wracc",
    "min_support": "0.01",
}
RANK_TOPS = (20, 50, 0)
CELLS_SHOWN = 30  # niche cells the table lists, by lift (the count says how many there are)
CELLS_DRAWN = 2_000  # larger cubes are listed, not drawn
SUBGROUPS_SHOWN = 10
# where the facade (and the analyses under it) name a problem → the form's field
WHERE = {
    "rule": "target",
    "population": "baseline",
    "candidates": "tags",
    "by": "by",
    "top": "rank_top",
}

Text = Annotated[str, Form(max_length=100_000)]
Short = Annotated[str, Form(max_length=20)]


# -- shared -----------------------------------------------------------------------------------
def choices(ws: Workspace, caller: Caller) -> dict[str, Any]:
    """What the forms offer: saved segments, the tags to combine (title, whether a number)."""
    segments = (
        [s["name"] for s in ws.audiences.segments.all(caller=caller)]
        if caller.can("segments:read")
        else []
    )
    names = ws.insights.comparable_tags(None, caller=caller)
    facts = ws.discovery.tag_facts(names)
    tags = [
        {"name": n, "title": facts[n].title if facts[n].title != n else "", "kind": facts[n].kind}
        for n in names
    ]
    return {"segments": segments, "tags": tags, "as_of": str(ws.built.as_of or "")}


def check_audiences(
    ws: Workspace, caller: Caller, fields: dict[str, Any], needs_target: bool
) -> dict[str, PortraitError]:
    """The target's and the baseline's problems (a rule that does not parse, an unknown tag),
    each for its own field."""
    problems: dict[str, PortraitError] = {}
    for field in COMMON:
        text = str(fields[field])
        if field == "target" and fields.get("rank_metric"):
            continue  # ranked against a number: the target is not read
        if not text.strip():
            if field == "target" and needs_target:
                problems[field] = InputError("name a segment or write a rule", where=field)
            continue
        try:
            if not ws.audiences.is_segment(text):
                ws.audiences.check_rule(text, caller=caller)
        except PortraitError as error:
            problems[field] = error
    return problems


def field_of(error: PortraitError, section: str) -> str:
    """The field a problem of ``section`` is shown next to (the section's own slot when the
    facade names none of its fields)."""
    where = (error.where or "").split(",")[0].strip().lstrip("-").replace("-", "_")
    where = WHERE.get(where, where)
    if section == "ranking" and where == "metric":
        where = "rank_metric"
    if where in COMMON or where in FIELDS[section]:
        return where
    return section


def placed(error: PortraitError, field: str) -> PortraitError:
    """The problem, naming the form's field rather than the command line's option."""
    if error.where and error.where.startswith("--"):
        error = copy.copy(error)
        error.where = field
    return error


def whole(text: str, field: str, low: int, high: int) -> int:
    if not text.strip().isdigit() or not low <= int(text) <= high:
        raise InputError(
            f"'{text}' is not a whole number from {low} to {high}",
            where=field,
            hint=f"{low} to {high}",
        )
    return int(text)


def within(ws: Workspace, caller: Caller, baseline: str, rules: list[str]) -> list[str]:
    """Each rule of a report inside its baseline (its users were counted there): ``baseline
    and rule`` as the builder writes it; the rules as they are when there is no baseline."""
    base_text = baseline.strip()
    if not base_text:
        return rules
    builder = ws.audiences.builder
    base = (
        {"kind": "segment", "name": base_text}
        if ws.audiences.is_segment(base_text)
        else builder.tree(base_text, caller=caller)["rule"]
    )
    return [
        builder.text(
            {
                "version": 1,
                "rule": {"kind": "and", "items": [base, builder.tree(r, caller=caller)["rule"]]},
            }
        )
        for r in rules
    ]


def page_context(tab: str, fields: dict[str, Any]) -> dict[str, Any]:
    return {
        "tab": tab if tab in SECTIONS else SECTIONS[0],
        "fields": fields,
        "problems": {},
        "found": {},
        "rank_tops": RANK_TOPS,
    }


@router.get("/discover")
async def discover_form(
    request: Request, session: SignedIn, tab: Annotated[str, Query(max_length=20)] = "ranking"
) -> HTMLResponse:
    caller = session.caller
    context = await quick(request, lambda ws: choices(ws, caller))
    return render(request, "discover/page.html", {**context, **page_context(tab, dict(DEFAULTS))})


async def answer(
    request: Request,
    caller: Caller,
    section: str,
    fields: dict[str, Any],
    problems: dict[str, PortraitError],
    what: str,
    work: Any,
) -> HTMLResponse:
    """Run ``work`` (the facade call) unless a field has a problem; answer the section's
    result in place (an htmx request) or the whole page."""
    # a niche cube measured by a mean, and a ranking against a number, need no target
    needs_target = not (fields.get("metric") or fields.get("rank_metric"))
    checked = await quick(request, lambda ws: check_audiences(ws, caller, fields, needs_target))
    problems = {**problems, **checked}
    found: dict[str, Any] | None = None
    if not problems:
        try:
            found = await analysis(request, what, work)
        except PortraitError as error:
            field = field_of(error, section)
            problems[field] = placed(error, field)
    status = max((p.http_status for p in problems.values()), default=200)
    slots = [*COMMON, *FIELDS[section], section]
    if is_fragment(request):
        context = {"section": section, "found": found, "problems": problems, "slots": slots}
        return render(
            request, "discover/_answer.html", {**context, "fields": fields}, status=status
        )
    context = await quick(request, lambda ws: choices(ws, caller))
    page = {**context, **page_context(section, fields), "problems": problems}
    page["found"] = {section: found} if found else {}
    return render(request, "discover/page.html", page, status=status)


def common_fields(target: str, baseline: str) -> dict[str, Any]:
    return {**DEFAULTS, "target": target, "baseline": baseline}


# -- feature ranking --------------------------------------------------------------------------
@router.post("/discover/ranking")
async def ranking(
    request: Request,
    session: Changing,
    target: Text = "",
    baseline: Text = "",
    rank_metric: Annotated[str, Form(max_length=200)] = "",
    by: Short = "mutual_info",
    rank_top: Short = "20",
    include_circular: Short = "",
) -> HTMLResponse:
    """The tags ranked by how much they tell the target apart (or, given ``rank_metric``,
    how much they say about that number), left-out circular tags."""
    caller = session.caller
    metric = rank_metric.strip()
    fields = {
        **common_fields(target, baseline),
        "rank_metric": metric,
        "by": by,
        "rank_top": rank_top,
        "include_circular": include_circular,
    }
    top = int(rank_top) if rank_top.isdigit() and int(rank_top) in RANK_TOPS else RANK_TOPS[0]

    def work(ws: Workspace) -> dict[str, Any]:
        options: dict[str, Any] = {
            "baseline": baseline.strip() or None,
            "by": by,
            "include_circular": bool(include_circular),
            "caller": caller,
        }
        found = (
            ws.discovery.rank_metric(metric, **options)
            if metric
            else ws.discovery.rank(target.strip(), **options)
        )
        report = found.to_dict(top or None)
        shown = report["rows"]
        return {
            "report": report,
            "chart": charts.ranking_chart(
                shown,
                by=found.by,
                title=metric or target.strip(),
                subtitle=None if found.universe == "population" else found.universe,
            )
            if shown
            else None,
        }

    return await answer(request, caller, "ranking", fields, {}, "the feature ranking", work)


# -- niche groups -----------------------------------------------------------------------------
@router.post("/discover/niche")
async def niche(
    request: Request,
    session: Changing,
    target: Text = "",
    baseline: Text = "",
    tags: Annotated[list[str] | None, Form(max_length=200)] = None,
    metric: Annotated[str, Form(max_length=200)] = "",
    max_values: Short = "12",
    groups: Short = "8",
) -> HTMLResponse:
    """The cube of 2–4 tags: every cell's users, rate (or mean), lift and highlight; the cells
    merged into groups, each with its rule."""
    caller = session.caller
    chosen = [t for t in tags or [] if t]
    fields = {
        **common_fields(target, baseline),
        "tags": chosen,
        "metric": metric,
        "max_values": max_values,
        "groups": groups,
    }
    problems: dict[str, PortraitError] = {}
    numbers: dict[str, int] = {}
    for field, low, high in (("max_values", 1, 100), ("groups", 1, 50)):
        try:
            numbers[field] = whole(fields[field], field, low, high)
        except InputError as error:
            problems[field] = error

    def work(ws: Workspace) -> dict[str, Any]:
        base = baseline.strip()
        cube = ws.discovery.niche(
            chosen or None,
            target=None if metric else target.strip(),
            metric=metric or None,
            baseline=base or None,
            max_values=numbers["max_values"],
            groups=numbers["groups"],
            caller=caller,
        )
        report = cube.to_dict(CELLS_SHOWN)
        cells, merged = report["cells"], report["groups"]
        rules = within(ws, caller, base, [c["rule"] for c in cells] + [g["rule"] for g in merged])
        return {
            "report": report,
            "cells": list(zip(cells, rules[: len(cells)], strict=True)),
            "groups": list(zip(merged, rules[len(cells) :], strict=True)),
            "chart": charts.niche_chart(cube.to_dict(), title=" × ".join(cube.tags))
            if report["cell_count"] <= CELLS_DRAWN
            else None,
        }

    return await answer(request, caller, "niche", fields, problems, "the niche groups", work)


# -- subgroups --------------------------------------------------------------------------------
@router.post("/discover/subgroups")
async def subgroups(
    request: Request,
    session: Changing,
    target: Text = "",
    baseline: Text = "",
    depth: Short = "2",
    quality: Short = "wracc",
    min_support: Short = "0.01",
) -> HTMLResponse:
    """The readable rules that best describe the target, with coverage, precision, recall,
    lift and corrected p-values."""
    caller = session.caller
    fields = {
        **common_fields(target, baseline),
        "depth": depth,
        "quality": quality,
        "min_support": min_support,
    }
    problems: dict[str, PortraitError] = {}
    levels = 0
    try:
        levels = whole(depth, "depth", 1, 4)
    except InputError as error:
        problems["depth"] = error
    support = 0.0
    try:
        support = float(min_support)
    except ValueError:
        problems["min_support"] = InputError(
            f"'{min_support}' is not a number",
            where="min_support",
            hint="a share below 1 (0.01) or a number of users (50)",
        )

    def work(ws: Workspace) -> dict[str, Any]:
        base = baseline.strip()
        found = ws.discovery.subgroups(
            target.strip(),
            baseline=base or None,
            depth=levels,
            quality=quality,
            min_support=support,
            top=SUBGROUPS_SHOWN,
            caller=caller,
        )
        rows = found["rows"]
        rules = within(ws, caller, base, [r["rule"] for r in rows])
        return {"report": found, "rows": list(zip(rows, rules, strict=True))}

    return await answer(request, caller, "subgroups", fields, problems, "the subgroups", work)
