"""Personas (人群画像): the persona tags (tags of kind ``persona``, clustered by
``ws.personas.fit``), each with its cards (size and share, distinctive values, a short rule
approximating it with its precision and coverage, its name and description), the silhouette of
every k tried and the personas' shares. Those who may write segments fit a new persona tag
(then build), name and describe a persona in place, and save one segment per persona.

Every number is ``ws.personas``' for the signed-in caller (released counts under disclosure
control); who may fit, name and save is the facade's decision (``segments:write``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse

from portrait import charts
from portrait.errors import InputError, PortraitError
from portrait.model.access import Caller
from portrait.web.deps import analysis, quick, write
from portrait.web.pages.discover import placed
from portrait.web.render import is_fragment, problem_in, render
from portrait.web.session import Changing, SignedIn
from portrait.workspace import Workspace

router = APIRouter()

FIT_FIELDS = ("name", "title", "features", "k")
DEFAULTS: dict[str, Any] = {"name": "", "title": "", "features": [], "k": "", "replace": ""}
# where the facade names a fit's problem → the form's field (else the form's own slot)
FIT_WHERE = {"name": "name", "--features": "features", "features": "features", "k": "k", "--k": "k"}

Short = Annotated[str, Form(max_length=200)]


def persona_tags(ws: Workspace, caller: Caller) -> list[dict[str, Any]]:
    """The persona tags: their catalog rows (title, last build, stale) with what they were
    fitted on (features, k, stability)."""
    definitions = ws.catalog.tags.definitions
    rows = []
    for summary in ws.catalog.summaries(caller=caller):
        if summary["kind"] != "persona":
            continue
        tag: Any = definitions[summary["name"]]
        rows.append(
            {
                **summary,
                "features": list(tag.features),
                "k": tag.k,
                "stability": tag.stability,
                "fitted_on": tag.fitted_on,
            }
        )
    return rows


def overview(ws: Workspace, caller: Caller) -> dict[str, Any]:
    """The list, and the tags a new persona tag can be fitted on (with their titles)."""
    names = ws.insights.comparable_tags(None, caller=caller)
    titles = {t["name"]: t.get("title") or "" for t in ws.catalog.summaries(caller=caller)}
    return {
        "personas": persona_tags(ws, caller),
        "features": [{"name": n, "title": titles.get(n, "")} for n in names],
    }


@router.get("/personas")
async def personas_page(request: Request, session: SignedIn) -> HTMLResponse:
    caller = session.caller
    context = await quick(request, lambda ws: overview(ws, caller))
    page = {**context, "fields": dict(DEFAULTS), "problems": {}, "fitted": None}
    return render(request, "personas/list.html", page)


@router.post("/personas/fit")
async def fit(
    request: Request,
    session: Changing,
    name: Short = "",
    title: Short = "",
    features: Annotated[list[str] | None, Form(max_length=200)] = None,
    k: Annotated[str, Form(max_length=20)] = "",
    replace: Annotated[str, Form(max_length=20)] = "",
) -> HTMLResponse:
    """Fit a persona tag on the chosen tags (k given, or the best silhouette of 2–10). The tag
    is written at once; its users get their persona at the next build."""
    caller = session.caller
    chosen = [f for f in features or [] if f]
    fields = {
        "name": name,
        "title": title,
        "features": chosen,
        "k": k,
        "replace": replace,
    }
    problems: dict[str, PortraitError] = {}
    personas: int | None = None
    if k.strip():
        if not k.strip().isdigit() or not 2 <= int(k) <= 50:
            problems["k"] = InputError(
                f"'{k}' is not a number of personas",
                where="k",
                hint="2 to 50, or empty to choose by silhouette",
            )
        else:
            personas = int(k)
    fitted: dict[str, Any] | None = None
    if not problems:
        try:
            fitted = await write(
                request,
                lambda ws: ws.personas.fit(
                    name.strip(),
                    chosen,
                    k=personas,
                    title=title.strip(),
                    replace=bool(replace),
                    caller=caller,
                ),
            )
        except PortraitError as error:
            field = FIT_WHERE.get(error.where or "", "fit")
            problems[field] = placed(error, field)
    if fitted is not None:  # the silhouette curve, when more than one k was tried
        fitted["chart"] = (
            charts.silhouette_chart(fitted["silhouette"], chosen=fitted["k"], title=fitted["name"])
            if len(fitted["silhouette"]) > 1
            else None
        )
    status = max((p.http_status for p in problems.values()), default=200)
    context = await quick(request, lambda ws: overview(ws, caller))
    answer = {**context, "fields": fields, "problems": problems, "fitted": fitted}
    if is_fragment(request):
        answer["slots"] = [*FIT_FIELDS, "fit"]
        return render(request, "personas/_fit_answer.html", answer, status=status)
    return render(request, "personas/list.html", answer, status=status)


def cards_of(ws: Workspace, caller: Caller, name: str) -> dict[str, Any]:
    """A persona tag's page: its definition, and once built its cards and charts."""
    tag = ws.personas.definition(name)  # a NotFoundError (with a suggestion) when none
    summary = ws.catalog.tags[name].summary()
    built = summary["last_built"] is not None
    try:
        cards = ws.personas.show(name, caller=caller) if built else None
    except InputError:  # fitted again since the last build: the page says to build
        built, cards = False, None
    silhouette = cards["silhouette"] if cards else tag.silhouette
    return {
        "name": name,
        "title": tag.title,
        "features": list(tag.features),
        "k": tag.k,
        "fitted_on": tag.fitted_on,
        "stability": tag.stability,
        "built": built,
        "stale": bool(summary.get("stale")),
        "cards": cards,
        "silhouette_chart": charts.silhouette_chart(silhouette, chosen=tag.k, title=name)
        if len(silhouette) > 1  # a curve: more than one k was tried
        else None,
        "persona_chart": charts.persona_chart(cards) if cards else None,
    }


@router.get("/personas/{name}")
async def persona_page(request: Request, session: SignedIn, name: str) -> HTMLResponse:
    caller = session.caller
    found = await analysis(request, "the persona cards", lambda ws: cards_of(ws, caller, name))
    return render(request, "personas/detail.html", found)


@router.post("/personas/{name}/describe")
async def describe(
    request: Request,
    session: Changing,
    name: str,
    persona: Annotated[str, Form(max_length=20)] = "",
    display_name: Short = "",
    description: Annotated[str, Form(max_length=2000)] = "",
) -> HTMLResponse:
    """A persona's name and description (its value in rules stays P1 …): its card's head."""
    caller = session.caller
    try:
        label = await write(
            request,
            lambda ws: ws.personas.describe(
                name,
                persona,
                display_name=display_name,
                description=description,
                caller=caller,
            ),
        )
    except PortraitError as error:
        if not is_fragment(request):
            raise
        return problem_in(request, error, f"describe-{persona}")
    card = {"persona": persona, **label}
    return render(request, "personas/_described.html", {"c": card, "name": name})


@router.post("/personas/{name}/save")
async def save(
    request: Request,
    session: Changing,
    name: str,
    replace: Annotated[str, Form(max_length=20)] = "",
) -> HTMLResponse:
    """One dynamic segment per persona: ``<name>_p1`` … (rule ``name = "P1"``)."""
    caller = session.caller
    try:
        saved = await write(
            request, lambda ws: ws.personas.save(name, replace=bool(replace), caller=caller)
        )
    except PortraitError as error:
        if not is_fragment(request):
            raise
        return problem_in(request, error, "save")
    return render(request, "personas/_saved.html", {"saved": saved})
