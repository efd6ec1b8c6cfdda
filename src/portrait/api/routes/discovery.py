"""Finding groups: feature ranking, niche groups from tag combinations and subgroup discovery,
each under the caller's disclosure control, with its chart specification when asked for."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from portrait import charts
from portrait.api.deps import AggregateKey, CoreDep
from portrait.api.schemas import NicheRequest, RankRequest, SubgroupsRequest

router = APIRouter(tags=["discovery"])


@router.post("/v1/rank")
def rank(body: RankRequest, key: AggregateKey, core: CoreDep) -> dict[str, Any]:
    ranking = core.analysis(
        "the feature ranking",
        lambda w: w.discovery.rank(
            body.target,
            baseline=body.baseline,
            tags=body.tags,
            by=body.by,
            include_circular=body.include_circular,
            min_count=body.min_count,
            caller=key.caller,
        ),
    )
    result = ranking.to_dict(body.top)
    if body.chart:
        result["chart"] = charts.ranking_chart(
            result["rows"], by=ranking.by, title=f"Feature ranking: {body.target}"
        )
    return result


@router.post("/v1/niche")
def niche(body: NicheRequest, key: AggregateKey, core: CoreDep) -> dict[str, Any]:
    cube = core.analysis(
        "the niche groups",
        lambda w: w.discovery.niche(
            body.tags,
            target=body.target,
            metric=body.metric,
            baseline=body.baseline,
            max_values=body.max_values,
            groups=body.groups,
            highlight_share=body.highlight_share,
            highlight_lift=body.highlight_lift,
            caller=key.caller,
        ),
    )
    result = cube.to_dict(body.top or None)
    if body.chart:
        result["chart"] = charts.niche_chart(cube.to_dict())
    return result


@router.post("/v1/subgroups")
def subgroups(body: SubgroupsRequest, key: AggregateKey, core: CoreDep) -> dict[str, Any]:
    return core.analysis(
        "the subgroup discovery",
        lambda w: w.discovery.subgroups(
            body.target,
            baseline=body.baseline,
            tags=body.tags,
            depth=body.depth,
            beam=body.beam,
            top=body.top,
            min_support=body.min_support,
            quality=body.quality,
            max_values=body.max_values,
            include_circular=body.include_circular,
            caller=key.caller,
        ),
    )
