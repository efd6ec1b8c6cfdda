"""The tag market (标签市场): every tag with its coverage, distinct values, freshness and
staleness, searchable by name, title, category and owner; a tag's page with its distribution,
null rate, definition and the SQL that computes it."""

from __future__ import annotations

from typing import Annotated, Any

import yaml
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from portrait.charts import distribution_chart
from portrait.model.access import Caller
from portrait.web.deps import quick
from portrait.web.render import is_fragment, render
from portrait.web.session import SignedIn
from portrait.workspace import Workspace

router = APIRouter()
NUMERIC = {"int", "float", "date", "timestamp"}


def _matches(tag: dict[str, Any], words: list[str], category: str) -> bool:
    if category and tag.get("category") != category:
        return False
    text = " ".join(str(tag.get(k) or "") for k in ("name", "title", "category", "owner")).lower()
    return all(w in text for w in words)


@router.get("/tags")
async def tag_market(
    request: Request,
    session: SignedIn,
    q: Annotated[str, Query(max_length=200)] = "",
    category: Annotated[str, Query(max_length=100)] = "",
) -> HTMLResponse:
    caller = session.caller
    tags = await quick(request, lambda ws: ws.catalog.summaries(caller=caller))
    words = q.lower().split()
    shown = [t for t in tags if _matches(t, words, category)]
    context = {
        "tags": shown,
        "total": len(tags),
        "q": q,
        "category": category,
        "categories": sorted({str(t.get("category") or "") for t in tags} - {""}),
    }
    template = "tags/_rows.html" if is_fragment(request) else "tags/market.html"
    return render(request, template, context)


def tag_page(caller: Caller, name: str) -> Any:
    def work(ws: Workspace) -> dict[str, Any]:
        return ws.catalog.detail(name, caller=caller)

    return work


@router.get("/tags/{name}")
async def tag_detail(request: Request, session: SignedIn, name: str) -> HTMLResponse:
    detail = await quick(request, tag_page(session.caller, name))
    definition = detail["definition"]
    numeric = definition.get("type") in NUMERIC and definition.get("kind") != "preference"
    rows = detail.get("distribution") or []
    chart = (
        distribution_chart(rows, title=definition.get("title") or name, numeric=numeric)
        if rows
        else None
    )
    context = {
        "tag": detail,
        "definition": definition,
        "yaml": yaml.safe_dump(
            {k: v for k, v in definition.items() if v not in ("", None, [], {})},
            allow_unicode=True,
            sort_keys=False,
        ),
        "chart": chart,
    }
    return render(request, "tags/detail.html", context)
