"""What campaigns did: response events stored, the effect report of a run, a user's campaign
history. The arithmetic of the report is in :mod:`portrait.campaigns.effect`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from portrait.campaigns.effect import GroupCounts, group_rows, verdict
from portrait.campaigns.responses import ResponseReport, ResponseRow
from portrait.errors import InputError, NotFoundError
from portrait.model.campaigns import CampaignSpec
from portrait.stats.srm import srm_test
from portrait.store.metadata import MetadataStore, campaign_runs, deliveries, responses


def utc(value: dt.datetime) -> dt.datetime:
    """SQLite gives naive datetimes back; they were written in UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _insert_ignoring_duplicates(conn: Connection, table: Any) -> Any:
    """INSERT that skips rows whose key is already there (SQLite and PostgreSQL)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing()
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table).on_conflict_do_nothing()


def load_responses(
    store: MetadataStore, rows: list[ResponseRow], report: ResponseReport, known: set[str]
) -> ResponseReport:
    """Store checked response rows: each tied to its campaign and the user's latest run;
    duplicates (in the file or already stored) counted once; rows for unknown campaigns or
    users not sent to are rejected into ``report``. One transaction."""
    targets: dict[str, dict[str, tuple[int, int, str]]] = {}
    with store.transaction() as conn:
        for campaign in sorted({r.campaign for r in rows} & known):
            found = conn.execute(
                select(deliveries.c.user_id, deliveries.c.run, deliveries.c.uid, deliveries.c.state)
                .where(deliveries.c.campaign == campaign)
                .order_by(deliveries.c.run)
            ).all()
            targets[campaign] = {str(u): (int(r), int(i), str(st)) for u, r, i, st in found}
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
            run, uid, state = target
            if state != "sent":
                report.reject(row.line, f"user was not sent a message ({state})", shown)
                continue
            key = (row.campaign, uid, row.response, row.at)
            if key in seen:
                report.duplicates += 1
                continue
            seen.add(key)
            values.append(
                {
                    "campaign": row.campaign,
                    "uid": uid,
                    "response": row.response,
                    "at": row.at,
                    "run": run,
                    "revenue": row.revenue,
                }
            )
        if values:
            # Count the rows this statement inserted (RETURNING gives those only), not the
            # growth of the table: another process may store responses at the same time.
            insert = _insert_ignoring_duplicates(conn, responses).returning(responses.c.uid)
            report.loaded = len(conn.execute(insert, values).all())
        report.duplicates += len(values) - report.loaded
    return report


def effect_report(
    store: MetadataStore,
    spec: CampaignSpec,
    run: int | None,
    orders_files: Sequence[Path],
    events_files: Sequence[Path] = (),
) -> dict[str, Any]:
    """The effect of a run (default: the latest): per group the funnel, CTR, CVR, revenue,
    cost, ROI and uplift against the control; the SRM check; a plain-language verdict.
    Definitions: :mod:`portrait.campaigns.effect`."""
    name = spec.name
    with store.engine.connect() as conn:
        if run is None:
            run = conn.execute(
                select(func.max(campaign_runs.c.run)).where(campaign_runs.c.campaign == name)
            ).scalar()
            if run is None:
                raise InputError(
                    f"campaign '{name}' has not run yet",
                    hint=f"portrait campaign launch {name}",
                )
        info = conn.execute(
            select(campaign_runs.c.started_at, campaign_runs.c.state).where(
                campaign_runs.c.campaign == name, campaign_runs.c.run == run
            )
        ).first()
        if info is None:
            raise NotFoundError(f"campaign '{name}' has no run {run}")
        records = conn.execute(
            select(
                deliveries.c.uid,
                deliveries.c.user_id,
                deliveries.c.grp,
                deliveries.c.state,
                deliveries.c.sent_at,
            ).where(deliveries.c.campaign == name, deliveries.c.run == run)
        ).all()
        answers = conn.execute(
            select(
                responses.c.uid, responses.c.response, responses.c.at, responses.c.revenue
            ).where(responses.c.campaign == name, responses.c.run == run)
        ).all()
    started = utc(info[0])
    window = dt.timedelta(days=spec.attribution_days)
    sent_at = {int(r[0]): utc(r[4]) for r in records if r[4] is not None}
    by_response: dict[str, set[int]] = {
        k: set() for k in ("delivered", "opened", "clicked", "converted")
    }
    revenue: dict[int, float] = {}
    for uid, response, at, amount in answers:
        uid = int(uid)
        when = utc(at)
        if response == "converted":
            start = sent_at.get(uid, started)
            if not start <= when < start + window:
                continue  # outside the attribution window
            revenue[uid] = revenue.get(uid, 0.0) + float(amount or 0.0)
        by_response[str(response)].add(uid)
    ordered = orders_in_window(
        orders_files, {str(r[1]): int(r[0]) for r in records}, started, started + window
    )
    converted = by_response["converted"] | set(ordered)
    if spec.conversion_event:
        converted |= events_in_window(
            events_files,
            spec.conversion_event,
            {str(r[1]): int(r[0]) for r in records},
            started,
            started + window,
        )
    receipts = bool(by_response["delivered"])
    counts = []
    for group, weight in spec.groups:
        members = [int(r[0]) for r in records if r[2] == group]
        states = [str(r[3]) for r in records if r[2] == group]
        member_set = set(members)
        counts.append(
            GroupCounts(
                group=group,
                weight=weight,
                targeted=len(members),
                sent=states.count("sent"),
                failed=states.count("failed"),
                suppressed=states.count("suppressed"),
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
        "run_state": info[1],
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


def user_history(store: MetadataStore, uid: int) -> list[dict[str, Any]]:
    """A user's campaigns: run, group (variant or control), delivery state, responses."""
    with store.engine.connect() as conn:
        found = conn.execute(
            select(
                deliveries.c.campaign,
                deliveries.c.run,
                deliveries.c.grp,
                deliveries.c.state,
                deliveries.c.sent_at,
                deliveries.c.reason,
            )
            .where(deliveries.c.uid == uid)
            .order_by(deliveries.c.campaign, deliveries.c.run)
        ).all()
        answered = conn.execute(
            select(responses.c.campaign, responses.c.run, responses.c.response).where(
                responses.c.uid == uid
            )
        ).all()
    said: dict[tuple[str, int], list[str]] = {}
    for campaign, run, response in answered:
        said.setdefault((str(campaign), int(run)), []).append(str(response))
    order = {r: i for i, r in enumerate(("delivered", "opened", "clicked", "converted"))}
    return [
        {
            "campaign": c,
            "run": int(r),
            "group": g,
            "state": st,
            "sent_at": utc(at).isoformat(timespec="seconds") if at else None,
            "reason": why,
            "responses": sorted(set(said.get((c, int(r)), [])), key=order.__getitem__),
        }
        for c, r, g, st, at, why in found
    ]
