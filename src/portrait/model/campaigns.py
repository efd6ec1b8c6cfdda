"""Campaign definitions: audience × channel × variants (+ control holdout) × schedule.

A campaign is written as YAML or JSON (``portrait campaign create FILE``) or built in Python;
this model checks it before anything is stored. Variant weights and the control holdout are
percentages of the audience that add up to 100.
"""

from __future__ import annotations

import datetime as dt
import re
from enum import StrEnum
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,63}$")
_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class CampaignState(StrEnum):
    """Where a campaign stands; which state may follow which is
    :mod:`portrait.campaigns.lifecycle`'s transition table."""

    DRAFT = "draft"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    FAILED = "failed"


class RunState(StrEnum):
    """Where one run (one launch's frozen audience) stands."""

    RUNNING = "running"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    FAILED = "failed"


class DeliveryState(StrEnum):
    """The delivery record of one (campaign, run, user)."""

    PENDING = "pending"  # to be sent
    SENT = "sent"
    FAILED = "failed"  # refused by the channel, unrenderable, or no address
    SUPPRESSED = "suppressed"  # over the frequency cap (the reason is stored with it)
    CONTROL = "control"  # in the holdout: receives nothing


CAMPAIGN_STATES = tuple(s.value for s in CampaignState)
#: delivery states of one (campaign, run, user)
DELIVERY_STATES = tuple(s.value for s in DeliveryState)
RESPONSES = ("delivered", "opened", "clicked", "converted")
#: the holdout group's name (a variant may not take it)
CONTROL_GROUP = "control"
#: names the console's campaign pages take (/campaigns/new, /campaigns/import, …)
RESERVED_NAMES = frozenset({"new", "import", "plan"})


def _name(value: str, what: str) -> str:
    if not NAME_PATTERN.match(value):
        raise ValueError(
            f"{what} '{value}' must start with a letter or _ and hold only letters, digits, _ "
            "and - (at most 64)"
        )
    return value


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Variant(_Frozen):
    """One message version and the share of the audience that gets it (percent)."""

    name: str
    weight: float = Field(gt=0, le=100)
    template: str = ""  # required unless the campaign is imported
    subject: str | None = None  # e-mail subject (a template too)

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        return _name(value, "variant")


class SendWindow(_Frozen):
    """Messages go out only between ``start`` and ``end`` (local time of the campaign)."""

    start: str
    end: str

    @field_validator("start", "end")
    @classmethod
    def _check_time(cls, value: str) -> str:
        if not _TIME.match(value):
            raise ValueError(f"'{value}' is not a time of day like 19:00")
        return value

    def contains(self, moment: dt.time) -> bool:
        start, end = dt.time.fromisoformat(self.start), dt.time.fromisoformat(self.end)
        if start <= end:
            return start <= moment < end
        return moment >= start or moment < end  # across midnight, e.g. 22:00-02:00


class FrequencyCap(_Frozen):
    """At most ``messages`` per user per channel in any ``days`` rolling days."""

    messages: int = Field(ge=1)
    days: int = Field(ge=1, le=366)


class Schedule(_Frozen):
    """When the campaign runs: ``now`` (at launch), ``at`` a time, or recurring by ``cron``."""

    kind: Literal["now", "at", "cron"] = "now"
    at: dt.datetime | None = None
    cron: str | None = None

    @model_validator(mode="after")
    def _check(self) -> Schedule:
        if self.kind == "at" and self.at is None:
            raise ValueError("schedule 'at' needs a time, e.g. at: 2026-12-01T19:30:00+08:00")
        if self.kind == "cron":
            if not self.cron:
                raise ValueError("schedule 'cron' needs an expression, e.g. cron: '0 19 * * 5'")
            from cronsim import CronSim, CronSimError

            try:
                CronSim(self.cron, dt.datetime(2026, 1, 1))
            except CronSimError as exc:
                raise ValueError(f"cron expression '{self.cron}' does not parse: {exc}") from None
        return self


class CampaignSpec(_Frozen):
    """What a campaign is: who (audience), how (channel, variants, control), when."""

    name: str
    audience: str = Field(min_length=1)  # a saved segment's name or a rule
    channel: str = Field(min_length=1)
    variants: tuple[Variant, ...] = Field(min_length=1)
    control: float = Field(default=0.0, ge=0, lt=100)  # holdout percent: receives nothing
    schedule: Schedule = Schedule()
    timezone: str = "Asia/Shanghai"
    send_window: SendWindow | None = None
    rate_limit: float | None = Field(default=None, gt=0)  # messages per second
    cost_per_message: float = Field(default=0.0, ge=0)
    cap: FrequencyCap | None = None  # overrides the workspace's cap for this campaign
    attribution_days: int = Field(default=7, ge=1, le=90)
    #: an event that also counts as a conversion (e.g. a sign-up), besides orders
    conversion_event: str | None = None
    salt: str | None = None  # the assignment hash salt (default: the name)
    description: str = ""
    #: custom events whose rate per user the report compares too (besides its own metrics)
    metrics: tuple[str, ...] = ()
    #: run elsewhere: assignments and outcomes imported (``portrait campaign import``);
    #: Portrait only analyses it (no templates, never launched)
    imported: bool = False

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if value in RESERVED_NAMES:
            raise ValueError(
                f"'{value}' names a console page (/campaigns/{value}); pick another name"
            )
        return _name(value, "campaign")

    @field_validator("timezone")
    @classmethod
    def _check_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone '{value}' (use a name like Asia/Shanghai)"
            ) from None
        return value

    @model_validator(mode="after")
    def _check_groups(self) -> CampaignSpec:
        names = [v.name for v in self.variants]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"variant '{duplicates[0]}' is defined twice")
        if CONTROL_GROUP in names:
            raise ValueError(
                f"'{CONTROL_GROUP}' is the holdout's name; call the variant something else"
            )
        if not self.imported:
            blank = next((v.name for v in self.variants if not v.template.strip()), None)
            if blank is not None:
                raise ValueError(f"variant '{blank}' needs a template")
        for event in self.metrics:
            if not event.strip() or len(event) > 128:
                raise ValueError(f"metrics: '{event}' is not an event name")
        total = sum(v.weight for v in self.variants) + self.control
        if abs(total - 100) > 1e-9:
            parts = " + ".join(f"{v.name} {v.weight:g}" for v in self.variants)
            raise ValueError(
                f"variant weights and control must add up to 100: {parts} + control "
                f"{self.control:g} = {total:g}"
            )
        return self

    @property
    def hash_salt(self) -> str:
        return self.salt or self.name

    @property
    def groups(self) -> tuple[tuple[str, float], ...]:
        """(group, percent) in assignment order: the control first, then the variants."""
        control = ((CONTROL_GROUP, self.control),) if self.control > 0 else ()
        return control + tuple((v.name, v.weight) for v in self.variants)

    def variant(self, name: str) -> Variant:
        return next(v for v in self.variants if v.name == name)
