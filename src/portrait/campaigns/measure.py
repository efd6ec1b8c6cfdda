"""What campaigns did: response events stored, the effect report of a run, a user's campaign
history. The arithmetic of the report is in :mod:`portrait.campaigns.effect`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from portrait.campaigns.effect import GroupCounts, group_rows, verdict
from portrait.campaigns.responses import ResponseReport, ResponseRow
from portrait.errors import InputError, NotFoundError
from portrait.model.campaigns import RESPONSES, CampaignSpec, DeliveryState
from portrait.stats.srm import srm_test
from portrait.store.campaigns import CampaignRepository, Target

CONVERTED = "converted"  # the response that counts as a conversion (with orders and events)


def load_responses(
    repo: CampaignRepository, rows: list[ResponseRow], report: ResponseReport, known: set[str]
) -> ResponseReport:
    """Store checked response rows: each tied to its campaign and the user's latest run;
    duplicates (in the file or already stored) counted once; rows for unknown campaigns or
    users not sent to are rejected into ``report``. One transaction."""
    sent = DeliveryState.SENT.value
    with repo.transaction() as tx:
        targets: dict[str, dict[str, Target]] = {
            campaign: tx.targets(campaign)
            for campaign in sorted({r.campaign for r in rows} & known)
        }
        seen: set[tuple[str, int, str, dt.datetime]] = set()
        values = []
        for row in rows:
            shown = {"campaign": row.campaign, "user_id": row.user_id, "response": row.response}
            if row.campaign not in known:
                report.reject(row.line, "unknown campaign", shown)
                continue
            target = targets[row.campaign].get(row.user_id)
            if target is None:
                report.reject(row.line, "user not in the campaign", shown)
                continue
            if target.state != sent:
                report.reject(row.line, f"user was not sent a message ({target.state})", shown)
                continue
            key = (row.campaign, target.uid, row.response, row.at)
            if key in seen:
                report.duplicates += 1
                continue
            seen.add(key)
            values.append(
                {
                    "campaign": row.campaign,
                    "uid": target.uid,
                    "response": row.response,
                    "at": row.at,
                    "run": target.run,
                    "revenue": row.revenue,
                }
            )
        report.loaded = tx.add_responses(values)
        report.duplicates += len(values) - report.loaded
    return report


def effect_report(
    repo: CampaignRepository,
    spec: CampaignSpec,
    run: int | None,
    orders_files: Sequence[Path],
    events_files: Sequence[Path] = (),
) -> dict[str, Any]:
    """The effect of a run (default: the latest): per group the funnel, CTR, CVR, revenue,
    cost, ROI and uplift against the control; the SRM check; a plain-language verdict.
    Definitions: :mod:`portrait.campaigns.effect`."""
    name = spec.name
    with repo.snapshot() as view:
        if run is None:
            run = view.latest_run(name)
            if run is None:
                raise InputError(
                    f"campaign '{name}' has not run yet",
                    hint=f"portrait campaign launch {name}",
                )
        info = view.run(name, run)
        if info is None:
            raise NotFoundError(f"campaign '{name}' has no run {run}")
        records = view.deliveries(name, run)
        answers = view.responses(name, run)
    started = info.started_at
    window = dt.timedelta(days=spec.attribution_days)
    sent_at = {r.uid: r.sent_at for r in records if r.sent_at is not None}
    by_response: dict[str, set[int]] = {k: set() for k in RESPONSES}
    revenue: dict[int, float] = {}
    for answer in answers:
        uid = answer.uid
        if answer.response == CONVERTED:
            start = sent_at.get(uid, started)
            if not start <= answer.at < start + window:
                continue  # outside the attribution window
            revenue[uid] = revenue.get(uid, 0.0) + (answer.revenue or 0.0)
        by_response[answer.response].add(uid)
    uid_of = {r.user_id: r.uid for r in records}
    ordered = orders_in_window(orders_files, uid_of, started, started + window)
    converted = by_response[CONVERTED] | set(ordered)
    if spec.conversion_event:
        converted |= events_in_window(
            events_files, spec.conversion_event, uid_of, started, started + window
        )
    receipts = bool(by_response["delivered"])
    counts = []
    for group, weight in spec.groups:
        members = [r.uid for r in records if r.group == group]
        states = [r.state for r in records if r.group == group]
        member_set = set(members)
        counts.append(
            GroupCounts(
                group=group,
                weight=weight,
                targeted=len(members),
                sent=states.count(DeliveryState.SENT.value),
                failed=states.count(DeliveryState.FAILED.value),
                suppressed=states.count(DeliveryState.SUPPRESSED.value),
                delivered=len(by_response["delivered"] & member_set),
                opened=len(by_response["opened"] & member_set),
                clicked=len(by_response["clicked"] & member_set),
                converted=len(converted & member_set),
                revenue=sum(max(revenue.get(u, 0.0), ordered.get(u, 0.0)) for u in member_set),
            )
        )
    rows = group_rows(counts, spec.cost_per_message, receipts)
    srm = srm_test([c.targeted for c in counts], [w for _, w in spec.groups])
    return {
        "campaign": name,
        "run": int(run),
        "run_state": info.state,
        "started_at": started.isoformat(timespec="seconds"),
        "attribution_days": spec.attribution_days,
        "delivery_receipts": receipts,
        "groups": rows,
        "srm": {
            "observed": list(srm.observed),
            "expected": [round(e, 1) for e in srm.expected],
            "chi2": srm.chi2,
            "p_value": srm.p_value,
            "mismatch": srm.mismatch,
        },
        "verdict": verdict(rows, srm),
    }


def _window_table(
    files: Sequence[Path],
    columns: list[str],
    start: dt.datetime,
    end: dt.datetime,
    where: Any = None,
) -> pa.Table:
    """Rows of Parquet files with ``ts`` in [start, end) (and ``where``)."""
    import pyarrow.dataset as ds

    data = ds.dataset([str(p) for p in files], format="parquet")
    ts = ds.field("ts")
    kind = data.schema.field("ts").type
    zone = getattr(kind, "tz", None)

    def bound(moment: dt.datetime) -> pa.Scalar:
        # stored timestamps are UTC, with the zone in the type or without one
        utc = moment.astimezone(dt.UTC)
        value = utc if zone else utc.replace(tzinfo=None)
        return pa.scalar(value, pa.timestamp("us", tz=zone))

    condition = (ts >= bound(start)) & (ts < bound(end))
    return data.to_table(columns=columns, filter=condition if where is None else condition & where)


def orders_in_window(
    orders_files: Sequence[Path], uid_of: Mapping[str, int], start: dt.datetime, end: dt.datetime
) -> dict[int, float]:
    """Order amount per targeted user with an order in [start, end)."""
    if not orders_files:
        return {}
    import pyarrow.compute as pc

    table = _window_table(orders_files, ["user_id", "amount"], start, end)
    table = table.filter(pc.is_in(table.column("user_id"), pa.array(list(uid_of))))
    grouped = table.group_by("user_id").aggregate([("amount", "sum")]).to_pylist()
    return {uid_of[str(g["user_id"])]: float(g["amount_sum"] or 0.0) for g in grouped}


def events_in_window(
    events_files: Sequence[Path],
    event: str,
    uid_of: Mapping[str, int],
    start: dt.datetime,
    end: dt.datetime,
) -> set[int]:
    """Targeted users with an event named ``event`` in [start, end) (a sign-up, say)."""
    if not events_files:
        return set()
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    table = _window_table(events_files, ["user_id"], start, end, ds.field("event") == event)
    found = pc.unique(table.column("user_id")).to_pylist()
    return {uid_of[u] for u in found if u in uid_of}


def user_history(repo: CampaignRepository, uid: int) -> list[dict[str, Any]]:
    """A user's campaigns: run, group (variant or control), delivery state, responses."""
    with repo.snapshot() as view:
        records = view.user_deliveries(uid)
        answered = view.user_responses(uid)
    said: dict[tuple[str, int], list[str]] = {}
    for campaign, run, response in answered:
        said.setdefault((campaign, run), []).append(response)
    order = {r: i for i, r in enumerate(RESPONSES)}
    return [
        {
            "campaign": h.campaign,
            "run": h.run,
            "group": h.group,
            "state": h.state,
            "sent_at": h.sent_at.isoformat(timespec="seconds") if h.sent_at else None,
            "reason": h.reason,
            "responses": sorted(set(said.get((h.campaign, h.run), [])), key=order.__getitem__),
        }
        for h in records
    ]
