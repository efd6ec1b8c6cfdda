"""Build step: the event rollup table (``rollup.parquet``) and its index (``rollup/``).

Taken over from the previous profile version when neither the events nor the users changed.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pyarrow.parquet as pq
from sqlglot import exp

from portrait.compile.rollup import (
    group_rows_query,
    groups_query,
    rollup_any_query,
    rollup_query,
    rollup_sums,
    sum_column,
)
from portrait.engine import Engine
from portrait.index.rollup import RollupWriter, add_spans
from portrait.model.manifests import RollupManifest
from portrait.model.schema import Schema
from portrait.profile.versions import GROUPS_FILE, ROLLUP_DIR, ROLLUP_FILE
from portrait.store.versions import link_or_copy

_BATCH_ROWS = 1 << 20
FORMAT = 3


def reusable(previous: RollupManifest, events_version: int, users_version: int) -> bool:
    """Whether the previous version's rollup is the one these data versions would give."""
    return (
        previous.format == FORMAT
        and previous.events_version == events_version
        and previous.users_version == users_version
    )


def take_over(previous_dir: Path, staging: Path) -> None:
    """Hard-link (or copy) the previous version's rollup into the staging folder; an index
    written before spans existed gets them (new files: the linked ones stay as they are)."""
    link_or_copy(previous_dir / ROLLUP_FILE, staging / ROLLUP_FILE)
    link_or_copy(previous_dir / GROUPS_FILE, staging / GROUPS_FILE)
    (staging / ROLLUP_DIR).mkdir()
    for item in sorted((previous_dir / ROLLUP_DIR).iterdir()):
        link_or_copy(item, staging / ROLLUP_DIR / item.name)
    add_spans(staging / ROLLUP_DIR)


def build_rollup(engine: Engine, schema: Schema, staging: Path, n_users: int) -> RollupManifest:
    """Compute the rollup from the ``events`` and ``users`` relations registered in ``engine``
    and write it with its index into ``staging``. Returns its manifest entry."""
    t0 = time.perf_counter()
    table = staging / ROLLUP_FILE
    engine.to_parquet(groups_query(schema), staging / GROUPS_FILE)
    engine.register_parquet("rollup_groups", [staging / GROUPS_FILE])
    rows = engine.to_parquet(rollup_query(schema), table)
    sums = rollup_sums(schema)
    engine.register_parquet("rollup_staged", [table])
    names = engine.to_arrow(exp.select("g", "event", "business_line").from_("rollup_groups"))
    counts = {
        r["g"]: r for r in engine.to_arrow(group_rows_query("rollup_staged", sums)).to_pylist()
    }
    groups = []
    for g, event, line in zip(*(names.column(i).to_pylist() for i in range(3)), strict=True):
        row = counts.get(g, {"rows": 0})
        groups.append({**row, "g": g, "event": event, "business_line": line})
    groups.sort(key=lambda r: int(r["g"]))
    bounds = engine.to_arrow(
        exp.select(
            exp.alias_(exp.Min(this=exp.column("day")), "lo"),
            exp.alias_(exp.Max(this=exp.column("day")), "hi"),
        ).from_("rollup_staged")
    )
    first = bounds.column("lo")[0].as_py() or dt.date(1970, 1, 1)
    last = bounds.column("hi")[0].as_py() or first
    writer = RollupWriter(staging / ROLLUP_DIR, groups, sums, first, last, n_users)
    t1 = time.perf_counter()
    columns = ["day", "uid", "n", *(sum_column(p) for p in sums)]
    for batch in pq.ParquetFile(table).iter_batches(batch_size=_BATCH_ROWS, columns=columns):
        writer.add(batch)
    any_file = staging / ".rollup_any.parquet"
    any_rows = engine.to_parquet(rollup_any_query("rollup_staged", first), any_file)
    writer.finish(pq.ParquetFile(any_file).iter_batches(batch_size=_BATCH_ROWS), any_rows)
    any_file.unlink()
    return RollupManifest(
        format=FORMAT,
        sums=tuple(sums),
        seconds=time.perf_counter() - t0,
        details={
            "rows": rows,
            "any_rows": any_rows,
            "first_day": first.isoformat(),
            "last_day": last.isoformat(),
            "groups": len(groups),
            "query_seconds": t1 - t0,
            "spans_seconds": writer.spans_seconds,
        },
    )
