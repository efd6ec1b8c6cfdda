"""Insight (人群洞察), distinctive features, cross-business analysis, association rules and
their frequent itemsets, and RFM, each with its chart specification when asked for."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query

from portrait import charts
from portrait.api.deps import AggregateKey, CoreDep
from portrait.api.schemas import CrossRequest, InsightRequest
from portrait.model.reports import json_rule

router = APIRouter(tags=["insight"])


def _rows_and_chart(
    rows: list[dict[str, Any]], chart: bool, spec: Callable[[], dict[str, Any]]
) -> dict[str, Any]:
    """A report's rows, with its chart specification when asked for."""
    return {"rows": rows, **({"chart": spec()} if chart else {})}


@router.post("/v1/insight")
def insight(body: InsightRequest, key: AggregateKey, core: CoreDep) -> dict[str, Any]:
    report = core.analysis(
        "the insight report",
        lambda w: w.insights.insight(
            body.target,
            baseline=body.baseline,
            tags=body.tags,
            min_count=body.min_count,
            caller=key.caller,
        ),
    )
    result = report.to_dict(body.top)
    if body.chart:
        result["chart"] = charts.insight_chart(result["rows"], title=f"Insight: {body.target}")
    return result


@router.post("/v1/insight/distinctive")
def distinctive(body: InsightRequest, key: AggregateKey, core: CoreDep) -> dict[str, Any]:
    rows = core.analysis(
        "the distinctive-features report",
        lambda w: w.insights.distinctive(
            body.target,
            baseline=body.baseline,
            top=body.top or 10,
            min_count=body.min_count,
            caller=key.caller,
        ),
    )
    return _rows_and_chart(
        rows,
        body.chart,
        lambda: charts.distinctive_chart(rows, title=f"Distinctive: {body.target}"),
    )


@router.post("/v1/cross")
def cross(body: CrossRequest, key: AggregateKey, core: CoreDep) -> dict[str, Any]:
    rows = core.analysis(
        "the cross analysis",
        lambda w: w.insights.cross(
            body.audiences or None,
            min_support=body.min_support,
            min_confidence=body.min_confidence,
            caller=key.caller,
        ),
    )
    return _rows_and_chart(rows, body.chart, lambda: charts.cross_chart(rows))


@router.get("/v1/rfm")
def rfm(
    key: AggregateKey,
    core: CoreDep,
    window: str | None = None,
    scores: int | None = None,
    chart: bool = False,
) -> dict[str, Any]:
    rows = core.analysis(
        "the RFM report",
        lambda w: w.insights.rfm_report(window=window, scores=scores, caller=key.caller),
    )
    return _rows_and_chart(rows, chart, lambda: charts.rfm_chart(rows))


Basket = Annotated[
    str, Query(description="orders (each order), or events:<event> (each user's events of it)")
]
Item = Annotated[
    str | None, Query(description="the items: an orders column (default items) or a property")
]
MinSupport = Annotated[float, Query(gt=0, le=1, description="share of baskets an itemset needs")]
MaxSize = Annotated[int, Query(ge=1, le=8, description="most items in an itemset")]
Top = Annotated[int, Query(ge=0, description="rows to return (0: all)")]


@router.get("/v1/association/rules")
def association_rules(
    key: AggregateKey,
    core: CoreDep,
    basket: Basket = "orders",
    item: Item = None,
    min_support: MinSupport = 0.01,
    min_confidence: Annotated[float, Query(ge=0, le=1)] = 0.2,
    max_size: MaxSize = 4,
    top: Top = 30,
    chart: bool = False,
) -> dict[str, Any]:
    """Association rules A → B (关联推荐), strongest lift first; an infinite conviction is
    null (the rule never fails)."""
    found = core.analysis(
        "the association rules",
        lambda w: w.insights.association_rules(
            min_support=min_support,
            min_confidence=min_confidence,
            basket=basket,
            item=item,
            max_size=max_size,
            caller=key.caller,
        ),
    )
    rows = [json_rule(r) for r in (found[:top] if top else found)]
    return _rows_and_chart(rows, chart, lambda: charts.rules_chart(found))


@router.get("/v1/association/itemsets")
def itemsets(
    key: AggregateKey,
    core: CoreDep,
    basket: Basket = "orders",
    item: Item = None,
    min_support: MinSupport = 0.01,
    max_size: MaxSize = 4,
    top: Top = 30,
) -> dict[str, Any]:
    """The frequent itemsets: items, size, baskets holding them and support."""
    rows = core.analysis(
        "the frequent itemsets",
        lambda w: w.insights.frequent_itemsets(
            min_support=min_support,
            basket=basket,
            item=item,
            max_size=max_size,
            caller=key.caller,
        ),
    )
    return {"rows": rows[:top] if top else rows}
