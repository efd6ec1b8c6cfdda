"""Launching a campaign: start a run, or resume the unfinished one; send it batch by batch;
finish it.

A launch freezes the audience as a run (its members stored with the run), assigns every member
to the control or a variant (:mod:`portrait.campaigns.assignment`), suppresses users over the
frequency cap, and writes one delivery record per (campaign, run, user) in the same
transaction: ``control``, ``suppressed`` (with the reason) or ``pending``. Then batches are
sent (:mod:`portrait.campaigns.delivery`); launching again after a crash resumes the run
without sending anything twice or skipping anyone. One launch of a campaign runs at a time
(a lock file per campaign).
"""

from __future__ import annotations

import datetime as dt
import time
from zoneinfo import ZoneInfo

from portrait.campaigns import checks, lifecycle
from portrait.campaigns.channels import DeliveryFailed, open_channel
from portrait.campaigns.delivery import LaunchReport, Sender, start_run
from portrait.campaigns.inputs import Inputs
from portrait.campaigns.lifecycle import Lifecycle
from portrait.campaigns.planning import CapCheck, Plan, cap_reason, effective_cap, plan_run
from portrait.campaigns.templates import CompiledTemplates, compile_templates
from portrait.errors import CampaignError, InputError, PortraitError, suggest
from portrait.index.rows import ProfileRows
from portrait.model.campaigns import CampaignSpec, CampaignState, DeliveryState, RunState
from portrait.store.campaigns import CampaignRepository
from portrait.store.versions import workspace_lock

#: the state a :class:`LaunchReport` of ``launch_due`` shows for a campaign whose launch
#: failed (a report's word, not a campaign state: the campaign keeps its own)
LAUNCH_ERROR = "error"


class Launcher:
    """Launches campaigns (see the module docstring)."""

    def __init__(self, inputs: Inputs, repo: CampaignRepository, states: Lifecycle):
        self.inputs = inputs
        self.repo = repo
        self.states = states

    def launch(self, name: str, *, batch_limit: int | None = None) -> LaunchReport:
        """Run the campaign now, or resume its unfinished run. ``batch_limit`` stops after
        that many batches (the run stays resumable). A second launch of the same campaign
        fails at once instead of sending alongside."""
        lock = self.inputs.outbox.parent / "locks" / f"{name}.lock"
        checks.stored(self.repo, name)  # an unknown name is an error before any lock file
        with workspace_lock(lock, busy=f"campaign '{name}' is being launched by another process"):
            return self._launch(name, batch_limit)

    def launch_due(self) -> list[LaunchReport]:
        """Launch every campaign that is due: scheduled ones whose time has come and running
        ones with an unfinished run (resumed). A campaign that fails is reported and the
        others go on."""
        reports = []
        for row in self.repo.campaigns():
            if row.state not in (CampaignState.SCHEDULED, CampaignState.RUNNING):
                continue
            try:
                reports.append(self.launch(row.name))
            except PortraitError as exc:
                reports.append(
                    LaunchReport(row.name, 0, LAUNCH_ERROR, 0, 0, 0, 0, 0, 0.0, note=str(exc))
                )
        return reports

    def _launch(self, name: str, batch_limit: int | None) -> LaunchReport:
        started = time.perf_counter()
        row = checks.stored(self.repo, name)
        spec = CampaignSpec.model_validate_json(row.spec)
        state = CampaignState(row.state)
        if not lifecycle.launchable(state):
            raise InputError(f"campaign '{name}' is {state}; it cannot be launched again")
        now = self.inputs.clock()
        run = self.repo.open_run(name)
        if run is None:
            due = self._due(spec, now)
            if due is not None:
                self._schedule(name, f"next run at {due.isoformat()}")
                return LaunchReport(
                    name,
                    0,
                    CampaignState.SCHEDULED.value,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0.0,
                    note=f"scheduled: next run at {due.isoformat()}",
                )
            templates = checks.check(self.inputs, spec)
            checks.channel_ready(self.inputs, spec)
            rows = self._rows(spec, templates)
            members = self.inputs.audience(spec.audience).bitmap
            if len(members) == 0:
                raise InputError(f"the audience of campaign '{name}' is empty: nothing to send")
            capped = CapCheck(
                self.repo, spec.channel, effective_cap(spec, self.inputs.settings), now
            )
            plan = plan_run(spec, members, templates, rows, capped, render=False)
            run = self._start_run(spec, plan, state)
            before: dict[str, int] = {}
        else:  # resuming: the run's frozen audience
            templates = compile_templates(spec, self.inputs.tags, suggest=suggest)
            rows = self._rows(spec, templates)
            rows.restrict(self.repo.run_members(name, run))
            before = self.repo.delivery_counts(name, run)
        return self._deliver(spec, run, templates, rows, started, batch_limit, before)

    def _rows(self, spec: CampaignSpec, templates: CompiledTemplates) -> ProfileRows:
        """The profile's columns the messages need (the tags, the address), read once."""
        address = checks.channel_config(self.inputs, spec.channel).address_tag
        rows = ProfileRows(self.inputs.profile_file)
        rows.prefetch([*templates.tags, *([address] if address else [])])
        return rows

    def _schedule(self, name: str, detail: str) -> None:
        """Mark the campaign scheduled (already so: nothing to log)."""
        with self.repo.transaction() as tx:
            before = checks.stored(tx, name).state
            if before != CampaignState.SCHEDULED:
                self.states.move(tx, name, before, CampaignState.SCHEDULED, "schedule", detail)

    def _start_run(self, spec: CampaignSpec, plan: Plan, state: CampaignState) -> int:
        settings = self.inputs.settings
        cap = effective_cap(spec, settings)
        batch_size = checks.channel_config(self.inputs, spec.channel).batch_size or max(
            1, int(settings["campaigns.batch_size"])
        )
        with self.repo.transaction() as tx:
            run = start_run(
                tx,
                spec,
                plan,
                now=self.inputs.clock(),
                profile_version=self.inputs.profile_version,
                as_of=self.inputs.as_of,
                cap_reason=cap_reason(cap, spec.channel),
                batch_size=batch_size,
            )
            detail = ", ".join(f"{g.group} {g.users}" for g in plan.groups)
            if plan.srm.mismatch:
                detail += f"; sample ratio mismatch p={plan.srm.p_value:.2g}"
            self.states.move(
                tx, spec.name, state, CampaignState.RUNNING, "launch", f"run {run}: {detail}"
            )
        return run

    def _deliver(
        self,
        spec: CampaignSpec,
        run: int,
        templates: CompiledTemplates,
        rows: ProfileRows,
        started: float,
        batch_limit: int | None,
        before: dict[str, int],
    ) -> LaunchReport:
        settings = self.inputs.settings
        config = checks.channel_config(self.inputs, spec.channel)
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
            self.repo,
            spec,
            run,
            channel,
            templates,
            rows,
            address_tag=config.address_tag,
            rate_limit=min((r for r in (spec.rate_limit, config.rate_limit) if r), default=None),
            clock=self.inputs.clock,
            cancelled=lambda: checks.stored(self.repo, spec.name).state == CampaignState.CANCELLED,
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
        return self._finish(spec, run, started, note, before)

    def _batch_size(self, name: str, run: int) -> int:
        """The run's batch size, fixed when it started (so batches re-form alike)."""
        info = self.repo.run(name, run)
        return (info.batch_size if info is not None else 0) or 1

    def _finish(
        self, spec: CampaignSpec, run: int, started: float, note: str, before: dict[str, int]
    ) -> LaunchReport:
        """Close the run when nothing is open any more; the report of where it stands, with
        what this launch added to the run's records since ``before``."""
        with self.repo.transaction() as tx:
            counts = tx.delivery_counts(spec.name, run)
            still_open = counts.get(DeliveryState.PENDING, 0)
            info = tx.run(spec.name, run)
            state = CampaignState(checks.stored(tx, spec.name).state)
            if still_open == 0 and info is not None and info.state == RunState.RUNNING:
                tx.finish_run(spec.name, run, RunState.COMPLETED, self.inputs.clock())
                sent = counts.get(DeliveryState.SENT, 0)
                failed = counts.get(DeliveryState.FAILED, 0)
                final = lifecycle.after_run(
                    sent=sent, failed=failed, recurring=spec.schedule.kind == "cron"
                )
                self.states.move(
                    tx,
                    spec.name,
                    state,
                    final,
                    "complete",
                    f"run {run}: sent {sent}, failed {failed}",
                )
                state = final
        return LaunchReport(
            spec.name,
            run,
            state.value,
            counts.get(DeliveryState.SENT, 0),
            counts.get(DeliveryState.FAILED, 0),
            counts.get(DeliveryState.SUPPRESSED, 0),
            counts.get(DeliveryState.CONTROL, 0),
            still_open,
            round(time.perf_counter() - started, 3),
            note,
            added={
                outcome: max(counts.get(outcome, 0) - before.get(outcome, 0), 0)
                for outcome in (DeliveryState.SENT, DeliveryState.FAILED, DeliveryState.SUPPRESSED)
            },
        )

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

        last = self.repo.last_started(spec.name)
        if last is None:
            return None  # the first run of a recurring campaign starts at launch
        zone = ZoneInfo(spec.timezone)
        after = last.astimezone(zone).replace(tzinfo=None)
        due = next(iter(CronSim(str(schedule.cron), after))).replace(tzinfo=zone)
        return due if due > now else None
