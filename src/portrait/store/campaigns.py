"""The campaign repository: every query about campaigns, their runs, delivery records, responses
and change log (the tables are in :mod:`portrait.store.tables`).

Reads open a connection of their own; writes run in a transaction of their own, or in the
caller's: ``with repo.transaction() as tx`` gives a repository bound to one transaction, so
several writes commit together or not at all (:mod:`portrait.store.repository`). Times come back aware (UTC): SQLite returns
naive datetimes, written in UTC. What the states mean and which may follow which is decided
above this layer (:mod:`portrait.campaigns.lifecycle`); here they are values to store.

Longer than most modules (~550 lines) on purpose: it is the one repository of the campaign
aggregate, whose tables change together (a run's delivery records are written in the
transaction that moves the campaign's state), so its queries stay side by side.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pyroaring import BitMap
from sqlalchemy import Float, Table, and_, bindparam, case, cast, func, select
from sqlalchemy.engine import Connection, RowMapping

from portrait.model.campaigns import (
    CONTROL_GROUP,
    DELIVERY_STATES,
    RESPONSES,
    DeliveryState,
    RunState,
)
from portrait.store.repository import Repository, utc, utc_or_none
from portrait.store.tables import campaign_events, campaign_runs, campaigns, deliveries, responses

_INSERT_CHUNK = 50_000
_OTHER_GROUP, _OTHER_STATE = 63, 15  # codes of a group or state not asked for
_RECORD_COLUMNS = (
    "campaign",
    "run",
    "uid",
    "user_id",
    "grp",
    "channel",
    "state",
    "reason",
    "attempts",
)


@dataclass(frozen=True)
class CampaignRow:
    name: str
    spec: str  # the CampaignSpec as JSON
    state: str
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True)
class RunRow:
    campaign: str
    run: int
    state: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    profile_version: str
    as_of: str | None
    audience_size: int
    batch_size: int


@dataclass(frozen=True)
class EventRow:
    """One entry of a campaign's change log."""

    at: dt.datetime
    actor: str
    action: str
    from_state: str | None
    to_state: str | None
    detail: str


@dataclass(frozen=True)
class DeliveryRow:
    uid: int
    user_id: str
    group: str
    state: str
    sent_at: dt.datetime | None


@dataclass(frozen=True)
class DeliveryColumns:
    """A run's delivery records, a column each, ordered by uid: the group as its index in
    the groups asked for (−1: another), the state as its index in ``DELIVERY_STATES``."""

    uid: np.ndarray
    group: np.ndarray
    state: np.ndarray


@dataclass(frozen=True)
class ResponseColumns:
    """A run's responses, a column each: the response as its index in ``RESPONSES``, the
    time in seconds since the epoch (to the microsecond: :func:`epoch_seconds`), the revenue
    (NaN: none), and when the user's message was sent (NaN: not sent)."""

    uid: np.ndarray
    response: np.ndarray
    at: np.ndarray
    revenue: np.ndarray
    sent_at: np.ndarray


@dataclass(frozen=True)
class ResponseRecord:
    uid: int
    response: str
    at: dt.datetime
    revenue: float | None


@dataclass(frozen=True)
class Target:
    """The delivery record a response from a user is tied to: the user's latest run."""

    run: int
    uid: int
    state: str


@dataclass(frozen=True)
class HistoryRow:
    """One (campaign, run) a user was part of."""

    campaign: str
    run: int
    group: str
    state: str
    sent_at: dt.datetime | None
    reason: str | None


def _insert_ignoring_duplicates(conn: Connection, table: Table) -> Any:
    """INSERT that skips rows whose key is already there (SQLite and PostgreSQL)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing()
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table).on_conflict_do_nothing()


class CampaignRepository(Repository):
    """Campaigns, runs, delivery records, responses and the change log in the metadata
    database (see the module docstring)."""

    # -- campaigns --------------------------------------------------------------------
    def names(self) -> list[str]:
        return [str(r[0]) for r in self._all(select(campaigns.c.name).order_by(campaigns.c.name))]

    def exists(self, name: str) -> bool:
        return bool(self._all(select(campaigns.c.name).where(campaigns.c.name == name)))

    def campaign(self, name: str) -> CampaignRow | None:
        found = self._mappings(select(campaigns).where(campaigns.c.name == name))
        return _campaign_row(found[0]) if found else None

    def campaigns(self) -> list[CampaignRow]:
        """Every campaign, by name."""
        return [
            _campaign_row(r) for r in self._mappings(select(campaigns).order_by(campaigns.c.name))
        ]

    def insert_campaign(self, name: str, spec: str, state: str, at: dt.datetime) -> bool:
        """Store a new campaign; False (and nothing stored) when one of that name exists,
        also when another process stored it a moment ago."""
        with self._write() as conn:
            insert = (
                _insert_ignoring_duplicates(conn, campaigns)
                .values(name=name, spec=spec, state=str(state), created_at=at, updated_at=at)
                .returning(campaigns.c.name)  # a row back only when it was inserted
            )
            return conn.execute(insert).first() is not None

    def delete_campaign(self, name: str) -> None:
        with self._write() as conn:
            conn.execute(campaigns.delete().where(campaigns.c.name == name))

    def delete_campaign_data(self, name: str) -> None:
        """Forget a campaign with everything it holds: runs, delivery records, responses and
        its change log (an imported experiment being replaced)."""
        with self._write() as conn:
            conn.execute(responses.delete().where(responses.c.campaign == name))
            conn.execute(deliveries.delete().where(deliveries.c.campaign == name))
            conn.execute(campaign_runs.delete().where(campaign_runs.c.campaign == name))
            conn.execute(campaign_events.delete().where(campaign_events.c.campaign == name))
            conn.execute(campaigns.delete().where(campaigns.c.name == name))

    def set_state(self, name: str, before: str, after: str, at: dt.datetime) -> bool:
        """Move the campaign from ``before`` to ``after``; False (and nothing changed) when it
        is not in ``before`` any more. One conditional UPDATE, so two processes cannot both
        move it from the same state."""
        with self._write() as conn:
            changed = conn.execute(
                campaigns.update()
                .where(campaigns.c.name == name, campaigns.c.state == str(before))
                .values(state=str(after), updated_at=at)
            )
            return bool(changed.rowcount)

    # -- the change log ------------------------------------------------------------------
    def log_event(
        self,
        name: str,
        *,
        at: dt.datetime,
        actor: str,
        action: str,
        before: str | None,
        after: str | None,
        detail: str = "",
    ) -> None:
        with self._write() as conn:
            conn.execute(
                campaign_events.insert().values(
                    campaign=name,
                    at=at,
                    actor=actor,
                    action=action,
                    from_state=None if before is None else str(before),
                    to_state=None if after is None else str(after),
                    detail=detail,
                )
            )

    def events(self, name: str) -> list[EventRow]:
        """The change log, oldest first."""
        rows = self._mappings(
            select(campaign_events)
            .where(campaign_events.c.campaign == name)
            .order_by(campaign_events.c.id)
        )
        return [
            EventRow(
                utc(r["at"]), r["actor"], r["action"], r["from_state"], r["to_state"], r["detail"]
            )
            for r in rows
        ]

    # -- runs -------------------------------------------------------------------------
    def runs(self, name: str) -> list[RunRow]:
        """The campaign's runs, oldest first (without their members)."""
        of_campaign = campaign_runs.c.campaign == name
        rows = self._mappings(
            select(*_RUN_COLUMNS).where(of_campaign).order_by(campaign_runs.c.run)
        )
        return [_run_row(r) for r in rows]

    def run(self, name: str, run: int) -> RunRow | None:
        found = self._mappings(select(*_RUN_COLUMNS).where(_run_key(name, run)))
        return _run_row(found[0]) if found else None

    def latest_run(self, name: str) -> int | None:
        of_campaign = campaign_runs.c.campaign == name
        run = self._scalar(select(func.max(campaign_runs.c.run)).where(of_campaign))
        return None if run is None else int(run)

    def open_run(self, name: str) -> int | None:
        """The run still ``running`` (there is at most one), or None."""
        running = campaign_runs.c.state == RunState.RUNNING.value
        run = self._scalar(
            select(campaign_runs.c.run).where(campaign_runs.c.campaign == name, running)
        )
        return None if run is None else int(run)

    def last_started(self, name: str) -> dt.datetime | None:
        """When the campaign's latest run started (None: it never ran)."""
        of_campaign = campaign_runs.c.campaign == name
        return utc_or_none(
            self._scalar(select(func.max(campaign_runs.c.started_at)).where(of_campaign))
        )

    def run_members(self, name: str, run: int) -> np.ndarray:
        """The run's frozen audience: its uids, ascending."""
        blob = self._scalar(select(campaign_runs.c.members).where(_run_key(name, run)))
        assert blob is not None, f"run {run} of campaign '{name}' has no members"
        return np.asarray(BitMap.deserialize(blob).to_array(), dtype=np.int64)

    def start_run(
        self,
        name: str,
        channel: str,
        *,
        started_at: dt.datetime,
        profile_version: str,
        as_of: str | None,
        batch_size: int,
        uids: Sequence[int],
        user_ids: Sequence[str],
        groups: Sequence[str],
        states: Sequence[str],
        reasons: Sequence[str | None],
        sent_at: Sequence[dt.datetime | None] | None = None,
    ) -> int:
        """Record a new run (numbered after the latest) with its frozen audience (``uids``)
        and one delivery record per member (``sent_at``: when each was sent, for an
        experiment run elsewhere), in one transaction. Returns the run number."""
        with self._write() as conn:
            last = conn.execute(
                select(func.max(campaign_runs.c.run)).where(campaign_runs.c.campaign == name)
            ).scalar()
            run = int(last or 0) + 1
            conn.execute(
                campaign_runs.insert().values(
                    campaign=name,
                    run=run,
                    state=RunState.RUNNING.value,
                    started_at=started_at,
                    profile_version=profile_version,
                    as_of=as_of,
                    audience_size=len(uids),
                    batch_size=batch_size,
                    members=BitMap(uids).serialize(),
                )
            )
            records = [
                (name, run, uid, user_id, group, channel, state, reason, 0)
                for uid, user_id, group, state, reason in zip(
                    uids, user_ids, groups, states, reasons, strict=True
                )
            ]
            if sent_at is None:
                _insert_records(conn, records)
            else:
                shown: dict[dt.datetime | None, Any] = {}  # a few distinct times, made once
                stamped = []
                for r, at in zip(records, sent_at, strict=True):
                    if at not in shown:
                        shown[at] = _driver_time(conn, at)
                    stamped.append((*r, shown[at]))
                _insert_records(conn, stamped, (*_RECORD_COLUMNS, "sent_at"))
        return run

    def finish_run(self, name: str, run: int, state: str, at: dt.datetime) -> None:
        with self._write() as conn:
            conn.execute(
                campaign_runs.update()
                .where(_run_key(name, run))
                .values(state=str(state), finished_at=at)
            )

    def cancel_runs(self, name: str, at: dt.datetime) -> None:
        """Mark the campaign's running run (if any) cancelled."""
        with self._write() as conn:
            conn.execute(
                campaign_runs.update()
                .where(
                    campaign_runs.c.campaign == name,
                    campaign_runs.c.state == RunState.RUNNING.value,
                )
                .values(state=RunState.CANCELLED.value, finished_at=at)
            )

    # -- delivery records ---------------------------------------------------------------
    def delivery_counts(self, name: str, run: int) -> dict[str, int]:
        """Records of the run per delivery state."""
        rows = self._all(
            select(deliveries.c.state, func.count())
            .where(deliveries.c.campaign == name, deliveries.c.run == run)
            .group_by(deliveries.c.state)
        )
        return {str(state): int(n) for state, n in rows}

    def delivery_counts_by_run(self, name: str) -> dict[int, dict[str, int]]:
        """Records per run and delivery state."""
        rows = self._all(
            select(deliveries.c.run, deliveries.c.state, func.count())
            .where(deliveries.c.campaign == name)
            .group_by(deliveries.c.run, deliveries.c.state)
        )
        by_run: dict[int, dict[str, int]] = {}
        for run, state, n in rows:
            by_run.setdefault(int(run), {})[str(state)] = int(n)
        return by_run

    def pending(self, name: str, run: int, after: int, limit: int) -> list[tuple[int, str]]:
        """(uid, group) of the ``limit`` lowest uids above ``after`` still pending in the run."""
        found = self._all(
            select(deliveries.c.uid, deliveries.c.grp)
            .where(
                deliveries.c.campaign == name,
                deliveries.c.run == run,
                deliveries.c.state == DeliveryState.PENDING.value,
                deliveries.c.uid > after,
            )
            .order_by(deliveries.c.uid)
            .limit(limit)
        )
        return [(int(uid), str(group)) for uid, group in found]

    def record_batch(
        self,
        name: str,
        run: int,
        batch: int,
        uids: tuple[int, int],
        *,
        failed: Sequence[tuple[int, str]],
        refused: str | None,
        at: dt.datetime,
    ) -> None:
        """What became of a batch, in one transaction: ``failed`` records (uid, reason) are
        failed; the other pending records with uids in ``uids`` (first, last) are sent, or
        failed with the reason ``refused`` when the channel refused the batch for good."""
        key = and_(deliveries.c.campaign == name, deliveries.c.run == run)
        with self._write() as conn:
            if failed:
                conn.execute(
                    deliveries.update()
                    .where(key, deliveries.c.uid == bindparam("u"))
                    .values(state=DeliveryState.FAILED.value, reason=bindparam("r"), batch=batch),
                    [{"u": uid, "r": reason} for uid, reason in failed],
                )
            conn.execute(
                deliveries.update()
                .where(
                    key,
                    deliveries.c.state == DeliveryState.PENDING.value,
                    deliveries.c.uid.between(*uids),
                )
                .values(
                    state=(DeliveryState.FAILED if refused else DeliveryState.SENT).value,
                    reason=refused,
                    batch=batch,
                    attempts=deliveries.c.attempts + 1,
                    sent_at=None if refused else at,
                )
            )

    def deliveries(self, name: str, run: int) -> list[DeliveryRow]:
        """Every delivery record of the run."""
        columns = ("uid", "user_id", "grp", "state", "sent_at")
        rows = self._all(
            select(*[deliveries.c[c] for c in columns]).where(
                deliveries.c.campaign == name, deliveries.c.run == run
            )
        )
        return [
            DeliveryRow(int(uid), str(user_id), str(group), str(state), utc_or_none(sent_at))
            for uid, user_id, group, state, sent_at in rows
        ]

    def delivery_columns(self, name: str, run: int, groups: Sequence[str]) -> DeliveryColumns:
        """The run's delivery records as arrays ordered by uid, read without a Python object
        per record (a report reads a million): the database packs each record into one
        integer, ``uid · 1024 + group · 16 + state``, the cheapest thing to hand over."""
        if len(groups) > _OTHER_GROUP:
            raise ValueError(f"at most {_OTHER_GROUP} groups")
        group_code = case(
            {g: i for i, g in enumerate(groups)}, value=deliveries.c.grp, else_=_OTHER_GROUP
        )
        state_code = case(
            {s: i for i, s in enumerate(DELIVERY_STATES)},
            value=deliveries.c.state,
            else_=_OTHER_STATE,
        )
        packed = deliveries.c.uid * 1024 + group_code * 16 + state_code
        query = (
            select(packed)
            .where(deliveries.c.campaign == name, deliveries.c.run == run)
            .order_by(deliveries.c.uid)
        )
        values = np.fromiter((r[0] for r in self._raw(query)), np.int64)
        group = ((values >> 4) & 63).astype(np.int8)
        state = (values & 15).astype(np.int8)
        return DeliveryColumns(
            uid=values >> 10,
            group=np.where(group == _OTHER_GROUP, -1, group).astype(np.int8),
            state=np.where(state == _OTHER_STATE, -1, state).astype(np.int8),
        )

    def run_user_ids(self, name: str, run: int) -> dict[str, int]:
        """The run's users: user id → uid."""
        query = select(deliveries.c.user_id, deliveries.c.uid).where(
            deliveries.c.campaign == name, deliveries.c.run == run
        )
        return {str(u): int(i) for u, i in self._raw(query)}

    def response_columns(self, name: str, run: int) -> ResponseColumns:
        """The run's responses as arrays, each with the send time of its user's record (see
        :class:`ResponseColumns`)."""
        dialect = self.store.engine.dialect.name
        code = case({r: i for i, r in enumerate(RESPONSES)}, value=responses.c.response, else_=-1)
        record = and_(
            deliveries.c.campaign == responses.c.campaign,
            deliveries.c.run == responses.c.run,
            deliveries.c.uid == responses.c.uid,
        )
        query = (
            select(
                responses.c.uid,
                code,
                _epoch(dialect, responses.c.at),
                responses.c.revenue,
                _epoch(dialect, deliveries.c.sent_at),
            )
            .select_from(responses.outerjoin(deliveries, record))
            .where(responses.c.campaign == name, responses.c.run == run)
        )
        rows = self._raw(query)
        table = np.array(rows, dtype=np.float64).reshape(len(rows), 5)  # None → NaN
        return ResponseColumns(
            uid=table[:, 0].astype(np.int64),
            response=table[:, 1].astype(np.int8),
            at=np.round(table[:, 2], 6),
            revenue=table[:, 3],
            sent_at=np.round(table[:, 4], 6),
        )

    def over_cap(self, channel: str, since: dt.datetime, messages: int) -> np.ndarray:
        """Uids sent at least ``messages`` messages on ``channel`` since ``since`` (across
        campaigns); the ``deliveries_cap`` index answers it alone."""
        heavy = self._all(
            select(deliveries.c.uid)
            .where(
                deliveries.c.channel == channel,
                deliveries.c.state == DeliveryState.SENT.value,
                deliveries.c.sent_at >= since,
            )
            .group_by(deliveries.c.uid)
            .having(func.count() >= messages)
        )
        return np.fromiter((r[0] for r in heavy), dtype=np.int64, count=len(heavy))

    def members(self, name: str, outcome: str) -> list[int]:
        """Dense ids of a campaign's users (all runs) with an outcome (see
        ``model.rules.CampaignRef``), ascending."""
        sent = DeliveryState.SENT.value
        of_campaign = deliveries.c.campaign == name
        if outcome in RESPONSES:
            query = select(responses.c.uid).where(
                responses.c.campaign == name, responses.c.response == outcome
            )
        elif outcome in ("sent", "not_converted"):  # outcomes, as rules name them
            query = select(deliveries.c.uid).where(of_campaign, deliveries.c.state == sent)
        elif outcome == "control":
            query = select(deliveries.c.uid).where(of_campaign, deliveries.c.grp == CONTROL_GROUP)
        elif outcome == "targeted":
            query = select(deliveries.c.uid).where(of_campaign)
        else:
            raise ValueError(f"unknown campaign outcome {outcome!r}")
        with self._read() as conn:
            found = {int(u) for u in conn.execute(query).scalars()}
            if outcome == "not_converted":
                converted = conn.execute(
                    select(responses.c.uid).where(
                        responses.c.campaign == name, responses.c.response == "converted"
                    )
                ).scalars()
                found -= {int(u) for u in converted}
        return sorted(found)

    # -- responses ------------------------------------------------------------------------
    def targets(self, name: str) -> dict[str, Target]:
        """Per user id, the record of the user's latest run in the campaign."""
        found = self._all(
            select(deliveries.c.user_id, deliveries.c.run, deliveries.c.uid, deliveries.c.state)
            .where(deliveries.c.campaign == name)
            .order_by(deliveries.c.run)
        )
        # by run ascending: a later run's record replaces an earlier one's
        return {str(u): Target(int(r), int(i), str(s)) for u, r, i, s in found}

    def add_responses(self, values: Sequence[Mapping[str, Any]]) -> int:
        """Store responses (``campaign``, ``uid``, ``response``, ``at``, ``run``,
        ``revenue``); those already stored are skipped. Returns how many were stored."""
        if not values:
            return 0
        with self._write() as conn:
            # Count the rows this statement inserted (RETURNING gives those only), not the
            # growth of the table: another process may store responses at the same time.
            insert = _insert_ignoring_duplicates(conn, responses).returning(responses.c.uid)
            return len(conn.execute(insert, list(values)).all())

    def responses(self, name: str, run: int) -> list[ResponseRecord]:
        rows = self._all(
            select(
                responses.c.uid, responses.c.response, responses.c.at, responses.c.revenue
            ).where(responses.c.campaign == name, responses.c.run == run)
        )
        return [
            ResponseRecord(int(uid), str(response), utc(at), None if rev is None else float(rev))
            for uid, response, at, rev in rows
        ]

    # -- one user ----------------------------------------------------------------------
    def user_deliveries(self, uid: int) -> list[HistoryRow]:
        """The user's delivery records, by campaign and run."""
        columns = ("campaign", "run", "grp", "state", "sent_at", "reason")
        rows = self._all(
            select(*[deliveries.c[c] for c in columns])
            .where(deliveries.c.uid == uid)
            .order_by(deliveries.c.campaign, deliveries.c.run)
        )
        return [
            HistoryRow(str(c), int(r), str(g), str(s), utc_or_none(at), why)
            for c, r, g, s, at, why in rows
        ]

    def user_responses(self, uid: int) -> list[tuple[str, int, str]]:
        """(campaign, run, response) of every response of the user."""
        rows = self._all(
            select(responses.c.campaign, responses.c.run, responses.c.response).where(
                responses.c.uid == uid
            )
        )
        return [(str(c), int(r), str(response)) for c, r, response in rows]


_RUN_COLUMNS = [c for c in campaign_runs.c if c.name != "members"]


def _epoch(dialect: str, column: Any) -> Any:
    """A timestamp column as seconds since the epoch, to the microsecond (a float; NULL stays
    NULL), computed by the database so that the driver hands back plain numbers. Compare it
    with :func:`epoch_seconds` of a datetime: both are rounded to the microsecond."""
    if dialect == "sqlite":  # UTC text 'YYYY-MM-DD HH:MM:SS.ffffff': whole seconds + fraction
        whole = cast(func.strftime("%s", column), Float)
        return whole + cast(func.substr(column, 20), Float)
    return func.extract("epoch", column)


def epoch_seconds(moment: dt.datetime) -> float:
    """A datetime as the seconds :meth:`CampaignRepository.response_columns` gives times in."""
    return round(moment.timestamp(), 6)


def _run_key(name: str, run: int) -> Any:
    return and_(campaign_runs.c.campaign == name, campaign_runs.c.run == run)


def _campaign_row(row: RowMapping) -> CampaignRow:
    return CampaignRow(
        row["name"], row["spec"], row["state"], utc(row["created_at"]), utc(row["updated_at"])
    )


def _run_row(row: RowMapping) -> RunRow:
    return RunRow(
        campaign=row["campaign"],
        run=int(row["run"]),
        state=row["state"],
        started_at=utc(row["started_at"]),
        finished_at=utc_or_none(row["finished_at"]),
        profile_version=row["profile_version"],
        as_of=row["as_of"],
        audience_size=int(row["audience_size"]),
        batch_size=int(row["batch_size"]),
    )


def _driver_time(conn: Connection, at: dt.datetime | None) -> Any:
    """A time as the driver's own insert path must get it: SQLite keeps the text SQLAlchemy
    writes for a DateTime (UTC, no offset); the others take the aware datetime."""
    if at is None or conn.dialect.name != "sqlite":
        return at
    return at.astimezone(dt.UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


def _insert_records(
    conn: Connection, records: list[tuple[Any, ...]], columns: tuple[str, ...] = _RECORD_COLUMNS
) -> None:
    """Insert delivery records fast: the driver's own executemany with positional
    parameters (SQLAlchemy's per-row dicts cost more than the database for 1M rows)."""
    marks = {"qmark": "?", "format": "%s", "pyformat": "%s"}.get(conn.dialect.paramstyle)
    if marks is None:  # another driver: the portable, slower way
        rows = [dict(zip(columns, r, strict=True)) for r in records]
        for start in range(0, len(rows), _INSERT_CHUNK):
            conn.execute(deliveries.insert(), rows[start : start + _INSERT_CHUNK])
        return
    sql = (
        f"INSERT INTO {deliveries.name} ({', '.join(columns)}) "
        f"VALUES ({', '.join([marks] * len(columns))})"
    )
    for start in range(0, len(records), _INSERT_CHUNK):
        conn.exec_driver_sql(sql, records[start : start + _INSERT_CHUNK])
