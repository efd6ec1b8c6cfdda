"""Typed manifests of built artifacts: what a profile version records about itself.

A build writes ``manifest.json`` into each profile version (``profile/<version>/``); readers
parse it once into a :class:`ProfileManifest` (no I/O here: the store reads the file). The
manifest is versioned by ``format``: a manifest of a newer format than this code knows is
refused rather than half-read.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from portrait.errors import WorkspaceError

PROFILE_FORMAT = 1
"""The manifest format this code writes and reads."""


class _ReadsAsJson:
    """Read access by field name to the JSON form as ``manifest.json`` holds it
    (``ws.built.manifest["as_of"]``, ``ws.built.tags["city"]["type"]``), as notebooks read
    manifests before they were typed. New code uses the attributes."""

    def to_json(self) -> dict[str, Any]:
        raise NotImplementedError

    def __getitem__(self, key: str) -> Any:
        return self.to_json()[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.to_json().get(key, default)


@dataclass(frozen=True)
class BuiltTag(_ReadsAsJson):
    """One tag as the build that computed it recorded it."""

    name: str
    type: str
    kind: str = ""
    category: str = ""
    pii: bool = False
    fingerprint: str = ""
    built_at: str | None = None
    stale: bool = False
    stats: Mapping[str, Any] = field(default_factory=dict)
    index_seconds: float | None = None

    @classmethod
    def from_json(cls, name: str, data: Mapping[str, Any]) -> BuiltTag:
        seconds = data.get("index_seconds")
        return cls(
            name=name,
            type=str(data["type"]),
            kind=str(data.get("kind") or ""),
            category=str(data.get("category") or ""),
            pii=bool(data.get("pii")),
            fingerprint=str(data.get("fingerprint") or ""),
            built_at=data.get("built_at"),
            stale=bool(data.get("stale")),
            stats=dict(data.get("stats") or {}),
            index_seconds=None if seconds is None else float(seconds),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint,
            "kind": self.kind,
            "type": self.type,
            "category": self.category,
            "pii": self.pii,
            "built_at": self.built_at,
            "stale": self.stale,
            "index_seconds": self.index_seconds,
            "stats": dict(self.stats),
        }

    @property
    def multi_valued(self) -> bool:
        return self.type.startswith("list")


@dataclass(frozen=True)
class RollupManifest(_ReadsAsJson):
    """The event rollup of a profile version (present when events were loaded): its format,
    the data versions it was computed from (to take it over unchanged), and the event
    properties summed per day (``sums``). ``details`` keeps the rest as recorded (rows, days,
    timings) for reports."""

    format: int
    sums: tuple[str, ...] = ()
    events_version: int | None = None
    users_version: int | None = None
    seconds: float = 0.0
    details: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RollupManifest:
        known = ("format", "sums", "events_version", "users_version", "seconds")
        return cls(
            format=int(data.get("format") or 0),
            sums=tuple(data.get("sums") or ()),
            events_version=data.get("events_version"),
            users_version=data.get("users_version"),
            seconds=float(data.get("seconds") or 0.0),
            details={k: v for k, v in data.items() if k not in known},
        )

    def to_json(self) -> dict[str, Any]:
        return {
            **self.details,
            "format": self.format,
            "sums": list(self.sums),
            "events_version": self.events_version,
            "users_version": self.users_version,
            "seconds": self.seconds,
        }


@dataclass(frozen=True)
class ProfileManifest(_ReadsAsJson):
    """What a profile version records: when and from which data it was built, its as-of
    date, its users, its tags (in profile column order) and its rollup."""

    format: int = PROFILE_FORMAT
    index_format: int | None = None
    built_at: str | None = None
    warehouse_version: str | None = None
    users_version: int | None = None
    as_of: dt.date | None = None
    users: int = 0
    tags: Mapping[str, BuiltTag] = field(default_factory=dict)
    rollup: RollupManifest | None = None
    timings: Mapping[str, float] = field(default_factory=dict)

    @property
    def columns(self) -> list[str]:
        """The tag columns of the profile, in order."""
        return list(self.tags)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ProfileManifest:
        """Parse a manifest as stored; ``{}`` (nothing built) is the empty manifest."""
        if not data:
            return cls()
        found = int(data.get("format") or 1)
        if found > PROFILE_FORMAT:
            raise WorkspaceError(
                f"the profile was built by a newer Portrait (manifest format {found}; this "
                f"version reads up to {PROFILE_FORMAT})",
                hint="upgrade Portrait, or rebuild with this version: portrait build --full",
            )
        recorded = data.get("tags") or {}
        as_of = data.get("as_of")
        rollup = data.get("rollup")
        return cls(
            format=found,
            index_format=data.get("index_format"),
            built_at=data.get("built_at"),
            warehouse_version=data.get("warehouse_version"),
            users_version=data.get("users_version"),
            as_of=dt.date.fromisoformat(str(as_of)) if as_of else None,
            users=int(data.get("users") or 0),
            tags={
                n: BuiltTag.from_json(n, recorded[n])
                for n in data.get("columns") or []
                if n in recorded
            },
            rollup=RollupManifest.from_json(rollup) if rollup else None,
            timings=dict(data.get("timings") or {}),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "index_format": self.index_format,
            "built_at": self.built_at,
            "warehouse_version": self.warehouse_version,
            "users_version": self.users_version,
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "users": self.users,
            "columns": self.columns,
            "tags": {n: t.to_json() for n, t in self.tags.items()},
            "rollup": self.rollup.to_json() if self.rollup else None,
            "timings": dict(self.timings),
        }

    def tag_types(self) -> dict[str, str]:
        """Built tag name → value type."""
        return {n: t.type for n, t in self.tags.items()}
