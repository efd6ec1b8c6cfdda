"""Insight (人群洞察), distinctive features, cross-business analysis and RFM, each with its
chart specification when asked for."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter

from portrait import charts
from portrait.api.deps import AggregateKey, CoreDep
from portrait.api.schemas import CrossRequest, InsightRequest

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
