"""Campaigns: definitions, dry runs, launches, cancellation, effect reports and responses."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from portrait.api.deps import CampaignsReadKey, CampaignsWriteKey, CoreDep, MetricsDep
from portrait.api.schemas import ImportRequest, PlanSizeRequest, ResponsesRequest
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
    name: str,
    key: CampaignsReadKey,
    core: CoreDep,
    run: int | None = None,
    correction: str | None = None,
    level: float | None = None,
    relative_interval: str | None = None,
    sequential: bool | None = None,
    tuning: float | None = None,
    cuped: bool | None = None,
    pre_days: int | None = None,
    prior_sd: float | None = None,
    metric: Annotated[list[str] | None, Query(max_length=20)] = None,
) -> dict[str, Any]:
    """The effect report: the funnel per group; every metric for every pair (z or Welch
    test, intervals, corrected p-values, Bayesian chance to win and risk, CUPED, MDE), the
    sequential always-valid intervals with ``sequential=true``; ``metric``: event rates to
    compare too."""
    if run is not None and not 1 <= run <= 2**31 - 1:
        raise InputError("run is a launch's number (1, 2, …)", where="run")
    options = {
        "correction": correction,
        "level": level,
        "relative_interval": relative_interval,
        "sequential": sequential,
        "tuning": tuning,
        "cuped": cuped,
        "prior_sd": prior_sd,
    }
    return core.analysis(
        "the campaign report",
        lambda w: w.campaigns.report(
            name,
            run,
            key.caller,
            options=options,
            events=tuple(metric or ()),
            pre_days=pre_days,
        ),
    )


@router.post("/v1/campaigns/{name}/import")
def import_experiment(
    name: str, body: ImportRequest, key: CampaignsWriteKey, core: CoreDep
) -> dict[str, Any]:
    """Load an A/B test run elsewhere: its assignments, planned weights and optional
    outcomes (events, or clicked / converted / revenue per user); one transaction."""
    import datetime as dt

    import pyarrow as pa

    started = None
    if body.started_at is not None:
        try:
            started = dt.datetime.fromisoformat(body.started_at)
        except ValueError:
            raise InputError(
                f"'{body.started_at}' is not a time (ISO 8601)", where="started_at"
            ) from None
        if started.tzinfo is None:
            started = started.replace(tzinfo=dt.UTC)
    assignments = pa.Table.from_pylist([a.model_dump() for a in body.assignments])
    outcomes = None
    if body.outcomes is not None:
        rows = [o.model_dump(exclude_none=True) for o in body.outcomes]
        columns = sorted({c for r in rows for c in r})
        outcomes = pa.Table.from_pylist([{c: r.get(c) for c in columns} for r in rows])
    with core.hold() as w:  # a write: never abandoned half-way by a timeout
        return w.campaigns.import_experiment(
            name,
            assignments,
            body.weights,
            outcomes=outcomes,
            started_at=started,
            attribution_days=body.attribution_days,
            conversion_event=body.conversion_event,
            metrics=tuple(body.metrics),
            replace=body.replace,
            caller=key.caller,
        )


@router.post("/v1/campaigns/plan-size")
def plan_size(body: PlanSizeRequest, key: CampaignsReadKey) -> dict[str, Any]:
    """How many users an experiment needs (normal approximation of the z-test; several
    comparisons planned at alpha split among them)."""
    from portrait.workspace.campaigning import CampaignService

    return CampaignService.plan_size(
        body.baseline,
        body.effect,
        body.weights,
        relative=body.relative,
        sd=body.sd,
        alpha=body.alpha,
        power=body.power,
        correction=body.correction,
    )


@router.post("/v1/events/responses")
def responses(body: ResponsesRequest, key: CampaignsWriteKey, core: CoreDep) -> dict[str, Any]:
    import pyarrow as pa

    table = pa.Table.from_pylist([r.model_dump() for r in body.events])
    with core.hold() as w:
        return w.campaigns.record_responses(table, key.caller)
