"""Campaigns: define, dry-run, launch (resumably, exactly once per user and run), cancel.

A launch freezes the audience as a run (its members stored with the run), assigns every member
to the control or a variant (:mod:`portrait.campaigns.assignment`), suppresses users over the
frequency cap, and writes one delivery record per (campaign, run, user) in the same
transaction: ``control``, ``suppressed`` (with the reason) or ``pending``. Then batches are
sent (:mod:`portrait.campaigns.delivery`); launching again after a crash resumes the run
without sending anything twice or skipping anyone.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
from pydantic import TypeAdapter, ValidationError
from pyroaring import BitMap
from sqlalchemy import func, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from portrait.campaigns.channels import DeliveryFailed, open_channel
from portrait.campaigns.delivery import LaunchReport, Sender, delivery_counts, start_run
from portrait.campaigns.measure import effect_report, load_responses, user_history, utc
from portrait.campaigns.planning import CapCheck, Plan, cap_reason, effective_cap, plan_run
from portrait.campaigns.responses import ResponseReport, parse_rows, read_response_file
from portrait.campaigns.rows import ProfileRows, one_row
from portrait.campaigns.templates import CompiledTemplates, compile_templates
from portrait.errors import (
    CampaignError,
    InputError,
    NotFoundError,
    PortraitError,
    TemplateLimitError,
    suggest,
)
from portrait.model.campaigns import CampaignSpec
from portrait.model.channels import ChannelConfig, FileChannel
from portrait.store.manifest import read_manifest
from portrait.store.metadata import (
    MetadataStore,
    campaign_events,
    campaign_runs,
    campaigns,
    deliveries,
)
from portrait.store.versions import workspace_lock

DEFAULT_CHANNEL = "file"
FINISHED = ("completed", "cancelled", "failed")


@dataclass(frozen=True)
class Inputs:
    """What campaigns need from the workspace."""

    store: MetadataStore
    audience: Callable[[str], Any]  # a segment name or rule → something with .bitmap
    check_audience: Callable[[str], None]
    profile_file: Path
    profile_version: str
    as_of: str | None
    tags: Sequence[str]  # built tags usable in templates
    channels: Mapping[str, Mapping[str, Any]]
    settings: Mapping[str, Any]
    outbox: Path
    orders_files: Sequence[Path] = ()
    events_files: Sequence[Path] = ()
    event_names: Sequence[str] = ()  # the events there are (for conversion_event)
    clock: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.UTC))
    actor: str = field(default_factory=lambda: _default_actor())
    #: the tags marked ``pii: true`` (e.g. in their definitions since the build); those the
    #: built profile marks are always counted too (:meth:`Campaigns.pii_tags`)
    pii_tags: Callable[[], Iterable[str]] | None = None


def _default_actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in containers without /etc/passwd entries
        return "unknown"


def parse_spec(data: Mapping[str, Any] | CampaignSpec, where: str = "campaign") -> CampaignSpec:
    """A checked campaign definition; errors name the field."""
    if isinstance(data, CampaignSpec):
        return data
    try:
        return CampaignSpec.model_validate(dict(data))
    except ValidationError as exc:
        problem = exc.errors()[0]
        location = ".".join(str(p) for p in problem["loc"]) or "campaign"
        message = str(problem["msg"]).removeprefix("Value error, ")
        raise InputError(f"{location}: {message}", where=where) from None


class Campaigns:
    """The campaigns of a workspace (see the module docstring)."""

    def __init__(self, inputs: Inputs):
        self.inputs = inputs
        self.store = inputs.store

    # -- definitions ------------------------------------------------------------------
    def channel_config(self, name: str) -> Any:
        raw = self.inputs.channels.get(name)
        if raw is None:
            if name == DEFAULT_CHANNEL:
                return FileChannel()
            known = sorted({*self.inputs.channels, DEFAULT_CHANNEL})
            raise InputError(
                f"no channel named '{name}'",
                where="channel",
                hint=suggest(name, known) or "channels: " + ", ".join(known),
            )
        try:
            return TypeAdapter(ChannelConfig).validate_python(raw)
        except ValidationError as exc:
            problem = exc.errors()[0]
            location = ".".join(str(p) for p in problem["loc"])
            raise InputError(
                f"channel '{name}': {location}: {problem['msg']}",
                where=f"portrait.toml [channels.{name}]",
                hint="see docs/campaigns.md#channels",
            ) from None

    def check(self, spec: CampaignSpec) -> CompiledTemplates:
        """Everything that can be checked before sending: the audience, the channel, the
        templates (against the built tags)."""
        self.inputs.check_audience(spec.audience)
        config = self.channel_config(spec.channel)
        templates = compile_templates(spec, self.inputs.tags, suggest=suggest)
        if spec.conversion_event and spec.conversion_event not in self.inputs.event_names:
            raise InputError(
                f"no event named '{spec.conversion_event}'",
                where="conversion_event",
                hint=suggest(spec.conversion_event, self.inputs.event_names) or None,
            )
        if config.address_tag and config.address_tag not in self.inputs.tags:
            raise InputError(
                f"channel '{spec.channel}' reads addresses from tag '{config.address_tag}', "
                "which is not built",
                where=f"portrait.toml [channels.{spec.channel}]",
            )
        return templates

    def pii_tags(self) -> frozenset[str]:
        """The personal-data tags (``pii: true``): those the built profile marks, and those
        :attr:`Inputs.pii_tags` names."""
        built = read_manifest(self.inputs.profile_file.parent).get("tags", {})
        marked = {name for name, meta in built.items() if meta.get("pii")}
        if self.inputs.pii_tags is not None:
            marked.update(self.inputs.pii_tags())
        return frozenset(marked)

    def check_cost(self, spec: CampaignSpec, templates: CompiledTemplates) -> None:
        """Render every variant for the audience's first user (or, for an empty audience, a
        user without values): a template over a limit of what one message may cost
        (:mod:`portrait.campaigns.limits`) is refused now rather than failing every user at
        send time. Other render errors depend on the user; the dry run reports them."""
        members = self.inputs.audience(spec.audience).bitmap
        if len(members):
            user = one_row(self.inputs.profile_file, int(members.min()), templates.tags)
            who = f"the audience's first user ({user['user_id']})"
        else:
            user = {"user_id": "", **dict.fromkeys(templates.tags)}
            who = "a user without values (the audience is empty now)"
        for variant in spec.variants:
            try:
                templates.render(variant.name, user)
            except TemplateLimitError as exc:
                raise TemplateLimitError(
                    exc.message,
                    where=exc.where,
                    hint=f"templates are tried on {who} when a campaign is created; make "
                    "the loops, ranges or texts smaller",
                    kind=exc.kind,
                ) from None
            except Exception:  # noqa: S112 (per-user errors are the dry run's to report)
                continue

    def create(
        self, data: Mapping[str, Any] | CampaignSpec, *, replace: bool = False
    ) -> dict[str, Any]:
        """Store a new campaign as a draft (``replace`` a draft of the same name). Refused
        when a check fails (:meth:`check`) or a template goes over a limit of what one
        message may cost (:meth:`check_cost`)."""
        spec = parse_spec(data)
        self.check_cost(spec, self.check(spec))
        now = self.inputs.clock()
        try:
            with self.store.transaction() as conn:
                existing = self._row(conn, spec.name)
                if existing is not None:
                    if not replace or existing["state"] != "draft":
                        raise self._exists(existing)
                    conn.execute(campaigns.delete().where(campaigns.c.name == spec.name))
                conn.execute(
                    campaigns.insert().values(
                        name=spec.name,
                        spec=spec.model_dump_json(),
                        state="draft",
                        created_at=now,
                        updated_at=now,
                    )
                )
                self._event(conn, spec.name, "replace" if existing else "create", None, "draft")
        except IntegrityError:
            with self.store.engine.connect() as conn:
                existing = self._row(conn, spec.name)
            if existing is None:
                raise
            raise self._exists(existing) from None  # another process stored it meanwhile
        return self.show(spec.name)

    @staticmethod
    def _exists(row: Mapping[str, Any]) -> InputError:
        state = row["state"]
        return InputError(
            f"campaign '{row['name']}' already exists ({state})",
            hint="pick another name" + ("" if state != "draft" else ", or --replace the draft"),
        )

    def names(self) -> list[str]:
        with self.store.engine.connect() as conn:
            return list(conn.execute(select(campaigns.c.name).order_by(campaigns.c.name)).scalars())

    def spec(self, name: str) -> CampaignSpec:
        with self.store.engine.connect() as conn:
            row = self._row(conn, name)
        if row is None:
            raise self._missing(name)
        return CampaignSpec.model_validate_json(row["spec"])

    def state(self, name: str) -> str:
        with self.store.engine.connect() as conn:
            row = self._row(conn, name)
        if row is None:
            raise self._missing(name)
        return str(row["state"])

    def all(self) -> list[dict[str, Any]]:
        with self.store.engine.connect() as conn:
            rows = conn.execute(select(campaigns).order_by(campaigns.c.name)).mappings().all()
        out = []
        for row in rows:
            spec = CampaignSpec.model_validate_json(row["spec"])
            out.append(
                {
                    "name": row["name"],
                    "state": row["state"],
                    "channel": spec.channel,
                    "audience": spec.audience,
                    "groups": ", ".join(f"{g} {p:g}%" for g, p in spec.groups),
                    "updated_at": utc(row["updated_at"]).isoformat(timespec="seconds"),
                }
            )
        return out

    def show(self, name: str) -> dict[str, Any]:
        """The definition, state, runs (with delivery counts) and the change log."""
        with self.store.engine.connect() as conn:
            row = self._row(conn, name)
            if row is None:
                raise self._missing(name)
            runs = (
                conn.execute(
                    select(*[c for c in campaign_runs.c if c.name != "members"])
                    .where(campaign_runs.c.campaign == name)
                    .order_by(campaign_runs.c.run)
                )
                .mappings()
                .all()
            )
            counts = conn.execute(
                select(deliveries.c.run, deliveries.c.state, func.count())
                .where(deliveries.c.campaign == name)
                .group_by(deliveries.c.run, deliveries.c.state)
            ).all()
            log = (
                conn.execute(
                    select(campaign_events)
                    .where(campaign_events.c.campaign == name)
                    .order_by(campaign_events.c.id)
                )
                .mappings()
                .all()
            )
        by_run: dict[int, dict[str, int]] = {}
        for run, state, n in counts:
            by_run.setdefault(int(run), {})[str(state)] = int(n)
        return {
            "name": name,
            "state": row["state"],
            "spec": json.loads(row["spec"]),
            "created_at": utc(row["created_at"]).isoformat(timespec="seconds"),
            "updated_at": utc(row["updated_at"]).isoformat(timespec="seconds"),
            "runs": [
                {
                    "run": r["run"],
                    "state": r["state"],
                    "started_at": utc(r["started_at"]).isoformat(timespec="seconds"),
                    "finished_at": utc(r["finished_at"]).isoformat(timespec="seconds")
                    if r["finished_at"]
                    else None,
                    "audience_size": r["audience_size"],
                    "profile_version": r["profile_version"],
                    "deliveries": by_run.get(int(r["run"]), {}),
                }
                for r in runs
            ],
            "log": [
                {
                    "at": utc(e["at"]).isoformat(timespec="seconds"),
                    "actor": e["actor"],
                    "action": e["action"],
                    "from": e["from_state"],
                    "to": e["to_state"],
                    "detail": e["detail"],
                }
                for e in log
            ],
        }

    def dry_run(
        self,
        name_or_spec: str | Mapping[str, Any] | CampaignSpec,
        *,
        samples: int = 3,
        unmask: bool = False,
    ) -> Plan:
        """Sizes per group, cap suppressions, rendered samples and render errors; sends
        nothing and changes nothing. ``unmask``: the caller may see personal data; without
        it the values of ``pii`` tags reach the templates of samples and shown errors masked
        (``138****5678``). Whether a caller may is decided by the caller's role, not here."""
        spec = (
            self.spec(name_or_spec) if isinstance(name_or_spec, str) else parse_spec(name_or_spec)
        )
        templates = self.check(spec)
        members = self.inputs.audience(spec.audience).bitmap
        return plan_run(
            spec,
            members,
            templates,
            ProfileRows(self.inputs.profile_file),
            self._cap_check(spec),
            render=True,
            samples=samples,
            masked=frozenset() if unmask else self.pii_tags(),
        )

    # -- launching ------------------------------------------------------------------
    def launch(self, name: str, *, batch_limit: int | None = None) -> LaunchReport:
        """Run the campaign now, or resume its unfinished run. ``batch_limit`` stops after
        that many batches (the run stays resumable; used to pace and in tests). One launch of
        a campaign at a time: a second one fails at once instead of sending alongside."""
        lock = self.inputs.outbox.parent / "locks" / f"{name}.lock"
        self.spec(name)  # an unknown name is an error before any lock file is made
        with workspace_lock(lock, busy=f"campaign '{name}' is being launched by another process"):
            return self._launch(name, batch_limit)

    def _launch(self, name: str, batch_limit: int | None) -> LaunchReport:

        started = time.perf_counter()
        spec = self.spec(name)
        state = self.state(name)
        if state in ("completed", "cancelled"):
            raise InputError(f"campaign '{name}' is {state}; it cannot be launched again")
        now = self.inputs.clock()
        run = self._open_run(name)
        if run is None:
            due = self._due(spec, now)
            if due is not None:
                self._set_state(name, "scheduled", f"next run at {due.isoformat()}")
                return LaunchReport(
                    name,
                    0,
                    "scheduled",
                    0,
                    0,
                    0,
                    0,
                    0,
                    0.0,
                    note=f"scheduled: next run at {due.isoformat()}",
                )
            templates = self.check(spec)
            self._channel_ready(spec)
            address = self.channel_config(spec.channel).address_tag
            rows = ProfileRows(self.inputs.profile_file)
            rows.prefetch([*templates.tags, *([address] if address else [])])
            members = self.inputs.audience(spec.audience).bitmap
            if len(members) == 0:
                raise InputError(f"the audience of campaign '{name}' is empty: nothing to send")
            plan = plan_run(spec, members, templates, rows, self._cap_check(spec), render=False)
            run = self._start_run(spec, plan, state)
        else:  # resuming: the run's frozen audience
            templates = compile_templates(spec, self.inputs.tags, suggest=suggest)
            address = self.channel_config(spec.channel).address_tag
            rows = ProfileRows(self.inputs.profile_file)
            rows.prefetch([*templates.tags, *([address] if address else [])])
            rows.restrict(self._run_members(name, run))
        return self._deliver(spec, run, templates, rows, started, batch_limit)

    def launch_due(self) -> list[LaunchReport]:
        """Launch every campaign that is due: scheduled ones whose time has come and running
        ones with an unfinished run (resumed). For a crontab line such as ``* * * * *
        portrait campaign due``. A campaign that fails is reported and the others go on."""
        reports = []
        for row in self.all():
            if row["state"] not in ("scheduled", "running"):
                continue
            try:
                reports.append(self.launch(row["name"]))
            except PortraitError as exc:
                reports.append(
                    LaunchReport(row["name"], 0, "error", 0, 0, 0, 0, 0, 0.0, note=str(exc))
                )
        return reports

    def cancel(self, name: str) -> dict[str, Any]:
        """Stop the campaign: no further batches go out; a finished one stays as it is."""
        state = self.state(name)
        if state in FINISHED:
            raise InputError(f"campaign '{name}' is already {state}")
        with self.store.transaction() as conn:
            conn.execute(
                campaign_runs.update()
                .where(campaign_runs.c.campaign == name, campaign_runs.c.state == "running")
                .values(state="cancelled", finished_at=self.inputs.clock())
            )
            self._transition(conn, name, state, "cancelled", "cancel")
        return self.show(name)

    # -- responses and effect -------------------------------------------------------
    def record_responses(self, source: Path | pa.Table) -> ResponseReport:
        """Load response events (a file or an Arrow table): each tied to the campaign and to
        the user's latest run; duplicates counted once; rows for unknown campaigns, users not
        sent to, or malformed ones are rejected with the reason. One transaction."""
        label = str(source) if isinstance(source, Path) else "responses"
        table = read_response_file(source) if isinstance(source, Path) else source
        report = ResponseReport(label)
        rows = parse_rows(table, report)
        return load_responses(self.store, rows, report, set(self.names()))

    def report(self, name: str, run: int | None = None) -> dict[str, Any]:
        """The effect of a run (default: the latest): per group the funnel, CTR, CVR, revenue,
        cost, ROI and uplift against the control with its interval and p-value; the sample
        ratio check; a plain-language verdict (:mod:`portrait.campaigns.effect`)."""
        return effect_report(
            self.store, self.spec(name), run, self.inputs.orders_files, self.inputs.events_files
        )

    def history(self, uid: int) -> list[dict[str, Any]]:
        """A user's campaigns: run, group (variant or control), delivery state, responses."""
        return user_history(self.store, uid)

    def members(self, name: str, outcome: str) -> BitMap:
        """The users of a campaign (all its runs) with an outcome (``targeted``, ``control``,
        ``sent``, ``delivered``, ``opened``, ``clicked``, ``converted``, ``not_converted``);
        the rule leaf ``campaign("NAME", "clicked")`` selects the same users."""
        from portrait.model.rules import CAMPAIGN_OUTCOMES

        self.spec(name)  # the campaign must exist
        if outcome not in CAMPAIGN_OUTCOMES:
            raise InputError(
                f"unknown campaign outcome '{outcome}'",
                hint="one of " + ", ".join(CAMPAIGN_OUTCOMES),
            )
        return BitMap(self.store.campaign_members(name, outcome))

    # -- internals ------------------------------------------------------------------
    def _channel_ready(self, spec: CampaignSpec) -> None:
        """What the channel needs from the environment is there before a run starts."""
        config = self.channel_config(spec.channel)
        for variable in ("secret_env", "username_env", "password_env"):
            name = getattr(config, variable, None)
            if name and not os.environ.get(name):
                raise InputError(
                    f"channel '{spec.channel}' needs the environment variable {name} "
                    f"({variable.removesuffix('_env')}), which is not set",
                    where=f"portrait.toml [channels.{spec.channel}]",
                    hint="set it, then launch again; nothing has been sent",
                )

    def _start_run(self, spec: CampaignSpec, plan: Plan, state: str) -> int:
        cap = effective_cap(spec, self.inputs.settings)
        with self.store.transaction() as conn:
            run = start_run(
                conn,
                spec,
                plan,
                now=self.inputs.clock(),
                profile_version=self.inputs.profile_version,
                as_of=self.inputs.as_of,
                cap_reason=cap_reason(cap, spec.channel),
                batch_size=self.channel_config(spec.channel).batch_size
                or max(1, int(self.inputs.settings["campaigns.batch_size"])),
            )
            detail = ", ".join(f"{g.group} {g.users}" for g in plan.groups)
            if plan.srm.mismatch:
                detail += f"; sample ratio mismatch p={plan.srm.p_value:.2g}"
            self._transition(conn, spec.name, state, "running", "launch", f"run {run}: {detail}")
        return run

    def _deliver(
        self,
        spec: CampaignSpec,
        run: int,
        templates: CompiledTemplates,
        rows: ProfileRows,
        started: float,
        batch_limit: int | None,
    ) -> LaunchReport:
        settings = self.inputs.settings
        config = self.channel_config(spec.channel)
        try:
            channel = open_channel(
                spec.channel,
                config,
                outbox=self.inputs.outbox,
                attempts=int(settings["campaigns.attempts"]),
            )
        except DeliveryFailed as exc:
            raise CampaignError(
                str(exc),
                hint=f"fix the channel, then 'portrait campaign launch {spec.name}' resumes it",
            ) from None
        sender = Sender(
            self.store,
            spec,
            run,
            channel,
            templates,
            rows,
            address_tag=config.address_tag,
            rate_limit=min((r for r in (spec.rate_limit, config.rate_limit) if r), default=None),
            clock=self.inputs.clock,
            cancelled=lambda: self.state(spec.name) == "cancelled",
        )
        try:
            note = sender.send_all(self._batch_size(spec.name, run), batch_limit)
        except DeliveryFailed as exc:
            raise CampaignError(
                f"campaign '{spec.name}' run {run} stopped: {exc}",
                hint=f"nothing is lost: 'portrait campaign launch {spec.name}' resumes it",
            ) from None
        finally:
            channel.close()
        return self._finish(spec, run, started, note)

    def _finish(self, spec: CampaignSpec, run: int, started: float, note: str) -> LaunchReport:
        """Close the run when nothing is open any more; the report of where it stands."""
        with self.store.transaction() as conn:
            counts = delivery_counts(conn, spec.name, run)
            still_open = counts.get("pending", 0)
            run_state = conn.execute(
                select(campaign_runs.c.state).where(
                    campaign_runs.c.campaign == spec.name, campaign_runs.c.run == run
                )
            ).scalar()
            row = self._row(conn, spec.name)
            assert row is not None
            state = str(row["state"])
            if still_open == 0 and run_state == "running":
                conn.execute(
                    campaign_runs.update()
                    .where(campaign_runs.c.campaign == spec.name, campaign_runs.c.run == run)
                    .values(state="completed", finished_at=self.inputs.clock())
                )
                if counts.get("sent", 0) == 0 and counts.get("failed", 0) > 0:
                    final = "failed"  # every message failed (refused, unrenderable)
                elif spec.schedule.kind == "cron":
                    final = "scheduled"
                else:
                    final = "completed"
                detail = (
                    f"run {run}: sent {counts.get('sent', 0)}, failed {counts.get('failed', 0)}"
                )
                self._transition(conn, spec.name, state, final, "complete", detail)
                state = final
        return LaunchReport(
            spec.name,
            run,
            state,
            counts.get("sent", 0),
            counts.get("failed", 0),
            counts.get("suppressed", 0),
            counts.get("control", 0),
            still_open,
            round(time.perf_counter() - started, 3),
            note,
        )

    def _batch_size(self, name: str, run: int) -> int:
        with self.store.engine.connect() as conn:
            size = conn.execute(
                select(campaign_runs.c.batch_size).where(
                    campaign_runs.c.campaign == name, campaign_runs.c.run == run
                )
            ).scalar()
        return int(size or 1)

    def _run_members(self, name: str, run: int) -> np.ndarray:
        with self.store.engine.connect() as conn:
            blob = conn.execute(
                select(campaign_runs.c.members).where(
                    campaign_runs.c.campaign == name, campaign_runs.c.run == run
                )
            ).scalar()
        assert blob is not None, f"run {run} of campaign '{name}' has no members"
        return np.asarray(BitMap.deserialize(blob).to_array(), dtype=np.int64)

    def _open_run(self, name: str) -> int | None:
        with self.store.engine.connect() as conn:
            run = conn.execute(
                select(campaign_runs.c.run).where(
                    campaign_runs.c.campaign == name, campaign_runs.c.state == "running"
                )
            ).scalar()
        return None if run is None else int(run)

    def _due(self, spec: CampaignSpec, now: dt.datetime) -> dt.datetime | None:
        """When the next run is due if that is later than ``now``, else None (run now)."""
        schedule = spec.schedule
        if schedule.kind == "now":
            return None
        if schedule.kind == "at":
            at = schedule.at
            assert at is not None
            if at.tzinfo is None:
                at = at.replace(tzinfo=ZoneInfo(spec.timezone))
            return at if at > now else None
        from cronsim import CronSim

        with self.store.engine.connect() as conn:
            last = conn.execute(
                select(func.max(campaign_runs.c.started_at)).where(
                    campaign_runs.c.campaign == spec.name
                )
            ).scalar()
        zone = ZoneInfo(spec.timezone)
        if last is None:
            return None  # the first run of a recurring campaign starts at launch
        after = utc(last).astimezone(zone).replace(tzinfo=None)
        due = next(iter(CronSim(str(schedule.cron), after))).replace(tzinfo=zone)
        return due if due > now else None

    def _cap_check(self, spec: CampaignSpec) -> CapCheck:
        cap = effective_cap(spec, self.inputs.settings)
        return CapCheck(self.store, spec.channel, cap, self.inputs.clock())

    def _row(self, conn: Connection, name: str) -> dict[str, Any] | None:
        row = conn.execute(select(campaigns).where(campaigns.c.name == name)).mappings().first()
        return dict(row) if row else None

    def _missing(self, name: str) -> NotFoundError:
        return NotFoundError(
            f"no campaign named '{name}'",
            hint=suggest(name, self.names()) or "see 'portrait campaign list'",
        )

    def _event(
        self,
        conn: Connection,
        name: str,
        action: str,
        before: str | None,
        after: str | None,
        detail: str = "",
    ) -> None:
        conn.execute(
            campaign_events.insert().values(
                campaign=name,
                at=self.inputs.clock(),
                actor=self.inputs.actor,
                action=action,
                from_state=before,
                to_state=after,
                detail=detail,
            )
        )

    def _transition(
        self, conn: Connection, name: str, before: str, after: str, action: str, detail: str = ""
    ) -> None:
        conn.execute(
            campaigns.update()
            .where(campaigns.c.name == name)
            .values(state=after, updated_at=self.inputs.clock())
        )
        self._event(conn, name, action, before, after, detail)

    def _set_state(self, name: str, after: str, detail: str = "") -> None:
        with self.store.transaction() as conn:
            before = self._row(conn, name)["state"]  # type: ignore[index]
            if before != after:
                self._transition(conn, name, before, after, "schedule", detail)
