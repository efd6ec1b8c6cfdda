"""Build: compute tags into the profile, index it and record tag statistics.

One build reads one warehouse version and writes one profile version (atomically swapped):
``profile.parquet`` (uid, user_id, one column per tag, row = uid), ``index/`` (a file per
tag) and ``manifest.json`` (as-of date, per-tag fingerprint, type, stats and timings).

Tags are computed by their kind's computer (:mod:`portrait.profile.computers`), in stages
ordered by their dependencies; then indexed (:mod:`portrait.profile.indexing`) and the event
rollup made or taken over.

Incremental: a tag's fingerprint (:mod:`portrait.profile.fingerprints`) hashes its definition,
the versions of the tables it reads, the as-of date and time zone (windowed kinds), and its
dependencies' fingerprints. Only tags whose fingerprint changed (and the tags that read them) are
computed; the others' columns and index files are taken over from the previous version.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from portrait.compile import validate_tags
from portrait.compile.parts import BuildContext
from portrait.config import Config
from portrait.engine import Engine, open_engine, settings_from_config
from portrait.errors import WorkspaceError
from portrait.model.manifests import ProfileManifest, RollupManifest
from portrait.model.tags import TagSet
from portrait.profile import rollup
from portrait.profile.computers import compute_profile
from portrait.profile.fingerprints import fingerprints
from portrait.profile.indexing import index_tags
from portrait.profile.inputs import last_recorded_time, register_in_range
from portrait.profile.versions import (
    PROFILE_FILE,
    ProfileSnapshot,
    profile_dir,
    profile_snapshot,
)
from portrait.progress import NullProgress, Progress, step
from portrait.store.layout import Layout
from portrait.store.manifest import write_manifest
from portrait.store.tagfiles import load_tag_files
from portrait.store.timebounds import TimeBounds
from portrait.store.versions import workspace_lock
from portrait.store.warehouse import WarehouseSnapshot, snapshot

INDEX_FORMAT = 2
"""Version of the index files; a profile built with another version is re-indexed in full."""


@dataclass
class BuildReport:
    profile_version: str = ""
    warehouse_version: str = ""
    as_of: str = ""
    users: int = 0
    computed: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    up_to_date: bool = False
    segments_refreshed: list[str] = field(default_factory=list)
    segments_failed: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def resolve_as_of(config: Config, warehouse: WarehouseSnapshot) -> dt.date:
    """The configured as-of date, or the last event date, or today (UTC) without events.

    Only times inside [``ingest.min_time``, ``ingest.max_time``) count: a table whose recorded
    last time is outside (stored before ingest checked the range) is scanned for its last
    time inside."""
    if config["data.as_of"] != "auto":
        return dt.date.fromisoformat(config["data.as_of"])
    last = last_recorded_time(config, warehouse)
    if last is not None:
        return last.date()
    return dt.datetime.now(dt.UTC).date()


def load_tags(layout: Layout, warehouse: WarehouseSnapshot) -> TagSet:
    """The workspace's tag definitions, validated against the loaded tables."""
    return validate_tags(load_tag_files(layout.tags_dir), warehouse.schema())


def build(
    layout: Layout,
    config: Config,
    *,
    full: bool = False,
    only: list[str] | None = None,
    progress: Progress | None = None,
) -> BuildReport:
    """Compute changed tags (all with ``full``; ``only`` forces the named ones) into a new
    profile version and swap it in."""
    started = time.perf_counter()
    progress = progress or NullProgress()
    report = BuildReport()
    with workspace_lock(layout.lock_file):
        warehouse = snapshot(layout)
        if "users" not in warehouse.tables:
            raise WorkspaceError(
                "no users have been ingested", hint="load them first: portrait ingest users FILE"
            )
        tags = load_tags(layout, warehouse)
        unknown = [n for n in only or [] if n not in tags]
        if unknown:
            raise WorkspaceError(
                f"unknown tag '{unknown[0]}' in --tags", hint="see portrait tags list"
            )
        as_of = resolve_as_of(config, warehouse)
        store = profile_dir(layout)
        previous = profile_snapshot(layout)
        prev_tags = previous.tags if previous.path else {}
        users_version = warehouse.tables["users"].version
        # New or changed users change the uid set: nothing can be taken over, not even a
        # manual tag (its old column would have no row for the new users).
        rebuild_all = (
            full
            or not prev_tags
            or previous.manifest.users_version != users_version
            or previous.manifest.index_format != INDEX_FORMAT
        )
        forced = set(only or [])
        stale: list[str] = []

        def keep(name: str, fingerprint: str) -> str:
            prev = prev_tags.get(name)
            if (
                not rebuild_all
                and prev is not None
                and tags[name].refresh == "manual"
                and name not in forced
                and prev.fingerprint != fingerprint
            ):
                stale.append(name)
                return prev.fingerprint
            return fingerprint

        prints = fingerprints(tags, warehouse, as_of, config["data.timezone"], keep)
        report.as_of = as_of.isoformat()
        report.warehouse_version = warehouse.version
        if rebuild_all:
            compute = set(tags)
        else:
            changed = {
                n for n in tags if n not in prev_tags or prev_tags[n].fingerprint != prints[n]
            }
            compute = tags.dependents(changed | forced)
        reused = [n for n in tags if n not in compute]
        report.stale = [n for n in tags if n in stale]
        same_columns = previous.manifest.columns == list(tags)
        if (
            not compute
            and same_columns
            and previous.manifest.warehouse_version == warehouse.version
            and set(stale) == {n for n, meta in prev_tags.items() if meta.stale}
            and (
                "events" not in warehouse.tables
                or (
                    previous.manifest.rollup is not None
                    and previous.manifest.rollup.format == rollup.FORMAT
                )
            )
        ):
            report.up_to_date = True
            report.profile_version = previous.version
            report.reused = reused
            report.users = previous.manifest.users
            report.seconds = time.perf_counter() - started
            return report

        engine = open_engine(settings_from_config(config, layout.spill_dir))
        try:
            with store.stage() as staging:
                bounds = TimeBounds.from_config(config)
                for table, state in warehouse.tables.items():
                    assert warehouse.path is not None
                    report.warnings += register_in_range(
                        engine, table, state.paths(warehouse.path), bounds
                    )
                reuse_relation = None
                if reused:
                    engine.register_parquet("prev_profile", [previous.profile_file])
                    reuse_relation = "prev_profile"
                context = BuildContext(tags, as_of, warehouse.schema(), config["data.timezone"])
                timings = compute_profile(
                    engine,
                    context,
                    compute,
                    staging / PROFILE_FILE,
                    progress,
                    reuse_relation=reuse_relation,
                )
                report.timings.update(timings)
                t0 = time.perf_counter()
                tag_meta, n_users = index_tags(
                    tags, compute, prints, previous, staging, progress, config["engine.threads"]
                )
                report.timings["index"] = time.perf_counter() - t0
                for name in reused:
                    tag_meta[name] = replace(tag_meta[name], stale=name in stale)
                rollup_meta = _rollup(engine, warehouse, previous, staging, progress, full, n_users)
                if rollup_meta:
                    report.timings["rollup"] = rollup_meta.seconds
                manifest = ProfileManifest(
                    index_format=INDEX_FORMAT,
                    built_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                    warehouse_version=warehouse.version,
                    users_version=users_version,
                    as_of=as_of,
                    users=n_users,
                    tags={n: tag_meta[n] for n in tags},
                    rollup=rollup_meta,
                    timings=report.timings,
                )
                write_manifest(staging, manifest.to_json())
        finally:
            engine.close()
        store.prune(config["store.keep_versions"])
        report.profile_version = profile_snapshot(layout).version
        report.users = n_users
        report.computed = [n for n in tags if n in compute]
        report.reused = reused
    report.seconds = time.perf_counter() - started
    return report


def _rollup(
    engine: Engine,
    warehouse: WarehouseSnapshot,
    previous: ProfileSnapshot,
    staging: Path,
    progress: Progress,
    full: bool,
    n_users: int,
) -> RollupManifest | None:
    """The event rollup for behaviour conditions: taken over when events and users are the
    same as in the previous version, else computed."""
    events = warehouse.tables.get("events")
    if events is None:
        return None
    users_version = warehouse.tables["users"].version
    prev = previous.manifest.rollup
    with step(progress, "event rollup", total=1) as bar:
        if (
            not full
            and previous.path is not None
            and prev is not None
            and rollup.reusable(prev, events.version, users_version)
        ):
            rollup.take_over(previous.path, staging)
            meta = replace(prev, seconds=0.0)
        else:
            built = rollup.build_rollup(engine, warehouse.schema(), staging, n_users)
            meta = replace(built, events_version=events.version, users_version=users_version)
        bar.advance()
    return meta
