"""Insight benchmark: Portrait's audience insight against DuckDB and polars.

A report, not a pass/fail test. On an existing workspace (``--workdir``; it is never rebuilt)
it measures ``ws.insight(audience)`` (every default tag, the population as baseline) for two
audiences, with warm caches, ``--runs`` timed rounds after two warm-ups, the sides interleaved
round by round (the order rotating), and reports p50, p99 and min:

- a **large audience**, ``gender = "女" and age >= N`` with N chosen to give about 25% of users;
- a **small audience**, the large rule plus ``city = … and age_band = …`` (the pair giving
  closest to 1%).

Each audience is materialised once, outside the timing (``ws.select(rule)``), and the Audience
object is passed to ``ws.insight``. Portrait counts with bitmap intersection cardinalities,
choosing per bitmap by estimated cost: one count per single-valued tag derived from the others,
mid-sized values counted on their (dense) complement, sparse numeric tags on their bins (see
``portrait.analysis.insight``). The first call builds these (untimed: the warm-ups).

The same counts, per (tag, value), for the target and for every user:

- **DuckDB** over an in-memory table holding the profile's columns of those tags (loaded once,
  untimed) plus two BOOLEAN columns ``t_large`` and ``t_small`` marking the audiences' members
  (built from the audiences' uids). One query per tag: value tags
  ``SELECT col, count(*) FILTER (WHERE t), count(*) FROM p GROUP BY col``; list tags the same
  over ``UNNEST(list_distinct(col))`` (a member counts once under each value it holds) and a
  second aggregate for the missing (NULL or empty list); numeric tags grouped by a ``CASE WHEN
  col <= b1 THEN 0 WHEN col <= b2 THEN 1 …`` over the breakpoints Portrait reports
  (``_chosen_breakpoints`` of the tag's range index; timestamps compared as ``epoch_us``).
- **polars** over an in-memory DataFrame of the same columns (timestamps as Int64
  microseconds), one lazy query per tag run together by ``pl.collect_all``: ``group_by`` on the
  column, list tags ``list.unique`` + ``explode``, numeric tags a
  ``when(col <= b1).then(0).when(col <= b2)…`` chain at the same breakpoints (right-closed bins, as Portrait's).

Every side's per-(tag, value) target and baseline counts are checked equal to Portrait's rows.

Usage::

    .venv/bin/python bench/insight_bench.py --workdir /path/to/ws [--runs 11] [--no-polars]

It prints a markdown report and writes the same data as JSON to
``bench/results/insight-<users>.json``.

Targets (reported, never enforced): Portrait p50 <= 25 ms for the 25% audience (at 10M
users), at least 10x faster than DuckDB.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

import portrait
from benchlib import (
    MIN_RUNS,
    WARMUP,
    base_facts,
    mib,
    ms,
    sample_stats,
    time_sides,
    write_results,
)
from portrait.analysis.counting import _chosen_breakpoints, range_labels
from portrait.analysis.insight import MISSING
from portrait.index import RangeIndex
from portrait.workspace import Audience, Workspace

RESULTS_DIR = Path(__file__).resolve().parent / "results"
GENDER = "女"
LARGE_SHARE = 0.25
SMALL_SHARE = 0.01
AGE_CANDIDATES = range(18, 61)
TARGET_P50_MS = 25.0
TARGET_VS_DUCKDB = 10.0

#: (tag, value label) -> (target count, baseline count)
Counts = dict[tuple[str, str], tuple[int, int]]


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def sql_number(value: float, value_type: str) -> str:
    if value_type == "float":
        return f"CAST('{float(value)!r}' AS DOUBLE)"
    return str(int(value))


@dataclass
class Side:
    """One way of computing the insight counts: ``run`` returns them as :data:`Counts`."""

    key: str
    label: str
    run: Callable[[], Counts]
    samples: list[float] = field(default_factory=list)
    results: list[Counts] = field(default_factory=list)
    error: str | None = None

    def call(self) -> float:
        started = time.perf_counter()
        result = self.run()
        seconds = time.perf_counter() - started
        if not self.results or result != self.results[0]:
            self.results.append(result)  # keep the distinct answers only
        return seconds

    @property
    def result(self) -> Counts | None:
        return self.results[0] if len(self.results) == 1 else None

    def stats(self) -> dict[str, float | None]:
        return sample_stats(self.samples)

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "error": self.error,
            "answers_agree": len(self.results) <= 1,
            "runs": len(self.samples),
            **{f"{k}_s": v for k, v in self.stats().items()},
            "samples_s": self.samples,
        }


def compare(expected: Counts | None, got: Counts | None) -> tuple[bool, bool, str]:
    """(targets equal, baselines equal, a note on the first difference)."""
    if expected is None or got is None:
        return False, False, "no stable answer"
    keys = sorted(set(expected) | set(got))
    t_diff = [k for k in keys if expected.get(k, (0, 0))[0] != got.get(k, (0, 0))[0]]
    b_diff = [k for k in keys if expected.get(k, (0, 0))[1] != got.get(k, (0, 0))[1]]
    note = ""
    if t_diff or b_diff:
        k = (t_diff or b_diff)[0]
        note = (
            f"{len(t_diff)} target / {len(b_diff)} baseline differences, e.g. {k}: "
            f"Portrait {expected.get(k)} vs {got.get(k)}"
        )
    return not t_diff, not b_diff, note


# --------------------------------------------------------------------------------------------
# the audiences
# --------------------------------------------------------------------------------------------


def pick_rules(ws: Workspace) -> tuple[str, str]:
    """The large rule (share nearest 25%) and the small one (nearest 1%)."""
    best: tuple[float, str] | None = None
    for age in AGE_CANDIDATES:
        rule = f'gender = "{GENDER}" and age >= {age}'
        gap = abs(float(ws.count(rule)["share"]) - LARGE_SHARE)
        if best is None or gap < best[0]:
            best = (gap, rule)
    assert best is not None
    large = best[1]
    index = ws.index()
    small_best: tuple[float, str] | None = None
    for city in index.values("city").values:
        for band in index.values("age_band").values:
            rule = f'{large} and city = "{city}" and age_band = "{band}"'
            gap = abs(float(ws.count(rule)["share"]) - SMALL_SHARE)
            if small_best is None or gap < small_best[0]:
                small_best = (gap, rule)
    assert small_best is not None
    return large, small_best[1]


def portrait_counts(ws: Workspace, audience: Audience) -> Counts:
    report = ws.insight(audience)
    return {(r["tag"], r["value"]): (int(r["target"]), int(r["baseline"])) for r in report.rows}


# --------------------------------------------------------------------------------------------
# the tags as the other engines see them
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tag:
    name: str
    type: str  # the tag's value type
    kind: str  # "value", "list" or "range"
    breakpoints: list[float] = field(default_factory=list)  # range: the chosen breakpoints
    labels: list[str] = field(default_factory=list)  # range: Portrait's label per bin


def describe_tags(ws: Workspace, names: list[str]) -> list[Tag]:
    profile = ws.selector().profile
    index = ws.index()
    tags = []
    for name in names:
        value_type = str(profile.tags[name]["type"])
        tag_index = index.tag(name)
        if isinstance(tag_index, RangeIndex):
            chosen = _chosen_breakpoints(tag_index)
            tags.append(
                Tag(
                    name,
                    value_type,
                    "range",
                    [tag_index.breakpoints[k].item() for k in chosen],
                    range_labels(tag_index, value_type, chosen),
                )
            )
        else:
            tags.append(Tag(name, value_type, "list" if value_type.startswith("list") else "value"))
    return tags


def label_of(tag: Tag, value: Any) -> str:
    """Portrait's row label for a value an engine grouped by (a bin number for ranges)."""
    if value is None:
        return MISSING
    if tag.kind == "range":
        return tag.labels[int(value)]
    return str(value)


def load_table(ws: Workspace, tags: list[Tag], members: dict[str, np.ndarray]) -> pa.Table:
    """The tags' profile columns, plus a BOOLEAN membership column per audience."""
    table = pq.read_table(ws.built.profile_file, columns=["uid", *(t.name for t in tags)])
    uid = table.column("uid").to_numpy()
    for name, uids in members.items():
        mask = np.zeros(int(uid.max(initial=-1)) + 1, dtype=bool)
        mask[uids] = True
        table = table.append_column(name, pa.array(mask[uid]))
    return table


class DuckSide:
    def __init__(self, con: duckdb.DuckDBPyConnection, tags: list[Tag]) -> None:
        self.con = con
        self.tags = tags

    def query(self, tag: Tag, flag: str) -> list[str]:
        col = quote(tag.name)
        t = quote(flag)
        if tag.kind == "value":
            return [f"SELECT {col}, count(*) FILTER (WHERE {t}), count(*) FROM p GROUP BY 1"]
        if tag.kind == "list":
            return [
                f"SELECT v, count(*) FILTER (WHERE {t}), count(*) FROM "
                f"(SELECT UNNEST(list_distinct({col})) AS v, {t} FROM p) GROUP BY 1",
                f"SELECT NULL, count(*) FILTER (WHERE {t}), count(*) FROM p "
                f"WHERE {col} IS NULL OR len({col}) = 0",
            ]
        value = f"epoch_us({col})" if tag.type == "timestamp" else col
        cases = " ".join(
            f"WHEN {value} <= {sql_number(b, tag.type)} THEN {i}"
            for i, b in enumerate(tag.breakpoints)
        )
        return [f"SELECT CASE {cases} END, count(*) FILTER (WHERE {t}), count(*) FROM p GROUP BY 1"]

    def run(self, flag: str) -> Counts:
        out: Counts = {}
        for tag in self.tags:
            for sql in self.query(tag, flag):
                for value, target, total in self.con.execute(sql).fetchall():
                    out[(tag.name, label_of(tag, value))] = (int(target), int(total))
        return out


class PolarsSide:
    def __init__(self, table: pa.Table, tags: list[Tag]) -> None:
        import polars as pl

        self.pl = pl
        columns = {}
        for name in table.column_names:
            column = table.column(name)
            if pa.types.is_timestamp(column.type):
                column = pc.cast(column, pa.int64())
            columns[name] = column
        self.df = pl.from_arrow(pa.table(columns))
        self.tags = tags

    def frames(self, tag: Tag, flag: str) -> list[Any]:
        pl = self.pl
        lazy = self.df.lazy()
        col, t = pl.col(tag.name), pl.col(flag)
        agg = (t.sum().alias("t"), pl.len().alias("n"))
        if tag.kind == "value":
            return [lazy.group_by(tag.name).agg(*agg)]
        if tag.kind == "list":
            missing = col.is_null() | (col.list.len() == 0)
            return [
                lazy.select(col.list.unique(), t)
                .explode(tag.name)
                .drop_nulls(tag.name)
                .group_by(tag.name)
                .agg(*agg),
                lazy.select(
                    pl.lit(None, dtype=pl.Int64).alias(tag.name),
                    (missing & t).sum().alias("t"),
                    missing.sum().alias("n"),
                ),
            ]
        binned: Any = pl.when(col <= tag.breakpoints[0]).then(0)
        for i, b in enumerate(tag.breakpoints[1:], start=1):
            binned = binned.when(col <= b).then(i)
        return [lazy.group_by(binned.alias(tag.name)).agg(*agg)]

    def run(self, flag: str) -> Counts:
        plan = [(tag, frame) for tag in self.tags for frame in self.frames(tag, flag)]
        results = self.pl.collect_all([frame for _, frame in plan])
        out: Counts = {}
        for (tag, _), result in zip(plan, results, strict=True):
            for value, target, total in result.iter_rows():
                out[(tag.name, label_of(tag, value))] = (int(target), int(total))
        return out


# --------------------------------------------------------------------------------------------
# the report
# --------------------------------------------------------------------------------------------


def machine_facts(con: duckdb.DuckDBPyConnection, polars_ok: bool) -> dict[str, Any]:
    polars_version = polars_threads = None
    if polars_ok:
        import polars as pl

        polars_version, polars_threads = pl.__version__, pl.thread_pool_size()
    import pyroaring

    return {
        **base_facts(con),
        "polars": polars_version,
        "polars_threads": polars_threads,
        "numpy": np.__version__,
        "pyroaring": getattr(pyroaring, "__version__", "?"),
        "portrait": getattr(portrait, "__version__", "?"),
    }


def side_table(sides: list[Side], reference: Side) -> list[str]:
    lines = [
        "| side | p50 ms | p99 ms | min ms | ÷ Portrait p50 | target counts = Portrait "
        "| baseline counts = Portrait |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    ref = reference.stats()["p50"]
    for side in sides:
        if side.error is not None and not side.samples:
            lines.append(f"| {side.label} | — | — | — | — | {side.error} | — |")
            continue
        st = side.stats()
        ratio = f"{st['p50'] / ref:,.1f}x" if ref and st["p50"] is not None else "—"
        if side is reference:
            same_t = same_b = "—" if reference.result is not None else "no (runs differ)"
        else:
            t_ok, b_ok, _ = compare(reference.result, side.result)
            same_t, same_b = ("yes" if t_ok else "**NO**"), ("yes" if b_ok else "**NO**")
        lines.append(
            f"| {side.label} | {ms(st['p50'])} | {ms(st['p99'])} | {ms(st['min'])} | {ratio} "
            f"| {same_t} | {same_b} |"
        )
    return lines


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--workdir", type=Path, required=True, help="an existing workspace; it is never rebuilt"
    )
    parser.add_argument(
        "--runs", type=int, default=11, help=f"timed rounds (default 11, at least {MIN_RUNS})"
    )
    parser.add_argument("--no-polars", action="store_true", help="skip the polars sides")
    args = parser.parse_args(argv)
    if args.runs < MIN_RUNS:
        parser.error(f"--runs must be at least {MIN_RUNS}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    load_before = os.getloadavg()[0]
    if not (args.workdir / "portrait.toml").exists():
        sys.exit(f"no Portrait workspace in {args.workdir}")
    ws = portrait.open(args.workdir)
    if ws.built.path is None:
        sys.exit(f"{args.workdir} has no built profile")
    n_users = int(ws.built.manifest.get("users", 0))
    print("choosing the audiences …", flush=True)
    large_rule, small_rule = pick_rules(ws)
    audiences = {"t_large": ws.select(large_rule), "t_small": ws.select(small_rule)}
    rules = {"t_large": large_rule, "t_small": small_rule}
    tag_names = ws.insights.comparable_tags(None)
    tags = describe_tags(ws, tag_names)
    probe = ws.insight(audiences["t_large"])
    print(f"loading {len(tags)} tag columns of {n_users:,} users …", flush=True)
    started = time.perf_counter()
    members = {k: np.asarray(a.uids(), dtype=np.int64) for k, a in audiences.items()}
    table = load_table(ws, tags, members)
    arrow_s = time.perf_counter() - started
    con = duckdb.connect(":memory:")
    con.execute("SET enable_progress_bar = false")
    threads = int(ws.config["engine.threads"] or 0)
    if threads:
        con.execute(f"SET threads = {threads}")
    started = time.perf_counter()
    con.register("arrow_profile", table)
    con.execute("CREATE TABLE p AS SELECT * FROM arrow_profile")
    con.unregister("arrow_profile")
    duck_load_s = time.perf_counter() - started
    duck_bytes = int(
        con.execute("SELECT sum(memory_usage_bytes) FROM duckdb_memory()").fetchall()[0][0] or 0
    )
    duck = DuckSide(con, tags)
    polars_side: PolarsSide | None = None
    polars_load_s = None
    if not args.no_polars:
        try:
            started = time.perf_counter()
            polars_side = PolarsSide(table, tags)
            polars_load_s = time.perf_counter() - started
        except ImportError:
            polars_side = None
    del table
    gc.collect()
    print(f"loaded: Arrow {arrow_s:.1f} s, DuckDB {duck_load_s:.1f} s", flush=True)

    parts: dict[str, list[Side]] = {}
    for flag, audience in audiences.items():
        print(f"timing {rules[flag]} …", flush=True)
        sides = [
            Side(
                "portrait",
                "**Portrait `ws.insight(audience)`**",
                lambda a=audience: portrait_counts(ws, a),
            ),
            Side("duckdb", "DuckDB in memory, one query per tag", lambda f=flag: duck.run(f)),
        ]
        if polars_side is not None:
            ps = polars_side
            sides.append(
                Side("polars", "polars in memory, `collect_all`", lambda f=flag, ps=ps: ps.run(f))
            )
        time_sides(sides, args.runs)
        parts[flag] = sides
    load_after = os.getloadavg()[0]
    machine = machine_facts(con, polars_side is not None)
    con.close()

    kinds = {k: sum(1 for t in tags if t.kind == k) for k in ("value", "list", "range")}
    lines = [
        f"## Portrait insight benchmark — {n_users:,} users",
        "",
        f"Machine: {machine['nproc']} cores ({machine['cpu']}), {machine['ram']} RAM, Python "
        f"{machine['python']}, DuckDB {machine['duckdb']} ({machine['duckdb_threads']} threads), "
        f"polars {machine['polars'] or '—'} ({machine['polars_threads'] or '—'} threads); load "
        f"average {load_before:.1f} before, {load_after:.1f} after.",
        f"Data: {n_users:,} users; workspace {ws.root}; profile version {ws.built.version}. "
        f"{len(tags)} tags ({kinds['value']} value, {kinds['list']} list, {kinds['range']} "
        f"numeric in ≤ 12 bins), {len(probe.rows)} rows per insight (missing rows included).",
        f"Timing: warm caches; {args.runs} timed rounds after {WARMUP} warm-ups, the sides "
        "interleaved round by round. Portrait is single-threaded; DuckDB and polars use their "
        "threads. Loading (untimed): Arrow read + membership columns "
        f"{arrow_s:.1f} s, DuckDB table {duck_load_s:.1f} s ({mib(duck_bytes)} in DuckDB memory)"
        + (f", polars DataFrame {polars_load_s:.1f} s" if polars_load_s is not None else "")
        + ".",
    ]
    payload_parts = {}
    for flag, sides in parts.items():
        size = len(audiences[flag])
        lines += [
            "",
            f"### {'Large' if flag == 't_large' else 'Small'} audience: `{rules[flag]}` "
            f"({size:,} users, {size / n_users:.1%})",
            "",
            *side_table(sides, sides[0]),
        ]
        for side in sides[1:]:
            _, _, note = compare(sides[0].result, side.result)
            if note:
                lines.append(f"- {side.label}: {note}")
        payload_parts[flag] = {
            "rule": rules[flag],
            "size": size,
            "sides": [s.to_json() for s in sides],
            "counts_equal": {
                s.key: dict(
                    zip(("target", "baseline"), compare(sides[0].result, s.result)[:2], strict=True)
                )
                for s in sides[1:]
            },
        }
    large = parts["t_large"]
    p50 = large[0].stats()["p50"]
    duck_p50 = large[1].stats()["p50"]
    targets = {}
    if p50 is not None:
        targets["p50_ms"] = {"value": p50 * 1e3, "goal": TARGET_P50_MS, "met": p50 * 1e3 <= 25}
        if duck_p50 is not None:
            ratio = duck_p50 / p50
            targets["vs_duckdb"] = {
                "value": ratio,
                "goal": TARGET_VS_DUCKDB,
                "met": ratio >= TARGET_VS_DUCKDB,
            }
    if targets:
        lines += ["", "Targets (large audience; reported, never enforced): "]
        text = [f"Portrait p50 {p50 * 1e3:,.1f} ms (≤ {TARGET_P50_MS:.0f} ms: "]
        text[0] += "met)" if targets["p50_ms"]["met"] else "MISSED)"
        if "vs_duckdb" in targets:
            t = targets["vs_duckdb"]
            text.append(
                f"{t['value']:,.1f}x faster than DuckDB (≥ {TARGET_VS_DUCKDB:.0f}x: "
                + ("met)" if t["met"] else "MISSED)")
            )
        lines[-1] += "; ".join(text) + "."
    print()
    print("\n".join(lines))

    payload = {
        "benchmark": "insight",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "args": {"workdir": str(ws.root), "runs": args.runs, "warmup": WARMUP},
        "machine": machine,
        "data": {"users": n_users, "profile_version": ws.built.version},
        "tags": [t.name for t in tags],
        "tag_kinds": kinds,
        "rows": len(probe.rows),
        "load_seconds": {"arrow": arrow_s, "duckdb": duck_load_s, "polars": polars_load_s},
        "duckdb_memory_bytes": duck_bytes,
        "audiences": payload_parts,
        "targets": targets,
    }
    write_results(RESULTS_DIR, f"insight-{n_users}", payload)
    return 0


if __name__ == "__main__":
    sys.exit(main())
