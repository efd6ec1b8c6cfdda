"""``ws.campaigns``: campaigns as every surface runs them — permission checked, previews
masked, actions audited.

``ws.campaigns()`` gives the workspace's :class:`portrait.campaigns.Campaigns` (definitions,
dry runs, launches, reports) on the live profile version; the methods here are the same
actions for a caller.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from portrait.model.access import Caller

if TYPE_CHECKING:
    import pyarrow as pa

    from portrait.campaigns import Campaigns, LaunchReport
    from portrait.campaigns.experiment import Options
    from portrait.model.campaigns import CampaignSpec
    from portrait.workspace.root import Workspace


def report_options(given: Mapping[str, Any] | None) -> Options:
    """The report's options from their names (every surface passes them so); a bad name or
    value is an error naming it."""
    from portrait.campaigns.experiment import Options
    from portrait.errors import InputError

    known = set(Options.__dataclass_fields__)
    values = {k: v for k, v in (given or {}).items() if v is not None}
    unknown = sorted(set(values) - known)
    if unknown:
        raise InputError(
            f"unknown report option '{unknown[0]}'", hint="one of " + ", ".join(sorted(known))
        )
    try:
        return Options(**values)
    except (TypeError, ValueError) as exc:
        raise InputError(str(exc), where="report options") from None


class CampaignService:
    def __init__(self, ws: Workspace):
        self._ws = ws

    def __call__(
        self, *, clock: Any = None, actor: str | None = None, caller: Caller | None = None
    ) -> Campaigns:
        """Campaigns of this workspace (definitions, dry runs, launches, reports), on the
        live profile version. ``clock`` (a function giving an aware UTC datetime) and
        ``actor`` (who acts, for the change log) default to now and the OS user; audience
        rules are checked for ``caller`` (default: the workspace's; its actor is the
        change log's when ``actor`` is not given)."""
        from portrait.campaigns import Campaigns, Inputs

        ws = self._ws
        who = ws.who(caller)
        snap = ws.built
        warehouse = ws.built_warehouse()
        rollup = ws.selector().profile.rollup

        def check_audience(spec: str) -> None:
            text = spec.strip()
            if ws.audiences.is_segment(text):
                return
            if text.isidentifier():
                from portrait.audience.selector import no_such_segment

                problem = no_such_segment(text, ws.metadata)
                problem.where = "audience"
                raise problem
            ws.audiences.check_rule(text, who)

        extra: dict[str, Any] = {}
        if clock is not None:
            extra["clock"] = clock
        if actor is None and caller is not None:
            actor = caller.actor
        if actor is not None:
            extra["actor"] = actor
        return Campaigns(
            Inputs(
                store=ws.metadata,
                audience=ws.audiences.audience,
                check_audience=check_audience,
                profile_file=snap.profile_file,
                profile_version=snap.version,
                as_of=snap.as_of.isoformat() if snap.as_of else None,
                tags=list(snap.tags),
                channels=ws.config.channels,
                settings=ws.config,
                outbox=ws.layout.root / "campaigns" / "outbox",
                orders_files=warehouse.files("orders"),
                events_files=warehouse.files("events"),
                event_names=rollup.events if rollup is not None else [],
                pii_tags=ws.catalog.pii_tags,
                find_users=lambda ids: ws.user_index().find(list(ids)),
                **extra,
            )
        )

    def _for(self, caller: Caller | None, permission: str, action: str) -> tuple[Caller, Campaigns]:
        who = self._ws.access.permit(caller, permission, action)
        return who, self(caller=who)

    # -- reading -------------------------------------------------------------------------------
    def all(self, caller: Caller | None = None) -> list[dict[str, Any]]:
        """Every campaign with its state."""
        return self._for(caller, "campaigns:read", "read campaigns")[1].all()

    def show(self, name: str, caller: Caller | None = None) -> dict[str, Any]:
        """One campaign: definition, runs and change log."""
        return self._for(caller, "campaigns:read", "read campaigns")[1].show(name)

    def report(
        self,
        name: str,
        run: int | None = None,
        caller: Caller | None = None,
        *,
        options: Mapping[str, Any] | None = None,
        events: Sequence[str] = (),
        pre_days: int | None = None,
    ) -> dict[str, Any]:
        """The effect report of a run (default: the latest): the funnel per group, every
        metric for every pair, frequentist and Bayesian, CUPED, and sequential intervals
        when ``options`` ask (``level``, ``correction`` holm|bh|none, ``relative_interval``
        log|log-adjusted, ``sequential``, ``tuning``, ``cuped``, ``prior_sd``, ``power``;
        :class:`portrait.campaigns.experiment.Options`); ``events``: custom event rates
        to compare too; ``pre_days``: CUPED's pre-period (default 28)."""
        from portrait.campaigns.measure import PRE_DAYS

        campaigns = self._for(caller, "campaigns:read", "read campaigns")[1]
        return campaigns.report(
            name,
            run,
            options=report_options(options),
            events=events,
            pre_days=PRE_DAYS if pre_days is None else pre_days,
        )

    def dry_run(
        self,
        campaign: str | Mapping[str, Any] | CampaignSpec,
        *,
        samples: int = 3,
        caller: Caller | None = None,
    ) -> dict[str, Any]:
        """A campaign's dry run (by name, or a definition not stored) as ``caller`` may see
        it: sample messages rendered with personal data masked unless its role may see it
        (the channel still gets real values at send time); audited (who previewed which
        campaign, unmasked or not)."""
        who, campaigns = self._for(caller, "campaigns:write", "preview campaigns")
        unmask = who.sees_pii
        plan: dict[str, Any] = campaigns.dry_run(campaign, samples=samples, unmask=unmask).to_dict()
        action = "campaign:dry-run" + (":unmasked" if unmask else "")
        if isinstance(campaign, str):
            name = campaign
        else:
            name = str(campaign.get("name", "")) if isinstance(campaign, Mapping) else campaign.name
        self._ws.access.record(who, action, name, int(plan["audience"]))
        return plan

    def preview(
        self,
        audience: str,
        template: str,
        *,
        subject: str | None = None,
        samples: int = 3,
        caller: Caller | None = None,
    ) -> dict[str, Any]:
        """A template editor's live preview: ``template`` (and ``subject``) rendered for the
        first ``samples`` users of ``audience`` (a segment's name or a rule), personal data
        masked unless ``caller``'s role may see it; audited like a dry run (who previewed
        for which audience, unmasked or not)."""
        who, campaigns = self._for(caller, "campaigns:write", "preview campaigns")
        unmask = who.sees_pii
        shown = campaigns.preview(
            audience, template, subject=subject, samples=samples, unmask=unmask
        )
        action = "campaign:preview" + (":unmasked" if unmask else "")
        self._ws.access.record(who, action, audience, len(shown["samples"]))
        return shown

    # -- acting --------------------------------------------------------------------------------
    def create(
        self,
        definition: Mapping[str, Any] | CampaignSpec,
        *,
        replace: bool = False,
        source: str | None = None,
        caller: Caller | None = None,
    ) -> dict[str, Any]:
        """Store a campaign as a draft (a definition's problems name ``source``, the file it
        came from); audited."""
        from portrait.campaigns.service import parse_spec

        who, campaigns = self._for(caller, "campaigns:write", "create campaigns")
        spec = parse_spec(definition, where=source or "campaign")
        info = campaigns.create(spec, replace=replace)
        self._ws.access.record(who, "campaign:create", spec.name, 0)
        return info

    def launch(
        self, name: str, *, batch_limit: int | None = None, caller: Caller | None = None
    ) -> LaunchReport:
        """Send (or schedule) a campaign, or resume its run; audited with the messages sent.
        The report's ``added`` says what this call sent (for message metrics)."""
        who, campaigns = self._for(caller, "campaigns:write", "launch campaigns")
        report = campaigns.launch(name, batch_limit=batch_limit)
        self._ws.access.record(who, "campaign:launch", name, int(report.sent))
        return report

    @staticmethod
    def plan_size(
        baseline: float, effect: float, weights: Mapping[str, float], **more: Any
    ) -> dict[str, Any]:
        """How many users an experiment needs to find ``effect`` on ``baseline`` with the
        split ``weights`` (needs no workspace; :func:`portrait.campaigns.sizing.
        plan_sample_size`: ``relative``, ``sd``, ``alpha``, ``power``, ``correction``)."""
        from portrait.campaigns.sizing import plan_sample_size

        return plan_sample_size(baseline, effect, weights, **more)

    @staticmethod
    def parse_weights(text: str) -> dict[str, float]:
        """``control=10,A=45,B=45`` as a mapping; errors name the part that is wrong."""
        from portrait.campaigns.imports import parse_weights

        return parse_weights(text)

    @staticmethod
    def actions(state: str) -> dict[str, bool]:
        """What a campaign in ``state`` may still do: ``launch`` (start, schedule or resume
        a run) and ``cancel`` (the lifecycle's transition table decides)."""
        from portrait.campaigns.lifecycle import cancellable, launchable

        return {"launch": launchable(state), "cancel": cancellable(state)}

    def channel(self, name: str, caller: Caller | None = None) -> str:
        """The channel a campaign sends through."""
        return self._for(caller, "campaigns:read", "read campaigns")[1].spec(name).channel

    def channels(self, caller: Caller | None = None) -> list[str]:
        """The channels a campaign may send through: ``file`` (always there) and those
        configured as ``[channels.NAME]`` in portrait.toml."""
        from portrait.campaigns.checks import DEFAULT_CHANNEL

        self._ws.access.permit(caller, "campaigns:write", "create campaigns")
        return sorted({DEFAULT_CHANNEL, *self._ws.config.channels})

    def launch_due(self, caller: Caller | None = None) -> list[LaunchReport]:
        """Launch every campaign that is due (for cron); each launch audited."""
        who, campaigns = self._for(caller, "campaigns:write", "launch campaigns")
        reports = campaigns.launch_due()
        for report in reports:
            self._ws.access.record(who, "campaign:launch", report.campaign, int(report.sent))
        return reports

    def cancel(self, name: str, caller: Caller | None = None) -> dict[str, Any]:
        """Stop a campaign; audited."""
        who, campaigns = self._for(caller, "campaigns:write", "cancel campaigns")
        info = campaigns.cancel(name)
        self._ws.access.record(who, "campaign:cancel", name, 0)
        return info

    def import_experiment(
        self,
        name: str,
        assignments: Path | pa.Table,
        weights: Mapping[str, float],
        *,
        outcomes: Path | pa.Table | None = None,
        caller: Caller | None = None,
        **more: Any,
    ) -> dict[str, Any]:
        """Load an experiment run elsewhere: assignments (user_id, group, optional ts), the
        planned ``weights`` ({"control": 10, "A": 45, "B": 45}) and optional outcomes
        (events, or clicked / converted / revenue per user); audited with the users
        assigned. Other keywords: ``started_at``, ``attribution_days``,
        ``conversion_event``, ``metrics``, ``description``, ``replace``
        (:meth:`portrait.campaigns.Campaigns.import_experiment`)."""
        who, campaigns = self._for(caller, "campaigns:write", "import experiments")
        info = campaigns.import_experiment(name, assignments, weights, outcomes=outcomes, **more)
        self._ws.access.record(who, "campaign:import", name, sum(info["assigned"].values()))
        return info

    def record_responses(
        self, source: Path | pa.Table, caller: Caller | None = None
    ) -> dict[str, Any]:
        """Load response events (a file or an Arrow table); audited with the rows loaded."""
        who, campaigns = self._for(caller, "campaigns:write", "load campaign responses")
        loaded: dict[str, Any] = campaigns.record_responses(source).to_dict()
        self._ws.access.record(who, "campaign:responses", "", int(loaded["loaded"]))
        return loaded
