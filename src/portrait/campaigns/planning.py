"""Planning a run: split the audience into the control and the variants, apply the frequency
cap, and (for a dry run) render every message.

What a dry run shows (sample messages, render errors) is for people, so the values of
personal-data tags (``pii: true``) are masked before they reach a template unless the caller
may see them: a sample of ``hi {{ phone }}`` reads ``hi 138****5678``. Every message is still
rendered from the real values to count what would fail when sending; an error met only with
the real values is reported without its text, which could quote them.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pyroaring import AbstractBitMap

from portrait.campaigns.assignment import assign
from portrait.campaigns.templates import CompiledTemplates, render_safely
from portrait.index.rows import ProfileRows
from portrait.model.campaigns import CONTROL_GROUP, CampaignSpec, FrequencyCap
from portrait.model.pii import mask_text
from portrait.stats.srm import SrmResult, srm_test
from portrait.store.campaigns import CampaignRepository

_RENDER_CHUNK = 5000


@dataclass
class GroupPlan:
    group: str
    percent: float
    users: int = 0
    suppressed: int = 0
    to_send: int = 0


@dataclass
class Plan:
    """Who gets what: the frozen audience split into groups, caps applied, messages rendered."""

    spec: CampaignSpec
    uids: np.ndarray
    user_ids: list[str]
    group_index: np.ndarray  # position in spec.groups, per user
    suppressed: np.ndarray  # bool per user: over the cap
    groups: list[GroupPlan]
    srm: SrmResult
    samples: list[dict[str, Any]] = field(default_factory=list)
    render_errors: list[dict[str, Any]] = field(default_factory=list)
    rendered: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "campaign": self.spec.name,
            "audience": len(self.uids),
            "groups": [g.__dict__ for g in self.groups],
            "suppressed": int(self.suppressed.sum()),
            "rendered": self.rendered,
            "render_errors": len(self.render_errors),
            "first_errors": self.render_errors[:5],
            "samples": self.samples,
            "srm_p_value": self.srm.p_value,
            "srm_mismatch": self.srm.mismatch,
            "seconds": round(self.seconds, 3),
        }


def effective_cap(spec: CampaignSpec, settings: Mapping[str, Any]) -> FrequencyCap | None:
    """The campaign's own cap, else the workspace's (``campaigns.cap_messages`` 0: none)."""
    if spec.cap is not None:
        return spec.cap
    messages = int(settings["campaigns.cap_messages"])
    if messages <= 0:
        return None
    return FrequencyCap(messages=messages, days=int(settings["campaigns.cap_days"]))


def cap_reason(cap: FrequencyCap | None, channel: str) -> str | None:
    return f"frequency cap: {cap.messages} per {cap.days} days on {channel}" if cap else None


def over_cap(
    repo: CampaignRepository,
    channel: str,
    cap: FrequencyCap | None,
    uids: np.ndarray,
    now: dt.datetime,
) -> np.ndarray:
    """True for the users who already got the cap's number of messages on the channel in its
    rolling window (across all campaigns)."""
    over = np.zeros(len(uids), dtype=bool)
    if cap is None or len(uids) == 0:
        return over
    capped = repo.over_cap(channel, now - dt.timedelta(days=cap.days), cap.messages)
    return np.isin(uids, capped) if capped.size else over


def plan_run(
    spec: CampaignSpec,
    members: AbstractBitMap,
    templates: CompiledTemplates,
    rows: ProfileRows,
    capped: Callable[[np.ndarray], np.ndarray],  # who is over the cap (a CapCheck)
    *,
    render: bool,
    samples: int = 3,
    masked: Collection[str] = frozenset(),
) -> Plan:
    """Split ``members`` into the groups, apply the cap and (``render``) render every
    message, keeping ``samples`` per variant and every render error. The tags in ``masked``
    (the personal-data tags, unless the caller may see them) reach the templates of samples
    and shown errors masked (see the module docstring)."""
    started = time.perf_counter()
    uids = np.fromiter(members, dtype=np.int64, count=len(members))
    rows.prefetch(templates.tags)
    rows.restrict(uids)  # every later read is of these rows, in uid order
    user_ids = rows.user_ids(uids)
    percents = [p for _, p in spec.groups]
    index = assign(spec.hash_salt, user_ids, percents)
    names = [g for g, _ in spec.groups]
    control = names.index(CONTROL_GROUP) if CONTROL_GROUP in names else -1
    suppressed = capped(uids) & (index != control)
    groups = []
    for k, (group, percent) in enumerate(spec.groups):
        in_group = index == k
        plan = GroupPlan(group, percent, int(in_group.sum()))
        if k != control:
            plan.suppressed = int((in_group & suppressed).sum())
            plan.to_send = plan.users - plan.suppressed
        groups.append(plan)
    srm = srm_test([g.users for g in groups], percents)
    result = Plan(spec, uids, user_ids, index, suppressed, groups, srm)
    if render:
        _render_all(result, templates, rows, names, control, samples, frozenset(masked))
    result.seconds = time.perf_counter() - started
    return result


def mask_values(values: Mapping[str, Any], tags: Collection[str]) -> dict[str, Any]:
    """``values`` with those of ``tags`` masked (lists element by element), by the rule
    every other output uses (:func:`portrait.model.pii.mask_text`)."""
    out = dict(values)
    for tag in tags:
        value = out.get(tag)
        if isinstance(value, list | tuple):
            out[tag] = [mask_text(v) for v in value]
        elif value is not None:
            out[tag] = mask_text(value)
    return out


WITHHELD = (
    "template error (its text is withheld: it could show personal data; a dry run by a "
    "caller allowed to see personal data shows it)"
)


def _render_all(
    plan: Plan,
    templates: CompiledTemplates,
    rows: ProfileRows,
    names: list[str],
    control: int,
    samples: int,
    masked: frozenset[str],
) -> None:
    sendable = np.flatnonzero((plan.group_index != control) & ~plan.suppressed)
    kept: dict[str, int] = {}
    # per variant, the personal-data tags its templates read (masked in what is shown)
    hidden = {v: masked.intersection(templates.reads.get(v, ())) for v in templates.texts}
    for start in range(0, len(sendable), _RENDER_CHUNK):
        chunk = sendable[start : start + _RENDER_CHUNK]
        values = rows.values(plan.uids[chunk], templates.tags)
        for pos, user in zip(chunk, values, strict=True):
            variant = names[int(plan.group_index[pos])]
            out = render_safely(templates, variant, user)  # the real values: what sending does
            private = hidden.get(variant)
            if isinstance(out, str):
                if private:  # the error's text from masked values, or none at all
                    shown = render_safely(templates, variant, mask_values(user, private))
                    out = shown if isinstance(shown, str) else WITHHELD
                plan.render_errors.append(
                    {"user_id": plan.user_ids[pos], "variant": variant, "error": out}
                )
                continue
            plan.rendered += 1
            if kept.get(variant, 0) < samples:
                if private:
                    out = render_safely(templates, variant, mask_values(user, private))
                    if isinstance(out, str):
                        continue  # renders with the real values only: not a sample to show
                kept[variant] = kept.get(variant, 0) + 1
                plan.samples.append(
                    {
                        "variant": variant,
                        "user_id": plan.user_ids[pos],
                        "text": out[0],
                        "subject": out[1],
                    }
                )


class CapCheck:
    """``capped(uids)``: who is over the cap now (bound to a repository, channel, cap and
    time)."""

    def __init__(
        self, repo: CampaignRepository, channel: str, cap: FrequencyCap | None, now: dt.datetime
    ):
        self.repo, self.channel, self.cap, self.now = repo, channel, cap, now

    def __call__(self, uids: np.ndarray) -> np.ndarray:
        return over_cap(self.repo, self.channel, self.cap, uids, self.now)
