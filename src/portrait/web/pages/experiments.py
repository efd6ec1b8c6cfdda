"""Experiments (实验): importing an A/B test run elsewhere (its assignments, planned weights
and optional outcomes, uploaded as files) so that the campaign page reports it like a
Portrait campaign; and planning an experiment's size (how many users each group needs).

The import goes through ``ws.campaigns.import_experiment`` (``campaigns:write``, audited, one
transaction: a bad file stores nothing); the plan through ``CampaignService.plan_size``, which
reads no workspace data (the page still needs ``campaigns:read``, as the HTTP API's
``POST /v1/campaigns/plan-size`` does). These handlers read the forms, keep the uploads in a
temporary folder for the call, and show each problem next to the field it concerns.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import tempfile
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from portrait.errors import InputError, PortraitError
from portrait.web.deps import quick, write
from portrait.web.render import is_fragment, problem_in, render
from portrait.web.session import Changing, SignedIn
from portrait.web.uploads import MAX_UPLOAD, save_upload
from portrait.workspace.campaigning import CampaignService

router = APIRouter()

Short = Annotated[str, Form(max_length=256)]
Long = Annotated[str, Form(max_length=2000)]
IMPORT_FIELDS = (
    "name",
    "assignments",
    "outcomes",
    "weights",
    "start",
    "attribution_days",
    "conversion_event",
    "metrics",
)
PLAN_FIELDS = ("baseline", "effect", "weights", "sd", "alpha", "power", "correction")
CORRECTIONS = ("holm", "bh", "none")
DEFAULT_WEIGHTS = "control=50,A=50"
_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,12}")
# where the core names a problem (besides the two files) → the import form's field
_IMPORT_WHERE = {
    "name": "name",
    "attribution_days": "attribution_days",
    "conversion_event": "conversion_event",
    "metrics": "metrics",
    "started_at": "start",
    "--start": "start",
}
# the plan's problems (the power analysis names none) → the field, by what the message says
_PLAN_MESSAGES = (
    ("alpha must", "alpha"),
    ("power must", "power"),
    ("a baseline rate", "baseline"),
    ("plus the effect", "effect"),
    ("the effect to detect", "effect"),
    ("standard deviation", "sd"),
)


# -- shared ----------------------------------------------------------------------------------


def _number(text: str, where: str, *, integer: bool = False) -> float:
    """A form field's number (finite), or a problem next to it."""
    cleaned = text.strip().replace(",", "")
    kind = "a whole number" if integer else "a number"
    try:
        value = float(cleaned)
    except ValueError:
        raise InputError(f"'{text.strip()[:40]}' is not {kind}", where=where) from None
    if not math.isfinite(value) or (integer and value != int(value)):
        raise InputError(f"'{text.strip()[:40]}' is not {kind}", where=where)
    return value


# -- importing ------------------------------------------------------------------------------
def _import_form(**given: Any) -> dict[str, Any]:
    form = {
        "name": "",
        "weights": "",
        "start": "",
        "attribution_days": "7",
        "conversion_event": "",
        "metrics": "",
        "replace": False,
    }
    form.update(given)
    return form


async def _may_import(request: Request, session: Any) -> None:
    """The core's answer to whether this session may import (``campaigns:write``)."""
    caller = session.caller
    await quick(
        request, lambda ws: ws.access.permit(caller, "campaigns:write", "import experiments")
    )


@router.get("/campaigns/import")
async def import_page(request: Request, session: SignedIn) -> HTMLResponse:
    await _may_import(request, session)
    return render(
        request,
        "experiments/import.html",
        {"form": _import_form(), "problem": None, "field": None, "max_mib": MAX_UPLOAD >> 20},
    )


def _uploaded(file: UploadFile | None) -> UploadFile | None:
    """The upload, or None when the file input was left empty."""
    if file is None or not (file.filename or "").strip():
        return None
    return file


async def _save(file: UploadFile, folder: Path, stem: str, field: str) -> Path:
    """The upload written to ``folder`` (its suffix kept: it tells the file's format)."""
    suffix = Path(file.filename or "").suffix
    path = folder / (stem + (suffix.lower() if _SUFFIX.fullmatch(suffix) else ".unknown"))
    await save_upload(
        file, path, field, "import it with 'portrait campaign import' from the command line"
    )
    return path


def _start(text: str) -> dt.datetime | None:
    """The start time (``datetime-local``, read as UTC), or None for the default."""
    if not text.strip():
        return None
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise InputError(f"'{text.strip()[:40]}' is not a date and time", where="start") from None
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def _import_field(problem: PortraitError, files: dict[str, tuple[Path, str]]) -> str:
    """The import form's field a problem is about (``form`` when it names none)."""
    where = problem.where or ""
    if where in ("assignments", "outcomes"):
        return where
    for field, (path, _name) in files.items():
        if where == str(path):
            return field
    if where.startswith("--weights") or where == "weights":
        return "weights"
    if where.split(".")[0] in _IMPORT_WHERE:  # "metrics.0": the first metric
        return _IMPORT_WHERE[where.split(".")[0]]
    if not where and problem.message.startswith("campaign '"):  # exists, or was just stored
        return "name"
    return "form"


def _shown(problem: PortraitError, files: dict[str, tuple[Path, str]]) -> PortraitError:
    """The problem with the temporary files' paths replaced by the names uploaded."""
    if not isinstance(problem, InputError):
        return problem
    message, where, hint = problem.message, problem.where, problem.hint
    for path, name in files.values():
        message = message.replace(str(path), name)
        hint = hint.replace(str(path), name) if hint else hint
        if where == str(path):
            where = name
    if where and where.startswith("--weights"):
        where = "weights" + where.removeprefix("--weights")
    return InputError(message, where=where, hint=hint)


@router.post("/campaigns/import")
async def import_experiment(
    request: Request,
    session: Changing,
    name: Short = "",
    weights: Long = "",
    assignments: Annotated[UploadFile | None, File()] = None,
    outcomes: Annotated[UploadFile | None, File()] = None,
    start: Short = "",
    attribution_days: Annotated[str, Form(max_length=16)] = "7",
    conversion_event: Short = "",
    metrics: Long = "",
    replace: Annotated[bool, Form()] = False,
) -> Response:
    await _may_import(request, session)  # refused before any upload is kept
    caller = session.caller
    form = _import_form(
        name=name,
        weights=weights,
        start=start,
        attribution_days=attribution_days,
        conversion_event=conversion_event,
        metrics=metrics,
        replace=replace,
    )
    files: dict[str, tuple[Path, str]] = {}
    try:
        if not name.strip():
            raise InputError("give the experiment a name", where="name")
        planned = CampaignService.parse_weights(weights)
        started = _start(start)
        days = int(_number(attribution_days or "7", "attribution_days", integer=True))
        extra = tuple(m.strip() for m in metrics.split(",") if m.strip())
        given = _uploaded(assignments)
        if given is None:
            raise InputError("choose the assignments file", where="assignments")
        results = _uploaded(outcomes)
        with tempfile.TemporaryDirectory(prefix="portrait-import-") as folder:
            for field, upload in (("assignments", given), ("outcomes", results)):
                if upload is not None:
                    path = await _save(upload, Path(folder), field, field)
                    files[field] = (path, Path(upload.filename or field).name)
            assigned_path = files["assignments"][0]
            outcome_path = files["outcomes"][0] if "outcomes" in files else None
            await write(
                request,
                lambda ws: ws.campaigns.import_experiment(
                    name.strip(),
                    assigned_path,
                    planned,
                    outcomes=outcome_path,
                    started_at=started,
                    attribution_days=days,
                    conversion_event=conversion_event.strip() or None,
                    metrics=extra,
                    replace=replace,
                    caller=caller,
                ),
            )
    except PortraitError as error:
        if error.http_status == 403:
            raise
        field = _import_field(error, files)
        problem = _shown(error, files)
        if is_fragment(request):
            return problem_in(request, problem, field)
        return render(
            request,
            "experiments/import.html",
            {"form": form, "problem": problem, "field": field, "max_mib": MAX_UPLOAD >> 20},
            status=problem.http_status,
        )
    target = f"/campaigns/{quote(name.strip(), safe='')}"
    if is_fragment(request):
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


# -- planning -------------------------------------------------------------------------------
def _plan_form(**given: Any) -> dict[str, Any]:
    form = {
        "baseline": "",
        "effect": "",
        "weights": DEFAULT_WEIGHTS,
        "sd": "",
        "alpha": "0.05",
        "power": "0.8",
        "correction": "holm",
    }
    form.update(given)
    return form


async def _may_plan(request: Request, session: Any) -> None:
    """The core's answer to whether this session may plan experiments (``campaigns:read``,
    as the HTTP API's plan-size)."""
    caller = session.caller
    await quick(request, lambda ws: ws.access.permit(caller, "campaigns:read", "plan experiments"))


def _effect(text: str) -> tuple[float, bool]:
    """The effect and whether it is relative (``10%``: a share of the baseline)."""
    cleaned = text.strip()
    if not cleaned:
        raise InputError("give the smallest effect worth finding", where="effect")
    relative = cleaned.endswith("%")
    value = _number(cleaned.removesuffix("%"), "effect")
    return (value / 100 if relative else value), relative


def plan(form: dict[str, Any]) -> dict[str, Any]:
    """The plan the form asks for (:meth:`CampaignService.plan_size`); its problems name
    the form's field."""
    if not form["baseline"].strip():
        raise InputError("give the baseline (the control's rate or mean)", where="baseline")
    baseline = _number(form["baseline"], "baseline")
    effect, relative = _effect(form["effect"])
    weights = CampaignService.parse_weights(form["weights"] or DEFAULT_WEIGHTS)
    sd = _number(form["sd"], "sd") if form["sd"].strip() else None
    alpha = _number(form["alpha"] or "0.05", "alpha")
    power = _number(form["power"] or "0.8", "power")
    if form["correction"] not in CORRECTIONS:
        raise InputError(
            f"unknown correction '{form['correction'][:20]}'",
            where="correction",
            hint="one of " + ", ".join(CORRECTIONS),
        )
    return CampaignService.plan_size(
        baseline,
        effect,
        weights,
        relative=relative,
        sd=sd,
        alpha=alpha,
        power=power,
        correction=form["correction"],
    )


def _plan_field(problem: PortraitError) -> str:
    where = problem.where or ""
    if where.startswith("--weights"):
        return "weights"
    if where in PLAN_FIELDS:
        return where
    for words, field in _PLAN_MESSAGES:
        if words in problem.message:
            return field
    return "form"


@router.get("/campaigns/plan")
async def plan_page(request: Request, session: SignedIn) -> HTMLResponse:
    await _may_plan(request, session)
    return render(
        request,
        "experiments/plan.html",
        {"form": _plan_form(), "result": None, "problem": None, "field": None},
    )


@router.post("/campaigns/plan")
async def plan_size(
    request: Request,
    session: Changing,
    baseline: Annotated[str, Form(max_length=64)] = "",
    effect: Annotated[str, Form(max_length=64)] = "",
    weights: Long = DEFAULT_WEIGHTS,
    sd: Annotated[str, Form(max_length=64)] = "",
    alpha: Annotated[str, Form(max_length=64)] = "0.05",
    power: Annotated[str, Form(max_length=64)] = "0.8",
    correction: Annotated[str, Form(max_length=16)] = "holm",
) -> HTMLResponse:
    await _may_plan(request, session)
    form = _plan_form(
        baseline=baseline,
        effect=effect,
        weights=weights,
        sd=sd,
        alpha=alpha,
        power=power,
        correction=correction,
    )
    try:
        result = plan(form)
    except PortraitError as error:
        field = _plan_field(error)
        shown = _shown(error, {})
        if is_fragment(request):
            return problem_in(request, shown, field)
        return render(
            request,
            "experiments/plan.html",
            {"form": form, "result": None, "problem": shown, "field": field},
            status=shown.http_status,
        )
    if is_fragment(request):
        return render(request, "experiments/_plan_result.html", {"result": result})
    return render(
        request,
        "experiments/plan.html",
        {"form": form, "result": result, "problem": None, "field": None},
    )
