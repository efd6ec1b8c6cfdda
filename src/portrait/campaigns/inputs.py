"""What campaigns need from the workspace: the metadata store, audiences, the built profile,
channels and settings, a clock and who acts."""

from __future__ import annotations

import datetime as dt
import getpass
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from portrait.store.metadata import MetadataStore


def _default_actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in containers without /etc/passwd entries
        return "unknown"


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
    #: the dense ids of user ids (None where unknown), for experiments run elsewhere
    find_users: Callable[[Sequence[str]], Sequence[int | None]] | None = None
