"""Cubes (多重交集): groups of audiences as dimensions (a tag's values, or saved segments), every
non-empty intersection of 2, 3 or 4 of them with its size, its distinctive features and the
items its members prefer or association rules recommend; the needs an analyst infers for a
cell, and each cell as a segment or as the audience of a campaign with a variant per need and a
blank control, whose effect report confirms or refutes the needs.

Every number is ``ws.cubes``' for the signed-in caller (released sizes under disclosure
control, with small cells left out); who may define cubes, attach needs, save segments and
start campaigns is the facade's decision."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from portrait import charts
from portrait.errors import InputError, PortraitError
from portrait.model.access import Caller
from portrait.web.deps import analysis, quick, write
from portrait.web.pages.discover import placed
from portrait.web.render import is_fragment, problem_in, render
from portrait.web.session import Changing, SignedIn
from portrait.workspace import Workspace
from portrait.workspace.cubes import cell_key

router = APIRouter()

DIMENSION_ROWS = 4
LEVELS = ("2", "3", "4")
TOPS = (20, 100, 0)  # cells shown, largest first (0: all); the count says how many there are
Short = Annotated[str, Form(max_length=200)]
Names = Annotated[list[str] | None, Form(max_length=200)]


def overview(ws: Workspace, caller: Caller) -> dict[str, Any]:
    """The cubes (name, title, dimensions, needs), and what a new cube's dimensions can be
    made of: the comparable tags (with titles) and the saved segments the caller may read."""
    cubes: list[dict[str, Any]] = []
    for name in ws.cubes.names():
        try:
            spec = ws.cubes.spec(name)
        except PortraitError as error:  # a file that does not read: listed with its problem
            cubes.append({"name": name, "title": "", "dimensions": [], "needs": 0,
                          "problem": error.message})  # fmt: skip
            continue
        cubes.append(
            {
                "name": name,
                "title": spec.title,
                "dimensions": [d.name for d in spec.dimensions],
                "needs": len(spec.needs),
            }
        )
    titles = {t["name"]: t.get("title") or "" for t in ws.catalog.summaries(caller=caller)}
    tags = [
        {"name": n, "title": titles.get(n, "")} for n in ws.insights.comparable_tags(None, caller)
    ]
    segments = (
        [s["name"] for s in ws.audiences.segments.all(caller=caller)]
        if caller.can("segments:read")
        else []
    )
    return {"cubes": cubes, "tags": tags, "segments": segments}


def _blank_rows() -> list[dict[str, Any]]:
    return [{"name": "", "tag": "", "segments": [], "rules": ""} for _ in range(DIMENSION_ROWS)]


@router.get("/cubes")
async def cubes_page(request: Request, session: SignedIn) -> HTMLResponse:
    caller = session.caller
    context = await quick(request, lambda ws: overview(ws, caller))
    fields = {"name": "", "title": "", "replace": "", "rows": _blank_rows()}
    return render(request, "cubes/list.html", {**context, "fields": fields, "problems": {}})


def _members(text: str, where: str) -> dict[str, str]:
    """``label: rule`` lines (blank lines skipped) → the dimension's members."""
    members: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        label, sep, rule = line.partition(":")
        if not sep or not label.strip() or not rule.strip():
            raise InputError(
                f"{where}, line {n}: '{line.strip()[:60]}' is not 'label: rule'",
                where=where.replace("dimension ", "row"),
                hint='lipstick: preferred_items contains any ("lipstick")',
            )
        if label.strip() in members:
            raise InputError(
                f"{where}, line {n}: the label '{label.strip()[:60]}' is used twice",
                where=where.replace("dimension ", "row"),
                hint="each member of a dimension has a label of its own",
            )
        members[label.strip()] = rule.strip()
    return members


def definition_of(name: str, title: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The cube the form describes: each filled row a dimension of a tag's values, of
    segments or of rules (``label: rule`` lines); a row giving more than one of them, or a
    name with none, is refused, naming the row."""
    dimensions: list[dict[str, Any]] = []
    for i, row in enumerate(rows, 1):
        label, tag, segments = row["name"].strip(), row["tag"].strip(), row["segments"]
        rules = row["rules"].strip()
        if not (label or tag or segments or rules):
            continue
        where = f"dimension {i}"
        given = [what for what, value in (("a tag", tag), ("segments", segments),
                                          ("rules", rules)) if value]  # fmt: skip
        if len(given) > 1:
            raise InputError(
                f"{where}: choose one of a tag, segments or rules, not {' and '.join(given)}",
                where=f"row{i}", hint="a dimension groups users one way",
            )  # fmt: skip
        if not given:
            raise InputError(
                f"{where}: choose the tag whose values, the segments or the rules that make "
                "its members",
                where=f"row{i}",
            )
        dimension: dict[str, Any] = {"name": label or tag or f"d{i}"}
        if tag:
            dimension["tag"] = tag
        elif segments:
            dimension["segments"] = list(segments)
        else:
            dimension["members"] = _members(rules, where)
        dimensions.append(dimension)
    if len(dimensions) < 2:
        raise InputError(
            "a cube needs at least two dimensions to intersect", where="row1",
            hint="fill two rows or more",
        )  # fmt: skip
    return {"name": name.strip(), "title": title.strip(), "dimensions": dimensions}


@router.post("/cubes/create", response_model=None)
async def create(
    request: Request,
    session: Changing,
    name: Short = "",
    title: Short = "",
    replace: Annotated[str, Form(max_length=20)] = "",
    dim_name: Names = None,
    dim_tag: Names = None,
    dim_segments_1: Names = None,
    dim_segments_2: Names = None,
    dim_segments_3: Names = None,
    dim_segments_4: Names = None,
    dim_rules: Annotated[list[str] | None, Form(max_length=20_000)] = None,
) -> Response:
    """Define a cube from the form's rows (checked and stored by the facade: nothing is
    written when any part is wrong); then its page."""
    caller = session.caller
    labels = list(dim_name or []) + [""] * DIMENSION_ROWS
    tags = list(dim_tag or []) + [""] * DIMENSION_ROWS
    rules = list(dim_rules or []) + [""] * DIMENSION_ROWS
    chosen = [dim_segments_1, dim_segments_2, dim_segments_3, dim_segments_4]
    rows = [
        {
            "name": labels[i],
            "tag": tags[i],
            "segments": [s for s in chosen[i] or [] if s],
            "rules": rules[i],
        }
        for i in range(DIMENSION_ROWS)
    ]
    fields = {"name": name, "title": title, "replace": replace, "rows": rows}
    problem: PortraitError | None = None
    try:
        definition = definition_of(name, title, rows)
        await write(
            request, lambda ws: ws.cubes.create(definition, replace=bool(replace), caller=caller)
        )
    except PortraitError as error:
        problem = placed(error, "create")
    if problem is None:
        target = f"/cubes/{name.strip()}"
        if is_fragment(request):
            return HTMLResponse("", headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)
    context = await quick(request, lambda ws: overview(ws, caller))
    page = {**context, "fields": fields, "problems": {"create": problem}}
    return render(request, "cubes/list.html", page, status=problem.http_status)


def _levels(text: str) -> list[int]:
    chosen = [int(p) for p in text.split(",") if p.strip() in LEVELS]
    if not chosen:
        raise InputError(f"'{text}' names no level", where="levels", hint="2, 3 or 4")
    return chosen


def _cell(text: str) -> dict[str, str]:
    """The cell a form names: a JSON mapping of dimension to member (labels may hold any
    character, the CLI's ``dimension=member,…`` could not carry a ',')."""
    try:
        found = json.loads(text)
    except ValueError:
        found = None
    if not (
        isinstance(found, dict)
        and found
        and all(isinstance(k, str) and isinstance(v, str) for k, v in found.items())
    ):
        raise InputError("the cell is not a mapping of dimension to member", where="cell")
    return found


def _slot(text: str) -> str:
    """A cell's place on the page (its card's number), as the id of its problem slot."""
    return text if text.isdigit() else "0"


def cube_of(
    ws: Workspace, caller: Caller, name: str, levels: str | None, top: int
) -> dict[str, Any]:
    """A cube's page: its cells (largest first, the largest described: distinctive features,
    preferred and recommended items) and the heatmap of its first two dimensions'
    intersections. Under disclosure control, where every released number spends privacy
    budget, the page asks for the 2-dimension cells (unless told otherwise) and describes a
    cell only when asked (a button per cell)."""
    controlled = ws.access.disclosure.controlled(caller)
    chosen = levels or ("2" if controlled else "2,3,4")
    describe = 0 if controlled else 10
    shown = ws.cubes.show(name, levels=_levels(chosen), describe=describe, caller=caller)
    heatmap = None
    if len(shown["dimensions"]) >= 2 and any(c["level"] == 2 for c in shown["cells"]):
        heatmap = charts.cube_chart(shown)
    return {
        **shown,
        "chart": heatmap,
        "chosen_levels": chosen,
        "cell_count": len(shown["cells"]),
        "cells": shown["cells"][:top] if top else shown["cells"],
        "top": top,
        "tops": TOPS,
    }


@router.get("/cubes/{name}")
async def cube_page(
    request: Request,
    session: SignedIn,
    name: str,
    levels: Annotated[str | None, Query(max_length=20)] = None,
    top: Annotated[int, Query(ge=0)] = TOPS[0],
) -> HTMLResponse:
    caller = session.caller
    shown = top if top in TOPS else TOPS[0]
    found = await analysis(request, "the cube", lambda ws: cube_of(ws, caller, name, levels, shown))
    return render(request, "cubes/detail.html", found)


@dataclass(frozen=True)
class CellAt:
    """The cell a card's form acts on, and the card's number (its problem slot's id)."""

    cell: str
    slot: str


def cell_at(
    cell: Annotated[str, Form(max_length=1000)] = "",
    slot: Annotated[str, Form(max_length=20)] = "",
) -> CellAt:
    return CellAt(cell, _slot(slot))


CellForm = Annotated[CellAt, Depends(cell_at)]


async def on_cell(
    request: Request,
    at: CellAt,
    what: str,
    work: Callable[[dict[str, str]], Awaitable[HTMLResponse]],
) -> HTMLResponse:
    """``work`` on the cell the form names; a problem is shown in the cell's card (an htmx
    request) or answered as the page's (a plain form post)."""
    try:
        return await work(_cell(at.cell))
    except PortraitError as error:
        if not is_fragment(request):
            raise
        return problem_in(request, placed(error, what), f"cell-{at.slot}")


@router.post("/cubes/{name}/need")
async def need(
    request: Request,
    session: Changing,
    name: str,
    at: CellForm,
    need: Annotated[str, Form(max_length=500)] = "",
    item: Short = "",
    remove: Annotated[str, Form(max_length=20)] = "",
) -> HTMLResponse:
    """Attach an inferred need (and the item to recommend) to a cell, or remove one: the
    cell's needs, stored with the cube."""
    caller = session.caller

    async def attach(cell: dict[str, str]) -> HTMLResponse:
        needs = await write(
            request,
            lambda ws: ws.cubes.need(
                name, cell, need, item=item, remove=bool(remove), caller=caller
            ),
        )
        row = {"key": cell_key(cell), "needs": needs}
        return render(request, "cubes/_need_answer.html", {"c": row, "slot": at.slot, "name": name})

    return await on_cell(request, at, "need", attach)


@router.post("/cubes/{name}/act")
async def act(
    request: Request,
    session: Changing,
    name: str,
    at: CellForm,
    action: Annotated[str, Form(max_length=20)] = "",
    segment: Short = "",
    campaign: Short = "",
    control: Annotated[str, Form(max_length=20)] = "20",
) -> HTMLResponse:
    """A cell as a dynamic segment (``action=segment``) or as the audience of a draft
    campaign with one variant per need and a blank control (``action=campaign``)."""
    caller = session.caller

    async def carry_out(cell: dict[str, str]) -> HTMLResponse:
        done: dict[str, Any]
        if action == "segment":
            saved = await write(
                request, lambda ws: ws.cubes.save(name, cell, segment.strip(), caller=caller)
            )
            done = {"segment": saved}
        elif action == "campaign":
            if not control.strip().isdigit():
                raise InputError(
                    f"'{control}' is not a percentage", where="control", hint="5 to 50"
                )
            created = await write(
                request,
                lambda ws: ws.cubes.campaign(
                    name, cell, campaign.strip(), control=int(control), caller=caller
                ),
            )
            done = {"campaign": created}
        else:
            raise InputError(f"unknown action '{action}'", where="action")
        return render(request, "cubes/_done.html", {**done, "slot": at.slot})

    return await on_cell(request, at, action or "act", carry_out)


@router.post("/cubes/{name}/describe")
async def describe(request: Request, session: Changing, name: str, at: CellForm) -> HTMLResponse:
    """One cell's distinctive features, preferred items and recommendations, on request."""
    caller = session.caller

    async def described(cell: dict[str, str]) -> HTMLResponse:
        found = await analysis(
            request, "the cell", lambda ws: ws.cubes.describe(name, cell, caller=caller)
        )
        return render(request, "cubes/_described.html", {"c": found, "slot": at.slot})

    return await on_cell(request, at, "describe", described)
