"""Delivery records and the batch loop: exactly one record per (campaign, run, user).

A batch is always the ``batch_size`` lowest uids still ``pending`` in the run (the size is
fixed for the run when it starts), and its key is ``campaign:run:first-uid``. The records
turn ``sent`` (or ``failed``) in one transaction after the channel returns. If the process
dies in between, the records are still ``pending``, so the next launch forms the very same
batch again, with the very same key, which the channels treat as a repeat (see
:mod:`portrait.campaigns.channels`); then it carries on. So nothing is sent twice and nothing
skipped, with one write per batch.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from portrait.campaigns.channels import Channel, DeliveryFailed, Message
from portrait.campaigns.planning import Plan
from portrait.campaigns.templates import CompiledTemplates, render_safely
from portrait.index.rows import ProfileRows
from portrait.model.campaigns import CONTROL_GROUP, CampaignSpec, CampaignState, DeliveryState
from portrait.store.campaigns import CampaignRepository

Record = tuple[int, str]  # (uid, group) of a delivery record; the user id comes with the tags


@dataclass(frozen=True)
class LaunchReport:
    """What a launch did: the run, the campaign's state after it, the run's records per
    delivery state, and why it stopped early (``note``; empty when everything went)."""

    campaign: str
    run: int
    state: str
    sent: int
    failed: int
    suppressed: int
    control: int
    pending: int
    seconds: float
    note: str = ""
    added: Mapping[str, int] = field(default_factory=dict, compare=False)
    """Records this launch added by outcome (``sent``, ``failed``, ``suppressed``): a resumed
    run's earlier batches are not counted again (for message metrics; not in :meth:`to_dict`,
    the run's record)."""

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "added"}


def start_run(
    repo: CampaignRepository,
    spec: CampaignSpec,
    plan: Plan,
    *,
    now: dt.datetime,
    profile_version: str,
    as_of: str | None,
    cap_reason: str | None,
    batch_size: int,
) -> int:
    """Record a new run with its frozen audience and one delivery record per member
    (``control``, ``suppressed`` with the reason, or ``pending``), in ``repo``'s
    transaction. Returns the run number."""
    names = [g for g, _ in spec.groups]
    control = names.index(CONTROL_GROUP) if CONTROL_GROUP in names else -1
    groups = [names[i] for i in plan.group_index.tolist()]
    suppressed = DeliveryState.SUPPRESSED.value
    states: list[str] = np.where(
        plan.group_index == control,
        DeliveryState.CONTROL.value,
        np.where(plan.suppressed, suppressed, DeliveryState.PENDING.value),
    ).tolist()
    return repo.start_run(
        spec.name,
        spec.channel,
        started_at=now,
        profile_version=profile_version,
        as_of=as_of,
        batch_size=batch_size,
        uids=plan.uids.tolist(),
        user_ids=plan.user_ids,
        groups=groups,
        states=states,
        reasons=[cap_reason if state == suppressed else None for state in states],
    )


class Sender:
    """Sends one run's open records through a channel, batch by batch."""

    def __init__(
        self,
        repo: CampaignRepository,
        spec: CampaignSpec,
        run: int,
        channel: Channel,
        templates: CompiledTemplates,
        rows: ProfileRows,
        *,
        address_tag: str | None,
        rate_limit: float | None,
        clock: Callable[[], dt.datetime],
        cancelled: Callable[[], bool],
    ):
        self.repo = repo
        self.spec = spec
        self.run = run
        self.channel = channel
        self.templates = templates
        self.rows = rows
        self.address_tag = address_tag
        self.rate_limit = rate_limit
        self.clock = clock
        self.cancelled = cancelled

    def send_all(self, batch_size: int, batch_limit: int | None = None) -> str:
        """Send until nothing is open, the campaign is cancelled, the send window closes or
        ``batch_limit`` batches went out; returns a note saying why it stopped early ("" when
        all went). A retryable channel failure propagates as :class:`DeliveryFailed`."""
        spec = self.spec
        started = time.perf_counter()
        sent = 0
        self.channel.start(spec.name, self.run)  # e.g. a killed batch's temp file
        for done, (batch, records) in enumerate(self._batches(batch_size), start=1):
            if self.cancelled():
                return CampaignState.CANCELLED.value
            if not self.in_window():
                window = spec.send_window
                assert window is not None
                return (
                    f"outside the send window {window.start}-{window.end} ({spec.timezone}); "
                    "launch again in the window"
                )
            self._send(batch, records)
            sent += len(records)
            if self.rate_limit:  # messages per second over the whole launch
                wait = sent / self.rate_limit - (time.perf_counter() - started)
                if wait > 0:
                    time.sleep(wait)
            if batch_limit is not None and done >= batch_limit:
                return f"stopped after {done} batches (resumable)"
        return ""

    def in_window(self) -> bool:
        window = self.spec.send_window
        if window is None:
            return True
        return window.contains(self.clock().astimezone(ZoneInfo(self.spec.timezone)).time())

    def _batches(self, size: int) -> Iterator[tuple[int, list[Record]]]:
        """(first uid, records) of the next ``size`` pending records by uid, until none is
        left. Nothing is written here: a batch is defined by what is pending."""
        after = -1
        while True:
            records = self.repo.pending(self.spec.name, self.run, after, size)
            if not records:
                return
            after = records[-1][0]
            yield records[0][0], records

    def _messages(self, records: list[Record]) -> tuple[list[Message], list[tuple[int, str]]]:
        """The batch's messages, and the records that cannot be sent (render error, no
        address) with the reason."""
        spec, tag = self.spec, self.address_tag
        uids = np.asarray([r[0] for r in records], dtype=np.int64)
        columns = [*self.templates.tags, *([tag] if tag else [])]
        messages: list[Message] = []
        failed: list[tuple[int, str]] = []
        prefix = f"{spec.name}:{self.run}:"
        for (uid, group), values in zip(records, self.rows.values(uids, columns), strict=True):
            out = render_safely(self.templates, group, values)
            to = str(values[tag]) if tag and values.get(tag) else None
            if isinstance(out, str) or (tag and to is None):
                reason = out if isinstance(out, str) else f"no {tag} to send to"
                failed.append((uid, reason))
                continue
            messages.append(
                Message(
                    prefix + values["user_id"],
                    spec.name,
                    self.run,
                    values["user_id"],
                    group,
                    out[0],
                    out[1],
                    to,
                )
            )
        return messages, failed

    def _send(self, batch: int, records: list[Record]) -> None:
        messages, failed = self._messages(records)
        refused: str | None = None
        if messages:
            try:
                self.channel.send(f"{self.spec.name}:{self.run}:{batch}", messages)
            except DeliveryFailed as exc:
                if not exc.permanent:
                    raise  # the records stay pending: the next launch forms this batch again
                refused = str(exc)
        self.repo.record_batch(
            self.spec.name,
            self.run,
            batch,
            (records[0][0], records[-1][0]),
            failed=failed,
            refused=refused,
            at=self.clock(),
        )
