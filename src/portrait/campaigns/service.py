"""Campaigns: define, dry-run, launch (resumably, exactly once per user and run), cancel,
measure.

:class:`Campaigns` is the facade the workspace hands out. It keeps the definitions, the dry
run, cancelling, the report and the history here and delegates the rest: what is checked
(:mod:`portrait.campaigns.checks`), which state may follow which
(:mod:`portrait.campaigns.lifecycle`), launching (:mod:`portrait.campaigns.launch`), and
every query (:mod:`portrait.store.campaigns`).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
from pydantic import ValidationError
from pyroaring import BitMap

from portrait.campaigns import checks, lifecycle
from portrait.campaigns.checks import DEFAULT_CHANNEL
from portrait.campaigns.delivery import LaunchReport
from portrait.campaigns.experiment import Options
from portrait.campaigns.inputs import Inputs
from portrait.campaigns.launch import Launcher
from portrait.campaigns.lifecycle import Lifecycle
from portrait.campaigns.measure import PRE_DAYS, effect_report, load_responses, user_history
from portrait.campaigns.planning import CapCheck, Plan, effective_cap, plan_run
from portrait.campaigns.responses import ResponseReport, parse_rows, read_response_file
from portrait.campaigns.templates import CompiledTemplates
from portrait.errors import InputError
from portrait.index.rows import ProfileRows
from portrait.model.campaigns import CampaignSpec, CampaignState
from portrait.model.channels import ChannelConfig
from portrait.store.campaigns import CampaignRepository, CampaignRow
from portrait.store.manifest import read_manifest

__all__ = ["DEFAULT_CHANNEL", "Campaigns", "Inputs", "parse_spec"]


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


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment else None


def _sendable(spec: CampaignSpec) -> None:
    if spec.imported:
        raise InputError(
            f"campaign '{spec.name}' ran elsewhere (imported): it is reported on, never sent",
            hint=f"portrait campaign report {spec.name}",
        )


class Campaigns:
    """The campaigns of a workspace (see the module docstring)."""

    def __init__(self, inputs: Inputs):
        self.inputs = inputs
        self.store = inputs.store
        self.repo = CampaignRepository(inputs.store)
        self.states = Lifecycle(inputs.clock, inputs.actor)

    # -- definitions ------------------------------------------------------------------
    def channel_config(self, name: str) -> ChannelConfig:
        return checks.channel_config(self.inputs, name)

    def check(self, spec: CampaignSpec) -> CompiledTemplates:
        """Everything that can be checked before sending: the audience, the channel, the
        templates (against the built tags)."""
        return checks.check(self.inputs, spec)

    def check_cost(self, spec: CampaignSpec, templates: CompiledTemplates) -> None:
        """Refuse a template over a limit of what one message may cost, tried on the
        audience's first user (:func:`portrait.campaigns.checks.check_cost`)."""
        checks.check_cost(self.inputs, spec, templates)

    def pii_tags(self) -> frozenset[str]:
        """The personal-data tags (``pii: true``): those the built profile marks, and those
        :attr:`Inputs.pii_tags` names."""
        built = read_manifest(self.inputs.profile_file.parent).get("tags", {})
        marked = {name for name, meta in built.items() if meta.get("pii")}
        if self.inputs.pii_tags is not None:
            marked.update(self.inputs.pii_tags())
        return frozenset(marked)

    def create(
        self, data: Mapping[str, Any] | CampaignSpec, *, replace: bool = False
    ) -> dict[str, Any]:
        """Store a new campaign as a draft (``replace`` a draft of the same name). Refused
        when a check fails (:meth:`check`) or a template goes over a limit of what one
        message may cost (:meth:`check_cost`)."""
        spec = parse_spec(data)
        self.check_cost(spec, self.check(spec))
        now = self.inputs.clock()
        draft = CampaignState.DRAFT
        with self.repo.transaction() as tx:
            existing = tx.campaign(spec.name)
            if existing is not None:
                if not replace or existing.state != draft:
                    raise self._exists(existing)
                tx.delete_campaign(spec.name)
            if not tx.insert_campaign(spec.name, spec.model_dump_json(), draft, now):
                stored = tx.campaign(spec.name)  # another process stored it meanwhile
                assert stored is not None, "a campaign refused as stored must be there"
                raise self._exists(stored)
            action = "replace" if existing else "create"
            self.states.record(tx, spec.name, action, None, draft)
        return self.show(spec.name)

    @staticmethod
    def _exists(row: CampaignRow) -> InputError:
        state = row.state
        return InputError(
            f"campaign '{row.name}' already exists ({state})",
            hint="pick another name"
            + ("" if state != CampaignState.DRAFT else ", or --replace the draft"),
        )

    def names(self) -> list[str]:
        return self.repo.names()

    def spec(self, name: str) -> CampaignSpec:
        return CampaignSpec.model_validate_json(checks.stored(self.repo, name).spec)

    def state(self, name: str) -> str:
        return checks.stored(self.repo, name).state

    def all(self) -> list[dict[str, Any]]:
        out = []
        for row in self.repo.campaigns():
            spec = CampaignSpec.model_validate_json(row.spec)
            out.append(
                {
                    "name": row.name,
                    "state": row.state,
                    "channel": spec.channel,
                    "audience": spec.audience,
                    "groups": ", ".join(f"{g} {p:g}%" for g, p in spec.groups),
                    "updated_at": row.updated_at.isoformat(timespec="seconds"),
                }
            )
        return out

    def show(self, name: str) -> dict[str, Any]:
        """The definition, state, runs (with delivery counts) and the change log."""
        with self.repo.snapshot() as view:
            row = checks.stored(view, name)
            runs = view.runs(name)
            by_run = view.delivery_counts_by_run(name)
            log = view.events(name)
        return {
            "name": name,
            "state": row.state,
            "spec": json.loads(row.spec),
            "created_at": _iso(row.created_at),
            "updated_at": _iso(row.updated_at),
            "runs": [
                {
                    "run": r.run,
                    "state": r.state,
                    "started_at": _iso(r.started_at),
                    "finished_at": _iso(r.finished_at),
                    "audience_size": r.audience_size,
                    "profile_version": r.profile_version,
                    "deliveries": by_run.get(r.run, {}),
                }
                for r in runs
            ],
            "log": [
                {
                    "at": _iso(e.at),
                    "actor": e.actor,
                    "action": e.action,
                    "from": e.from_state,
                    "to": e.to_state,
                    "detail": e.detail,
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
        _sendable(spec)
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

    def preview(
        self,
        audience: str,
        template: str,
        *,
        subject: str | None = None,
        samples: int = 3,
        unmask: bool = False,
    ) -> dict[str, Any]:
        """One template (and subject) rendered for the first ``samples`` users of
        ``audience``, checked as :meth:`create` checks it, personal data masked unless
        ``unmask`` (:func:`portrait.campaigns.preview.preview_template`); stores nothing."""
        from portrait.campaigns.preview import preview_template

        return preview_template(
            self.inputs,
            audience,
            template,
            subject=subject,
            samples=samples,
            masked=frozenset() if unmask else self.pii_tags(),
        )

    # -- launching ------------------------------------------------------------------
    def launch(self, name: str, *, batch_limit: int | None = None) -> LaunchReport:
        """Run the campaign now, or resume its unfinished run. ``batch_limit`` stops after
        that many batches (the run stays resumable; used to pace and in tests). One launch of
        a campaign at a time: a second one fails at once instead of sending alongside."""
        _sendable(self.spec(name))
        return self._launcher().launch(name, batch_limit=batch_limit)

    def launch_due(self) -> list[LaunchReport]:
        """Launch every campaign that is due: scheduled ones whose time has come and running
        ones with an unfinished run (resumed). For a crontab line such as ``* * * * *
        portrait campaign due``. A campaign that fails is reported and the others go on."""
        return self._launcher().launch_due()

    def cancel(self, name: str) -> dict[str, Any]:
        """Stop the campaign: no further batches go out; a finished one stays as it is."""
        state = checks.stored(self.repo, name).state
        if not lifecycle.cancellable(state):
            raise InputError(f"campaign '{name}' is already {state}")
        with self.repo.transaction() as tx:
            tx.cancel_runs(name, self.inputs.clock())
            self.states.move(tx, name, state, CampaignState.CANCELLED, "cancel")
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
        return load_responses(self.repo, rows, report, set(self.names()))

    def report(
        self,
        name: str,
        run: int | None = None,
        *,
        options: Options | None = None,
        events: Sequence[str] = (),
        pre_days: int = PRE_DAYS,
    ) -> dict[str, Any]:
        """The effect of a run (default: the latest): per group the funnel, CTR, CVR, revenue,
        cost, ROI and uplift against the control; the sample ratio check; every metric
        (and the rates of ``events``) compared for every pair of groups, frequentist and
        Bayesian, with CUPED over the ``pre_days`` before the run and, when ``options`` ask,
        sequential intervals (:mod:`portrait.campaigns.experiment`); a verdict per metric."""
        if pre_days < 1 or pre_days > 366:
            raise InputError(f"the pre-period is 1 to 366 days, not {pre_days}", where="pre_days")
        checks.check_events(self.inputs, events, "--metric")
        return effect_report(
            self.repo,
            self.spec(name),
            run,
            self.inputs.orders_files,
            self.inputs.events_files,
            options=options,
            events=events,
            pre_days=pre_days,
            find_users=self.inputs.find_users,
        )

    def import_experiment(
        self,
        name: str,
        assignments: Path | pa.Table,
        weights: Mapping[str, float],
        *,
        outcomes: Path | pa.Table | None = None,
        started_at: dt.datetime | None = None,
        attribution_days: int = 7,
        conversion_event: str | None = None,
        metrics: Sequence[str] = (),
        description: str = "",
        replace: bool = False,
    ) -> dict[str, Any]:
        """Load an experiment run elsewhere (:mod:`portrait.campaigns.imports`): its
        assignments, the planned ``weights`` and, optionally, its outcomes; stored completed
        in one transaction, then reported like any campaign (:meth:`report`). The run starts
        at ``started_at`` (default: the first assignment time, else now)."""
        from portrait.campaigns import imports

        if self.inputs.find_users is None:
            raise InputError("this workspace cannot look up users (no built profile)")
        spec = imports.imported_spec(
            name,
            weights,
            attribution_days=attribution_days,
            conversion_event=conversion_event,
            metrics=metrics,
            description=description,
        )
        checks.check_events(self.inputs, spec.metrics, "--metric")
        if spec.conversion_event:
            checks.check_events(self.inputs, [spec.conversion_event], "--conversion-event")
        groups = [g for g, _ in spec.groups]
        table, label = imports.read_table(assignments, "assignments")
        fallback = started_at or self.inputs.clock()
        assigned, repeated = imports.read_assignments(
            table, label, groups, self.inputs.find_users, fallback
        )
        if started_at is None and table.num_rows and "ts" in table.column_names:
            started_at = min(a.at for a in assigned)
        start = started_at or fallback
        found: list[imports.Outcome] = []
        if outcomes is not None:
            outcome_table, outcome_label = imports.read_table(outcomes, "outcomes")
            found = imports.read_outcomes(
                outcome_table, outcome_label, {a.user_id: a for a in assigned}
            )
        run = imports.store_import(
            self.repo,
            self.states,
            spec,
            assigned,
            found,
            started_at=start,
            profile_version=self.inputs.profile_version,
            as_of=self.inputs.as_of,
            replace=replace,
        )
        sizes = dict.fromkeys(groups, 0)
        for a in assigned:
            sizes[a.group] += 1
        outcome_counts: dict[str, int] = {}
        for o in found:
            outcome_counts[o.response] = outcome_counts.get(o.response, 0) + 1
        return {
            "campaign": name,
            "run": run,
            "started_at": _iso(start),
            "assigned": sizes,
            "repeated_rows": repeated,
            "outcomes": outcome_counts,
        }

    def history(self, uid: int) -> list[dict[str, Any]]:
        """A user's campaigns: run, group (variant or control), delivery state, responses."""
        return user_history(self.repo, uid)

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
        return BitMap(self.repo.members(name, outcome))

    # -- internals ------------------------------------------------------------------
    def _launcher(self) -> Launcher:
        return Launcher(self.inputs, self.repo, self.states)

    def _cap_check(self, spec: CampaignSpec) -> CapCheck:
        cap = effective_cap(spec, self.inputs.settings)
        return CapCheck(self.repo, spec.channel, cap, self.inputs.clock())
