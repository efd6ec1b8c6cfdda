"""Build step: the bitmap index of every tag (``index/``) and its statistics.

A computed tag's index is built from its profile column; a reused tag's index file is taken over
from the previous version (hard-linked) with its recorded metadata.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow.parquet as pq

from portrait.index.profile_index import build_tag_index, index_file
from portrait.model.manifests import BuiltTag
from portrait.model.tags import TagSet
from portrait.profile.stats import tag_stats
from portrait.profile.versions import INDEX_DIR, PROFILE_FILE, ProfileSnapshot
from portrait.progress import Progress, step
from portrait.store.versions import link_or_copy


def index_tags(
    tags: TagSet,
    compute: set[str],
    prints: dict[str, str],
    previous: ProfileSnapshot,
    staging: Path,
    progress: Progress,
    threads: int = 0,
) -> tuple[dict[str, BuiltTag], int]:
    """Index every tag of the profile in ``staging``; its metadata per tag, and the users."""
    index_dir = staging / INDEX_DIR
    index_dir.mkdir()
    profile = staging / PROFILE_FILE
    n_users = pq.ParquetFile(profile).metadata.num_rows
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")

    def index_one(name: str) -> BuiltTag:
        tag = tags[name]
        target = index_file(index_dir, name, tag.value_type)
        if name not in compute:
            assert previous.path is not None
            link_or_copy(index_file(previous.index_dir, name, tag.value_type), target)
            return previous.tags[name]
        t0 = time.perf_counter()
        column = pq.read_table(profile, columns=[name]).column(0)
        index = build_tag_index(column, tag.value_type)
        index.save(target)
        return BuiltTag(
            name=name,
            type=tag.value_type,
            kind=tag.kind,
            category=tag.category,
            pii=tag.pii,
            fingerprint=prints[name],
            built_at=now,
            index_seconds=time.perf_counter() - t0,
            stats=tag_stats(tag, index),
        )

    # Tags are indexed in parallel: the heavy parts (Parquet reads, sorting, bitmap building)
    # run in Arrow, NumPy and CRoaring without holding the GIL for long.
    with (
        step(progress, "index tags", total=len(tags)) as bar,
        ThreadPoolExecutor(max_workers=threads or os.cpu_count() or 1) as pool,
    ):
        futures = {name: pool.submit(index_one, name) for name in tags}
        meta: dict[str, BuiltTag] = {}
        for name, future in futures.items():
            meta[name] = future.result()
            bar.advance()
    return meta, n_users
