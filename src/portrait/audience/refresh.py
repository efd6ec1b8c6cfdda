"""Segment snapshots: every evaluation of a segment stored (size, profile version, as-of
date, time; the members of the latest :data:`KEEP_MEMBERS`), and refresh, which re-evaluates
dynamic segments against the live profile, each after the segments it refers to."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from pyroaring import BitMap

from portrait.audience.references import reference_order
from portrait.audience.selector import BuiltProfile, Selector, no_such_segment
from portrait.audience.stored import stored_rule
from portrait.errors import PortraitError
from portrait.model.rules import Rule
from portrait.store.metadata import MetadataStore
from portrait.store.segments import SnapshotRow

KEEP_MEMBERS = 5
"""Snapshots per segment whose member lists are kept (older ones keep their size only)."""


def record_snapshot(
    store: MetadataStore,
    conn: Any,
    profile: BuiltProfile,
    name: str,
    members: BitMap,
    seconds: float,
) -> None:
    """Store an evaluation of segment ``name`` on ``profile`` inside transaction ``conn``."""
    store.add_snapshot(
        conn,
        name,
        BitMap(members).serialize(),
        KEEP_MEMBERS,
        profile_version=profile.version,
        as_of=profile.as_of.isoformat() if profile.as_of else None,
        size=len(members),
        population=profile.population,
        seconds=seconds,
    )


def refresh(
    store: MetadataStore,
    selector: Callable[[], Selector],
    check: Callable[[Rule], object],
    name: str | None = None,
) -> list[SnapshotRow]:
    """Re-evaluate dynamic segments (one, or all in reference order) against the live
    profile; static segments keep their members. Returns the new snapshots."""
    rows = store.segments()
    if name is not None and store.segment(name) is None:
        raise no_such_segment(name, store)
    order = reference_order(rows)
    targets = [n for n in order if name is None or n == name]
    evaluating = selector()
    done: list[SnapshotRow] = []
    for target in targets:
        row = next(r for r in rows if r["name"] == target)
        if row["mode"] != "dynamic":
            continue
        rule = stored_rule(row)
        check(rule)  # a tag may have been removed since the segment was saved
        started = time.perf_counter()
        members = BitMap(evaluating.evaluate(rule, resolving=(target,)))
        seconds = time.perf_counter() - started
        with store.transaction() as conn:
            record_snapshot(store, conn, selector().profile, target, members, seconds)
            store.bump(conn)
        done.append(store.history(target)[-1])
    return done


def refresh_all(
    store: MetadataStore, refresh_one: Callable[[str], list[SnapshotRow]]
) -> tuple[list[str], dict[str, str]]:
    """Re-evaluate every dynamic segment with ``refresh_one``, each after the segments it
    refers to. A segment whose rule no longer fits (a tag was removed) is skipped and
    reported, the others go on. Returns (refreshed names, {name: problem})."""
    refreshed: list[str] = []
    failed: dict[str, str] = {}
    for name in reference_order(store.segments()):
        try:
            if refresh_one(name):
                refreshed.append(name)
        except PortraitError as exc:
            failed[name] = str(exc)
    return refreshed, failed
