"""Audience sizes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from portrait.api.deps import AggregateKey, CoreDep, MetricsDep
from portrait.api.schemas import CountRequest

router = APIRouter(tags=["audiences"])


@router.post("/v1/count")
def count(
    body: CountRequest, key: AggregateKey, core: CoreDep, metrics: MetricsDep
) -> dict[str, Any]:
    with metrics.evaluations.time():
        return core.analysis("the count", lambda w: w.audiences.count(body.rule, caller=key.caller))
