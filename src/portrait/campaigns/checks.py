"""What is checked before a campaign is stored or sent: that it exists, its channel's
configuration and environment, its audience, templates and conversion event, and what one
message may cost."""

from __future__ import annotations

import os
from collections.abc import Sequence

from pydantic import TypeAdapter, ValidationError

from portrait.campaigns.inputs import Inputs
from portrait.campaigns.templates import CompiledTemplates, compile_templates
from portrait.errors import InputError, NotFoundError, TemplateLimitError, suggest
from portrait.index.rows import one_row
from portrait.model.campaigns import CampaignSpec
from portrait.model.channels import ChannelConfig, FileChannel
from portrait.store.campaigns import CampaignRepository, CampaignRow

DEFAULT_CHANNEL = "file"


def stored(repo: CampaignRepository, name: str) -> CampaignRow:
    """The stored campaign, or :class:`NotFoundError` with a did-you-mean."""
    row = repo.campaign(name)
    if row is None:
        raise NotFoundError(
            f"no campaign named '{name}'",
            hint=suggest(name, repo.names()) or "see 'portrait campaign list'",
        )
    return row


def channel_config(inputs: Inputs, name: str) -> ChannelConfig:
    """The channel's settings (``[channels.NAME]`` in portrait.toml); ``file`` needs none."""
    raw = inputs.channels.get(name)
    if raw is None:
        if name == DEFAULT_CHANNEL:
            return FileChannel()
        known = sorted({*inputs.channels, DEFAULT_CHANNEL})
        raise InputError(
            f"no channel named '{name}'",
            where="channel",
            hint=suggest(name, known) or "channels: " + ", ".join(known),
        )
    try:
        config: ChannelConfig = TypeAdapter(ChannelConfig).validate_python(raw)
    except ValidationError as exc:
        problem = exc.errors()[0]
        location = ".".join(str(p) for p in problem["loc"])
        raise InputError(
            f"channel '{name}': {location}: {problem['msg']}",
            where=f"portrait.toml [channels.{name}]",
            hint="see docs/campaigns.md#channels",
        ) from None
    return config


def check_events(inputs: Inputs, events: Sequence[str], where: str) -> None:
    """Each of ``events`` is an event of the workspace (when it knows its events)."""
    for event in events:
        if inputs.event_names and event not in inputs.event_names:
            raise InputError(
                f"no event named '{event}'",
                where=where,
                hint=suggest(event, inputs.event_names) or None,
            )


def check(inputs: Inputs, spec: CampaignSpec) -> CompiledTemplates:
    """Everything that can be checked before sending: the audience, the channel, the
    templates (against the built tags)."""
    inputs.check_audience(spec.audience)
    config = channel_config(inputs, spec.channel)
    templates = compile_templates(spec, inputs.tags, suggest=suggest)
    check_events(
        inputs, [spec.conversion_event] if spec.conversion_event else [], "conversion_event"
    )
    check_events(inputs, spec.metrics, "metrics")
    if config.address_tag and config.address_tag not in inputs.tags:
        raise InputError(
            f"channel '{spec.channel}' reads addresses from tag '{config.address_tag}', "
            "which is not built",
            where=f"portrait.toml [channels.{spec.channel}]",
        )
    return templates


def channel_ready(inputs: Inputs, spec: CampaignSpec) -> None:
    """What the channel needs from the environment is there before a run starts."""
    config = channel_config(inputs, spec.channel)
    for variable in ("secret_env", "username_env", "password_env"):
        name = getattr(config, variable, None)
        if name and not os.environ.get(name):
            raise InputError(
                f"channel '{spec.channel}' needs the environment variable {name} "
                f"({variable.removesuffix('_env')}), which is not set",
                where=f"portrait.toml [channels.{spec.channel}]",
                hint="set it, then launch again; nothing has been sent",
            )


def check_cost(inputs: Inputs, spec: CampaignSpec, templates: CompiledTemplates) -> None:
    """Render every variant for the audience's first user (or, for an empty audience, a
    user without values): a template over a limit of what one message may cost
    (:mod:`portrait.campaigns.limits`) is refused now rather than failing every user at
    send time. Other render errors depend on the user; the dry run reports them."""
    members = inputs.audience(spec.audience).bitmap
    if len(members):
        user = one_row(inputs.profile_file, int(members.min()), templates.tags)
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
