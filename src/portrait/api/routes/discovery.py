"""Finding groups: feature ranking, niche groups from tag combinations, subgroup discovery,
clustering personas and multi-level segment intersections (cubes), each under the caller's
disclosure control, with its chart specification when asked for."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from portrait import charts
from portrait.api.deps import AggregateKey, CampaignsWriteKey, CoreDep, SegmentsWriteKey
from portrait.api.schemas import (
    CubeCampaignRequest,
    CubeNeedRequest,
    CubeRequest,
    CubeSegmentRequest,
    NicheRequest,
    PersonaFitRequest,
    PersonaLabelRequest,
    RankRequest,
    ReplaceRequest,
    SubgroupsRequest,
)
from portrait.errors import InputError

router = APIRouter(tags=["discovery"])


@router.post("/v1/rank")
def rank(body: RankRequest, key: AggregateKey, core: CoreDep) -> dict[str, Any]:
    if (body.target is None) == (body.metric is None):
        raise InputError("give a target audience or a metric (one of them)", where="target")
    target, metric = body.target, body.metric
    if metric is not None:
        ranking = core.analysis(
            "the feature ranking",
            lambda w: w.discovery.rank_metric(
                metric,
                baseline=body.baseline,
                tags=body.tags,
                by=body.by,
                include_circular=body.include_circular,
                caller=key.caller,
            ),
        )
    else:
        assert target is not None
        ranking = core.analysis(
            "the feature ranking",
            lambda w: w.discovery.rank(
                target,
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
            result["rows"], by=ranking.by, title=f"Feature ranking: {target or metric}"
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


# -- personas ---------------------------------------------------------------------------------
@router.post("/v1/personas")
def fit_personas(body: PersonaFitRequest, key: SegmentsWriteKey, core: CoreDep) -> dict[str, Any]:
    with core.hold() as w:
        return w.personas.fit(
            body.name,
            body.features,
            k=body.k,
            k_range=(body.k_min, body.k_max),
            sample=body.sample,
            seed=body.seed,
            title=body.title,
            replace=body.replace,
            caller=key.caller,
        )


@router.get("/v1/personas/{name}")
def show_personas(
    name: str,
    key: AggregateKey,
    core: CoreDep,
    top: Annotated[int, Query(ge=1, le=50)] = 5,
    chart: bool = False,
) -> dict[str, Any]:
    cards = core.analysis(
        "the persona cards", lambda w: w.personas.show(name, top=top, caller=key.caller)
    )
    if chart:
        cards["chart"] = charts.persona_chart(cards)
    return cards


@router.post("/v1/personas/{name}/labels")
def label_persona(
    name: str, body: PersonaLabelRequest, key: SegmentsWriteKey, core: CoreDep
) -> dict[str, str]:
    with core.hold() as w:
        return w.personas.describe(
            name,
            body.persona,
            display_name=body.name,
            description=body.description,
            caller=key.caller,
        )


@router.post("/v1/personas/{name}/segments")
def save_personas(
    name: str, body: ReplaceRequest, key: SegmentsWriteKey, core: CoreDep
) -> list[dict[str, Any]]:
    with core.hold() as w:
        return w.personas.save(name, replace=body.replace, caller=key.caller)


# -- cubes ------------------------------------------------------------------------------------
@router.post("/v1/cubes")
def create_cube(body: CubeRequest, key: SegmentsWriteKey, core: CoreDep) -> dict[str, Any]:
    with core.hold() as w:
        return w.cubes.create(body.definition, replace=body.replace, caller=key.caller)


@router.get("/v1/cubes/{name}")
def show_cube(
    name: str,
    key: AggregateKey,
    core: CoreDep,
    levels: Annotated[list[int] | None, Query(description="2, 3 and/or 4")] = None,
    min_users: Annotated[int, Query(ge=1)] = 1,
    describe: Annotated[int, Query(ge=0, le=100)] = 10,
    top: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> dict[str, Any]:
    cube = core.analysis(
        "the cube",
        lambda w: w.cubes.show(
            name,
            levels=levels or (2, 3, 4),
            min_users=min_users,
            describe=describe,
            caller=key.caller,
        ),
    )
    if top:
        cube["cells"] = cube["cells"][:top]
    return cube


@router.post("/v1/cubes/{name}/needs")
def cube_need(
    name: str, body: CubeNeedRequest, key: SegmentsWriteKey, core: CoreDep
) -> list[dict[str, str]]:
    with core.hold() as w:
        return w.cubes.need(
            name, body.cell, body.need, item=body.item, remove=body.remove, caller=key.caller
        )


@router.post("/v1/cubes/{name}/segments")
def cube_segment(
    name: str, body: CubeSegmentRequest, key: SegmentsWriteKey, core: CoreDep
) -> dict[str, Any]:
    with core.hold() as w:
        return w.cubes.save(name, body.cell, body.segment, replace=body.replace, caller=key.caller)


@router.post("/v1/cubes/{name}/campaigns")
def cube_campaign(
    name: str, body: CubeCampaignRequest, key: CampaignsWriteKey, core: CoreDep
) -> dict[str, Any]:
    with core.hold() as w:
        return w.cubes.campaign(
            name,
            body.cell,
            body.campaign,
            channel=body.channel,
            control=body.control,
            caller=key.caller,
        )
