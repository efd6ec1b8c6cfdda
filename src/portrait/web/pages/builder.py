"""The audience builder (人群圈选): nested AND/OR/NOT groups of tag, behaviour, segment,
ID-list and campaign conditions, with the exact total and every node's own count as you edit,
the rule text editable both ways, ID-list upload, and saving as a segment.

The tree lives in the page (``static/builder.js``, the one client-side component); these
routes answer it in JSON: counts of a tree, the tree of a text, a tag's values. Saving and
uploading go through the same facade services as the API's routes.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Body, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse

from portrait.errors import InputError
from portrait.web.deps import analysis, quick
from portrait.web.render import render
from portrait.web.session import Changing, SignedIn
from portrait.web.uploads import save_upload
from portrait.workspace import Workspace

router = APIRouter()


def _json(request: Request) -> None:
    request.state.wants_json = True


async def _page(request: Request, session: Any, rule: str = "") -> HTMLResponse:
    caller = session.caller
    problem = None
    document = None

    def work(ws: Workspace) -> dict[str, Any]:
        return ws.audiences.builder.vocabulary(caller=caller)

    vocabulary = await quick(request, work)
    if rule.strip():
        try:
            document = await quick(
                request, lambda ws: ws.audiences.builder.tree(rule, caller=caller)
            )
        except InputError as error:
            problem = error
    context = {
        "vocabulary": vocabulary,
        "document": document,
        "rule_text": rule,
        "problem": problem,
    }
    return render(request, "builder/page.html", context)


@router.get("/builder")
async def builder_page(request: Request, session: SignedIn) -> HTMLResponse:
    return await _page(request, session)


@router.post("/builder")
async def builder_with_rule(
    request: Request, session: Changing, rule: Annotated[str, Form(max_length=100_000)] = ""
) -> HTMLResponse:
    """The builder opened on a rule (from insight, a campaign's re-targeting, a segment):
    posted, so the rule never shows in a URL."""
    return await _page(request, session, rule)


@router.post("/builder/count")
async def count(
    request: Request, session: Changing, document: Annotated[dict[str, Any], Body()]
) -> JSONResponse:
    _json(request)
    caller = session.caller
    answer = await quick(request, lambda ws: ws.audiences.builder.count(document, caller=caller))
    return JSONResponse(answer)


@router.post("/builder/tree")
async def tree(
    request: Request, session: Changing, body: Annotated[dict[str, Any], Body()]
) -> JSONResponse:
    _json(request)
    text = body.get("text")
    if not isinstance(text, str):
        raise InputError("send the rule text as 'text'", where="text")
    caller = session.caller
    document = await quick(request, lambda ws: ws.audiences.builder.tree(text, caller=caller))
    return JSONResponse({"document": document})


@router.get("/builder/values/{tag}")
async def values(request: Request, session: SignedIn, tag: str) -> JSONResponse:
    _json(request)
    caller = session.caller
    answer = await quick(request, lambda ws: ws.audiences.builder.values(tag, caller=caller))
    return JSONResponse(answer)


@router.post("/builder/save")
async def save(
    request: Request,
    session: Changing,
    name: Annotated[str, Form(max_length=128)] = "",
    rule: Annotated[str, Form(max_length=100_000)] = "",
    mode: Annotated[str, Form(max_length=16)] = "dynamic",
    description: Annotated[str, Form(max_length=2000)] = "",
) -> HTMLResponse:
    caller = session.caller
    if not name.strip():
        raise InputError("give the segment a name", where="name")
    if not rule.strip():
        raise InputError("the rule is empty: add a condition first", where="rule")
    saved = await analysis(
        request,
        "saving the segment",
        lambda ws: ws.audiences.segments.create(
            name.strip(), rule, mode=mode, description=description, caller=caller
        ),
    )
    return render(request, "builder/_saved.html", {"segment": saved})


@router.post("/builder/ids")
async def upload_ids(
    request: Request,
    session: Changing,
    name: Annotated[str, Form(max_length=128)],
    file: Annotated[UploadFile, File()],
    column: Annotated[str, Form(max_length=128)] = "",
    replace: Annotated[bool, Form()] = False,
) -> JSONResponse:
    """An ID list from an uploaded CSV or text file: the matched / unmatched / duplicate
    report; the list is then one condition of the rule (``ids("NAME")``)."""
    _json(request)
    caller = session.caller
    with tempfile.TemporaryDirectory(prefix="portrait-upload-") as folder:
        path = Path(folder) / "ids.csv"
        await save_upload(
            file,
            path,
            "file",
            "split it, or load it with 'portrait ids upload' from the command line",
        )
        report = await analysis(
            request,
            "uploading the ID list",
            lambda ws: ws.audiences.segments.upload_ids(
                name.strip(), path, column=column or None, replace=replace, caller=caller
            ),
        )
    shown = {k: v for k, v in report.to_dict().items() if k not in ("source", "unmatched_file")}
    return JSONResponse({"name": name.strip(), "report": shown})
