"""Campaigns: definitions, dry runs, launches, cancellation, effect reports and responses."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from portrait.api.deps import CampaignsReadKey, CampaignsWriteKey, CoreDep, MetricsDep
from portrait.api.schemas import ResponsesRequest
from portrait.errors import InputError

router = APIRouter(tags=["campaigns"])


@router.get("/v1/campaigns")
def campaigns(key: CampaignsReadKey, core: CoreDep) -> list[dict[str, Any]]:
    with core.hold() as w:
        return w.campaigns.all(key.caller)


@router.post("/v1/campaigns")
def create_campaign(body: dict[str, Any], key: CampaignsWriteKey, core: CoreDep) -> dict[str, Any]:
    with core.hold() as w:
        return w.campaigns.create(body, caller=key.caller)


@router.get("/v1/campaigns/{name}")
def campaign(name: str, key: CampaignsReadKey, core: CoreDep) -> dict[str, Any]:
    with core.hold() as w:
        return w.campaigns.show(name, key.caller)


@router.post("/v1/campaigns/{name}/dry-run")
def dry_run(name: str, key: CampaignsWriteKey, core: CoreDep) -> dict[str, Any]:
    """Sizes, cap suppressions and rendered samples (personal data masked unless the
    key's role may see it); under ``api.timeout`` like every analysis; audited."""
    return core.analysis("the dry run", lambda w: w.campaigns.dry_run(name, caller=key.caller))


@router.post("/v1/campaigns/{name}/launch")
def launch(name: str, key: CampaignsWriteKey, core: CoreDep, metrics: MetricsDep) -> dict[str, Any]:
    with core.hold() as w:
        report = w.campaigns.launch(name, caller=key.caller)
        channel = w.campaigns.channel(name, key.caller)
    for outcome, added in report.added.items():
        metrics.messages.labels(channel, str(outcome)).inc(added)
    return report.to_dict()


@router.post("/v1/campaigns/{name}/cancel")
def cancel(name: str, key: CampaignsWriteKey, core: CoreDep) -> dict[str, Any]:
    with core.hold() as w:
        return w.campaigns.cancel(name, key.caller)


@router.get("/v1/campaigns/{name}/report")
def campaign_report(
    name: str, key: CampaignsReadKey, core: CoreDep, run: int | None = None
) -> dict[str, Any]:
    if run is not None and not 1 <= run <= 2**31 - 1:
        raise InputError("run is a launch's number (1, 2, …)", where="run")
    with core.hold() as w:
        return w.campaigns.report(name, run, key.caller)


@router.post("/v1/events/responses")
def responses(body: ResponsesRequest, key: CampaignsWriteKey, core: CoreDep) -> dict[str, Any]:
    import pyarrow as pa

    table = pa.Table.from_pylist([r.model_dump() for r in body.events])
    with core.hold() as w:
        return w.campaigns.record_responses(table, key.caller)
