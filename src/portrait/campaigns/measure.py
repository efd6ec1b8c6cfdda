"""What campaigns did: response events stored, the effect report of a run, a user's campaign
history. The arithmetic of the report is in :mod:`portrait.campaigns.effect`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from portrait.campaigns.effect import GroupCounts, group_rows, verdict
from portrait.campaigns.experiment import (
    EVENT_PREFIX,
    METRICS,
    GroupData,
    Options,
    compare_groups,
    event_metric,
)
from portrait.campaigns.responses import ResponseReport, ResponseRow
from portrait.errors import InputError, NotFoundError
from portrait.model.campaigns import DELIVERY_STATES, RESPONSES, CampaignSpec, DeliveryState
from portrait.stats.srm import srm_test
from portrait.store.campaigns import CampaignRepository, Target, epoch_seconds

#: days before a run whose orders and events CUPED adjusts by
PRE_DAYS = 28
CONVERTED = "converted"  # the response that counts as a conversion (with orders and events)
#: responses a user not sent a message can still have: their own (organic) clicks and buys
ORGANIC = ("clicked", "converted")


def load_responses(
    repo: CampaignRepository, rows: list[ResponseRow], report: ResponseReport, known: set[str]
) -> ResponseReport:
    """Store checked response rows: each tied to its campaign and the user's latest run;
    duplicates (in the file or already stored) counted once; rows for unknown campaigns or
    users not in the campaign are rejected into ``report``, and so are deliveries and opens
    of users not sent a message. Their clicks and conversions are kept, counted as
    ``organic``: the holdout's own behaviour is what the variants are measured against.
    One transaction."""
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
                if row.response not in ORGANIC:
                    report.reject(
                        row.line,
                        f"user was not sent a message ({target.state}): only clicks and "
                        "conversions can be organic",
                        shown,
                    )
                    continue
                report.organic += 1  # a holdout (or unsent) user's own click or purchase
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
    options: Options | None = None,
    events: Sequence[str] = (),
    pre_days: int = PRE_DAYS,
    find_users: FindUsers | None = None,
) -> dict[str, Any]:
    """The effect of a run (default: the latest): per group the funnel, CTR, CVR, revenue,
    cost, ROI and uplift against the control; the SRM check; every metric compared for every
    pair of groups (:mod:`portrait.campaigns.experiment`, ``options``), with the custom event
    rates of ``spec.metrics`` and ``events``; a plain-language verdict. CUPED reads the
    ``pre_days`` days before the run. ``find_users`` maps user ids to uids (the workspace's
    index; without it the run's records are read for it). Definitions:
    :mod:`portrait.campaigns.effect`."""
    options = options or Options()
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
        records = view.delivery_columns(name, run, [g for g, _ in spec.groups])
        answers = view.response_columns(name, run)
    started = info.started_at
    window = dt.timedelta(days=spec.attribution_days)
    n = records.uid.size
    # each response's user's position among the records, and the start of its window
    at = np.searchsorted(records.uid, answers.uid)
    known = at < n
    known[known] = records.uid[at[known]] == answers.uid[known]
    at = np.where(known, at, 0)
    begins = np.where(np.isnan(answers.sent_at), epoch_seconds(started), answers.sent_at)
    organic = np.isin(answers.response, [RESPONSES.index(r) for r in ORGANIC])
    inside = (answers.at >= begins) & (answers.at < begins + window.total_seconds())
    kept = known & (inside | ~organic)
    flags = {}
    for code, response in enumerate(RESPONSES):
        chosen = at[kept & (answers.response == code)]
        flags[response] = np.zeros(n, dtype=bool)
        flags[response][chosen] = True
    bought = kept & (answers.response == RESPONSES.index(CONVERTED))
    reported = np.bincount(
        at[bought], weights=np.nan_to_num(answers.revenue[bought]), minlength=n
    ).astype(np.float64)
    locate = _locator(records.uid, find_users or _run_users(repo, name, run))
    order_count, order_amount = order_totals(orders_files, locate, n, started, started + window)
    converted = flags[CONVERTED] | (order_count > 0)
    if spec.conversion_event:
        converted |= (
            event_totals(events_files, spec.conversion_event, locate, n, started, started + window)
            > 0
        )
    revenue = np.maximum(reported, order_amount)  # the same purchase, reported and ordered
    receipts = bool(flags["delivered"].any())
    custom = list(dict.fromkeys([*spec.metrics, *events]))
    had = {
        e: event_totals(events_files, e, locate, n, started, started + window) > 0 for e in custom
    }
    before = started - dt.timedelta(days=pre_days)
    pre: dict[str, npt.NDArray[np.float64]] = {}
    if options.cuped:
        pre["orders"], pre["amount"] = order_totals(orders_files, locate, n, before, started)
        for e in custom:
            pre[f"{EVENT_PREFIX}{e}"] = event_totals(events_files, e, locate, n, before, started)
    counts, data = [], []
    for index, (group, weight) in enumerate(spec.groups):
        mask = records.group == index
        states = np.bincount(records.state[mask], minlength=len(DELIVERY_STATES))
        data.append(
            GroupData(
                group=group,
                clicked=flags["clicked"][mask],
                converted=converted[mask],
                revenue=revenue[mask],
                events={e: had[e][mask] for e in custom},
                pre={k: v[mask] for k, v in pre.items()},
            )
        )
        counts.append(
            GroupCounts(
                group=group,
                weight=weight,
                targeted=int(mask.sum()),
                sent=int(states[DELIVERY_STATES.index(DeliveryState.SENT.value)]),
                failed=int(states[DELIVERY_STATES.index(DeliveryState.FAILED.value)]),
                suppressed=int(states[DELIVERY_STATES.index(DeliveryState.SUPPRESSED.value)]),
                delivered=int(flags["delivered"][mask].sum()),
                opened=int(flags["opened"][mask].sum()),
                clicked=int(flags["clicked"][mask].sum()),
                converted=int(converted[mask].sum()),
                revenue=float(revenue[mask].sum()),
            )
        )
    rows = group_rows(counts, spec.cost_per_message, receipts)
    srm = srm_test([c.targeted for c in counts], [w for _, w in spec.groups])
    metrics = [*METRICS, *(event_metric(e) for e in custom)]
    comparisons = compare_groups(data, metrics, options)
    return {
        "campaign": name,
        "run": int(run),
        "run_state": info.state,
        "imported": spec.imported,
        "started_at": started.isoformat(timespec="seconds"),
        "attribution_days": spec.attribution_days,
        "pre_period_days": pre_days if options.cuped else None,
        "delivery_receipts": receipts,
        "options": options.to_dict(),
        "groups": rows,
        "srm": {
            "observed": list(srm.observed),
            "expected": [round(e, 1) for e in srm.expected],
            "chi2": srm.chi2,
            "p_value": srm.p_value,
            "mismatch": srm.mismatch,
        },
        "metrics": [{"name": m.name, "label": m.label, "kind": m.kind} for m in metrics],
        "comparisons": comparisons,
        "verdict": verdict(rows, srm, comparisons),
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


FindUsers = Callable[[Sequence[str]], Sequence[int | None]]
Locate = Callable[[pa.Array], npt.NDArray[np.int64]]


def _run_users(repo: CampaignRepository, name: str, run: int) -> FindUsers:
    uid_of = repo.run_user_ids(name, run)
    return lambda ids: [uid_of.get(str(i)) for i in ids]


def _locator(uids: npt.NDArray[np.int64], find_users: FindUsers) -> Locate:
    """Where users (by user id) are among a run's records (sorted ``uids``); −1: not there."""

    def locate(user_ids: pa.Array) -> npt.NDArray[np.int64]:
        found = np.array([-1 if u is None else u for u in find_users(user_ids.to_pylist())])
        at = np.searchsorted(uids, found).astype(np.int64)
        there = (found >= 0) & (at < uids.size)
        there[there] = uids[at[there]] == found[there]
        return np.where(there, at, -1)

    return locate


def _per_user(
    table: pa.Table, locate: Locate, n: int, column: str | None
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Rows per user of the run (by position) and the sum of ``column``."""
    count, total = np.zeros(n), np.zeros(n)
    if not table.num_rows:
        return count, total
    aggregates = [("user_id", "count")] + ([(column, "sum")] if column else [])
    grouped = table.group_by("user_id").aggregate(aggregates)
    at = locate(grouped.column("user_id"))
    ours = at >= 0
    count[at[ours]] = grouped.column("user_id_count").to_numpy(zero_copy_only=False)[ours]
    if column:
        sums = grouped.column(f"{column}_sum").fill_null(0.0).to_numpy(zero_copy_only=False)
        total[at[ours]] = sums[ours]
    return count, total


def order_totals(
    orders_files: Sequence[Path], locate: Locate, n: int, start: dt.datetime, end: dt.datetime
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """For each user of a run (by position; ``locate`` finds them), their orders in
    [start, end): how many, and the amount."""
    if not orders_files or not n:
        return np.zeros(n), np.zeros(n)
    table = _window_table(orders_files, ["user_id", "amount"], start, end)
    return _per_user(table, locate, n, "amount")


def event_totals(
    events_files: Sequence[Path],
    event: str,
    locate: Locate,
    n: int,
    start: dt.datetime,
    end: dt.datetime,
) -> npt.NDArray[np.float64]:
    """For each user of a run (by position), how many events named ``event`` they had in
    [start, end) (a sign-up, say)."""
    if not events_files or not n:
        return np.zeros(n)
    import pyarrow.dataset as ds

    table = _window_table(events_files, ["user_id"], start, end, ds.field("event") == event)
    return _per_user(table, locate, n, None)[0]


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
