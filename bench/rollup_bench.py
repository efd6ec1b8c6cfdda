"""Rollup benchmark: behaviour conditions over the event rollup index, read from its days only
(format 2) and from its spans (format 3).

A report, not a pass/fail test. On an existing demo workspace (never rebuilt or changed) it
copies the rollup index's day arrays into a scratch folder, ``--tile T`` times over (T blocks of
2^20 users, each holding the workspace's users again with their ids moved up a block: the 1M
demo tiled 10 times is a 10.5M-user index of the same shape as the 10M demo's), as a format 2
index, then adds the spans to a hard-linked copy of it (timed: wall and CPU). For each of the
three behaviour conditions of ``audience_bench.py`` part 4 it times ``measure`` + ``compare``
on both indexes (wall and CPU time of this process, p50 and minimum of ``--runs`` interleaved
runs after two warm-ups), counts the rows each reads, and checks that both select the same
users.

Usage::

    .venv/bin/python bench/rollup_bench.py --workdir /path/to/demo-ws [--tile 10] [--runs 21]

It prints a markdown report and writes the same data as JSON to
``bench/results/rollup-<users>.json``. The scratch folder (``--scratch``, default a temporary
folder beside the workspace) is deleted afterwards unless ``--keep``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib.format import open_memmap

import portrait
from portrait.index.rollup import RollupIndex, add_spans, compare

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import MIN_RUNS, WARMUP, host_facts, ms, write_results

DAY_FILES = ("uid.npy", "n.npy", "any_uid.npy", "any_n.npy")


@dataclass(frozen=True)
class Condition:
    key: str
    text: str
    measure: str
    event: str | None
    line: str | None
    op: str
    value: float | list[float]


CONDITIONS = [
    Condition("view_gt_3", 'events("view", last="30d") > 3', "count", "view", None, ">", 3.0),
    Condition(
        "active_days_8_10",
        'active_days(last="30d") between 8 and 10',
        "active_days",
        None,
        None,
        "between",
        [8.0, 10.0],
    ),
    Condition(
        "search_in_line",
        'events("search", line="new_house", last="30d") >= 1',
        "count",
        "search",
        "new_house",
        ">=",
        1.0,
    ),
]
WINDOW_DAYS = 30


def tile(source: Path, target: Path, times: int) -> dict[str, Any]:
    """The day arrays of the index in ``source`` repeated ``times`` times, one block of users
    each, as a format 2 index in ``target`` (groups keep their order; no property sums)."""
    meta = json.loads((source / "meta.json").read_text("utf-8"))
    offsets = np.load(source / "offsets.npy")
    if offsets.shape[1] != 1 and times != 1:
        sys.exit("--tile needs an index of one block of users (at most 1,048,576 users)")
    block = int(meta["block"])
    target.mkdir(parents=True)
    if times == 1:
        for name in (*DAY_FILES, "offsets.npy"):
            (target / name).hardlink_to(source / name)
        out_meta = {k: v for k, v in meta.items() if k not in ("spans", "largest_n")}
        out_meta.update(format=2, sums=[])
        out_meta["groups"] = [{**g, "sums": {}} for g in meta["groups"]]
        (target / "meta.json").write_text(json.dumps(out_meta), "utf-8")
        return out_meta
    groups = offsets.shape[0] - 1
    uid, n = np.load(source / "uid.npy", mmap_mode="r"), np.load(source / "n.npy", mmap_mode="r")
    any_uid = np.load(source / "any_uid.npy", mmap_mode="r")
    any_n = np.load(source / "any_n.npy", mmap_mode="r")
    out_uid = open_memmap(target / "uid.npy", "w+", np.uint32, (len(uid) * times,))
    out_n = open_memmap(target / "n.npy", "w+", np.uint32, (len(n) * times,))
    tiled = np.zeros((groups + 1, times, offsets.shape[2]), dtype=np.int64)
    for g in range(groups):
        lo, hi = int(offsets[g, 0, 0]), int(offsets[g, 0, -1])
        for b in range(times):
            at = times * lo + b * (hi - lo)
            out_uid[at : at + hi - lo] = uid[lo:hi] + np.uint32(b * block)
            out_n[at : at + hi - lo] = n[lo:hi]
            tiled[g, b] = at + (offsets[g, 0] - lo)
    rows = len(any_uid)
    out_any_uid = open_memmap(target / "any_uid.npy", "w+", np.uint32, (rows * times,))
    out_any_n = open_memmap(target / "any_n.npy", "w+", np.uint32, (rows * times,))
    for b in range(times):
        out_any_uid[b * rows : (b + 1) * rows] = any_uid + np.uint32(b * block)
        out_any_n[b * rows : (b + 1) * rows] = any_n
        tiled[groups, b] = b * rows + offsets[groups, 0]
    for array in (out_uid, out_n, out_any_uid, out_any_n):
        array.flush()
    np.save(target / "offsets.npy", tiled)
    out_meta = {k: v for k, v in meta.items() if k not in ("spans", "largest_n")}
    out_meta.update(format=2, blocks=times, sums=[])
    out_meta["groups"] = [{**g, "rows": g["rows"] * times, "sums": {}} for g in meta["groups"]]
    (target / "meta.json").write_text(json.dumps(out_meta), "utf-8")
    return out_meta


@dataclass
class Side:
    label: str
    run: Callable[[], int]
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    answer: int | None = None

    def call(self) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        self.answer = self.run()
        self.wall.append(time.perf_counter() - wall)
        self.cpu.append(time.process_time() - cpu)

    def stats(self) -> dict[str, float]:
        return {
            "wall_p50": float(np.median(self.wall)),
            "wall_min": min(self.wall),
            "cpu_p50": float(np.median(self.cpu)),
            "cpu_min": min(self.cpu),
        }


def rows_read(index: RollupIndex, cond: Condition, start: dt.date, end: dt.date) -> int:
    days = index._day_range(start, end)
    if days is None:
        return 0
    sources = index._sources(cond.measure, cond.event, cond.line, None)
    dtype = np.uint16 if cond.measure == "active_days" else np.uint32
    return sum(
        len(uids)
        for b in range(index.offsets.shape[1])
        for uids, _ in index._block_slices(sources, b, days[0], days[1], dtype)
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--workdir", type=Path, required=True, help="an existing demo workspace")
    parser.add_argument("--tile", type=int, default=1, help="blocks of users to tile (default 1)")
    parser.add_argument("--runs", type=int, default=21, help=f"timed runs (at least {MIN_RUNS})")
    parser.add_argument("--scratch", type=Path, default=None, help="scratch folder")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    args = parser.parse_args(argv)
    if args.runs < MIN_RUNS:
        parser.error(f"--runs must be at least {MIN_RUNS}")
    if args.tile < 1:
        parser.error("--tile must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    ws = portrait.open(args.workdir)
    snap = ws.built
    if snap.rollup_dir is None:
        sys.exit(f"{args.workdir} has no event rollup; load events and run 'portrait build'")
    scratch = Path(
        tempfile.mkdtemp(prefix="rollup-bench-", dir=args.scratch or args.workdir.parent)
    )
    try:
        days_dir, spans_dir = scratch / "days", scratch / "spans"
        started = time.perf_counter()
        meta = tile(snap.rollup_dir, days_dir, args.tile)
        tile_seconds = time.perf_counter() - started
        spans_dir.mkdir()
        for item in days_dir.iterdir():
            (spans_dir / item.name).hardlink_to(item)
        wall, cpu = time.perf_counter(), time.process_time()
        add_spans(spans_dir)
        spans_wall, spans_cpu = time.perf_counter() - wall, time.process_time() - cpu
        indexes = {"days": RollupIndex(days_dir), "spans": RollupIndex(spans_dir)}
        users = int(meta["blocks"]) * int(meta["block"]) if args.tile > 1 else snap.users
        end = snap.as_of or indexes["days"].last_day
        start = end - dt.timedelta(days=WINDOW_DAYS - 1)
        day_rows = sum(
            len(np.load(days_dir / f, mmap_mode="r")) for f in ("uid.npy", "any_uid.npy")
        )
        span_rows = sum(
            len(np.load(spans_dir / f, mmap_mode="r")) for f in ("span_uid.npy", "any_span_uid.npy")
        )

        def members(index: RollupIndex, cond: Condition) -> Any:
            values = index.measure(
                cond.measure, start, end, users, event=cond.event, business_line=cond.line
            )
            return compare(values, cond.op, cond.value)

        results: dict[str, Any] = {}
        for cond in CONDITIONS:
            sides = [
                Side(name, lambda index=index, cond=cond: len(members(index, cond)))
                for name, index in indexes.items()
            ]
            for side in sides:
                for _ in range(WARMUP):
                    side.run()
            for r in range(args.runs):
                for side in sides[r % 2 :] + sides[: r % 2]:
                    side.call()
            results[cond.key] = {
                "rule": cond.text,
                "users": sides[0].answer,
                "same": members(indexes["days"], cond) == members(indexes["spans"], cond),
                **{
                    side.label: {
                        **side.stats(),
                        "rows": rows_read(indexes[side.label], cond, start, end),
                    }
                    for side in sides
                },
            }
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    cpu_model, _, usable = host_facts()
    print(f"## Rollup benchmark — {users:,} users ({args.tile} × the workspace's index)\n")
    print(
        f"{cpu_model}, {usable} cores, load average {os.getloadavg()[0]:.1f}; window: the "
        f"{WINDOW_DAYS} days to {end}; {args.runs} runs after {WARMUP} warm-ups, interleaved\n"
    )
    print(
        "| condition | index | rows read | wall p50 ms | wall min ms | CPU p50 ms | users | same |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---|")
    for item in results.values():
        for label in indexes:
            s = item[label]
            print(
                f"| `{item['rule']}` | {label} | {s['rows']:,} | {ms(s['wall_p50'])} | "
                f"{ms(s['wall_min'])} | {ms(s['cpu_p50'])} | {item['users']:,} | "
                f"{'yes' if item['same'] else '**no**'} |"
            )
    print(
        f"\nSpans added in {spans_wall:.1f} s ({spans_cpu:.1f} s CPU) to {day_rows:,} day rows: "
        f"{span_rows:,} span rows (+{span_rows / max(day_rows, 1):.0%}); tiling took "
        f"{tile_seconds:.1f} s."
    )
    write_results(
        Path(__file__).resolve().parent / "results",
        f"rollup-{users}",
        {
            "users": users,
            "tile": args.tile,
            "window_end": end.isoformat(),
            "load_average": os.getloadavg(),
            "add_spans_seconds": spans_wall,
            "add_spans_cpu_seconds": spans_cpu,
            "day_rows": day_rows,
            "span_rows": span_rows,
            "conditions": results,
        },
    )


if __name__ == "__main__":
    main()
