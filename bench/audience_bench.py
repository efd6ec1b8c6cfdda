"""Audience benchmark: Portrait's rule evaluation against DuckDB, polars and chdb.

A report, not a pass/fail test. On an existing demo workspace (it is never rebuilt; ``--create``
makes one only where there is none) it measures, with warm caches, the p50, p99 and minimum of
``--runs`` timed runs after two warm-up runs, the sides of a part interleaved round by round so
that machine noise treats them alike:

1. **A 5-condition rule** (two categorical ``in``, a numeric range, ``not segment(...)``, an
   equality) counted by Portrait (``ws.count``: cached, uncached, and the bare
   ``evaluate_rule``) and by the best cases of other engines: DuckDB over an in-memory table with
   ENUM columns, polars over an in-memory DataFrame with ``pl.Enum`` columns, DuckDB and polars
   over the profile Parquet file, chdb (embedded ClickHouse) over ``groupBitmap`` bitmaps, plus
   numpy floors (summing the five in-memory columns; a boolean-mask filter). Every side's count
   is checked against Portrait's.
2. **Materialising a large audience** (about 25% of users): ``ws.select(rule).uids()``.
3. **The CLI end to end**: ``portrait count RULE -w WS -f json`` in a subprocess, and
   ``portrait --help`` for the interpreter and import start-up.
4. **Behaviour conditions** over a 30-day window (uncached) against hand-written DuckDB SQL over
   the warehouse's events Parquet files.
5. **The index**: size on disk, size in memory with every tag index loaded, load time, build time.

It prints a markdown report and writes the same data as JSON to
``bench/results/audience-<users>.json``.

Usage::

    .venv/bin/python bench/audience_bench.py --workdir /path/to/demo-ws [--runs 21]
    .venv/bin/python bench/audience_bench.py --create --users 200000 [--workdir DIR]

Options: ``--runs N`` (default 21, at least 11), ``--cli-runs N`` (default 5, at least 5),
``--sql-runs N`` (hand SQL over the raw events, default 5 after 1 warm-up: at 10M users a run
scans a month of events), ``--no-polars``, ``--no-chdb``, ``--install-chdb`` (try
``pip install chdb`` when it is missing), ``--no-cli``. The default ``--workdir`` is
``<tmp>/portrait-bench/u<users>-s<seed>``, as for ``build_bench.py``.

The benchmark saves (or replaces) the dynamic segment ``bench_churned`` in the workspace and
leaves it there; nothing else in the workspace changes.

Targets (reported, never enforced): the 5-condition count p50 <= 3 ms and p99 <= 10 ms, at least
8x faster than DuckDB in memory and 2x faster than polars in memory; 2.5M ids materialised in
<= 5 ms (at 10M users); behaviour conditions p50 <= 100 ms; the index <= 500 MiB in memory and
rebuilt in <= 10 s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import importlib
import json
import mmap
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyroaring import AbstractBitMap

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
from portrait.audience.evaluate import Sources, evaluate_rule
from portrait.index import ProfileIndex, RangeIndex, ValueIndex
from portrait.workspace import Workspace, create_demo

RESULTS_DIR = Path(__file__).resolve().parent / "results"
MIN_CLI_RUNS = 5

SEGMENT = "bench_churned"
SEGMENT_RULE = "days_since_active > 90 or days_since_active is null"
CITIES = ("北京", "上海", "广州", "深圳")
BAND_STARTS = (25, 30, 35)  # the age bands starting at these ages, whatever their labels
AGE_LOW, AGE_HIGH = 25, 40
GENDER = "女"
LARGE_SHARE = 0.25
LARGE_AGE_CANDIDATES = range(20, 56)
BEHAVIOUR_WINDOW_DAYS = 30
PREFERRED_LINE = "new_house"

TARGET_COUNT_P50_MS = 3.0
TARGET_COUNT_P99_MS = 10.0
TARGET_VS_DUCKDB = 8.0
TARGET_VS_POLARS = 2.0
TARGET_UIDS_MS = 5.0
TARGET_UIDS_MEMBERS = 2_500_000
TARGET_BEHAVIOUR_MS = 100.0
TARGET_INDEX_MEMORY = 500 * 2**20
TARGET_INDEX_BUILD_S = 10.0

# --------------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------------


def sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def sql_list(values: Sequence[str]) -> str:
    return ", ".join(sql_string(v) for v in values)


def rule_list(values: Sequence[str]) -> str:
    return ", ".join(json.dumps(v, ensure_ascii=False) for v in values)


def dir_size(path: Path | None) -> int:
    if path is None or not path.exists():
        return 0
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def rss_bytes() -> int:
    """Resident set size of this process (Linux; 0 elsewhere)."""
    status = Path("/proc/self/status")
    if not status.exists():
        return 0
    for line in status.read_text(encoding="utf-8").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def scalar(con: duckdb.DuckDBPyConnection, query: str) -> Any:
    rows = con.execute(query).fetchall()  # fetch to the end: DuckDB 2 keeps results open
    return rows[0][0] if rows else None


def connect(threads: int) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    return con


# --------------------------------------------------------------------------------------------
# timing
# --------------------------------------------------------------------------------------------


@dataclass
class Side:
    """One way of answering a question: ``run`` returns the answer (a count), ``prepare`` runs
    untimed before each timed call (e.g. clearing a cache)."""

    key: str
    label: str
    run: Callable[[], int]
    prepare: Callable[[], None] | None = None
    #: False when the answer is not the audience size (a floor's checksum, a start-up time)
    counts: bool = True
    samples: list[float] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)
    error: str | None = None

    def call(self) -> float:
        if self.prepare is not None:
            self.prepare()
        started = time.perf_counter()
        answer = self.run()
        seconds = time.perf_counter() - started
        self.answers.append(int(answer))
        return seconds

    @property
    def answer(self) -> int | None:
        """The answer if every run gave the same one, else None."""
        return self.answers[0] if self.answers and len(set(self.answers)) == 1 else None

    def stats(self) -> dict[str, float | None]:
        return sample_stats(self.samples)

    @property
    def p50(self) -> float | None:
        return self.stats()["p50"]

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "error": self.error,
            "answer": self.answer,
            "answers_agree": len(set(self.answers)) <= 1,
            "runs": len(self.samples),
            **{f"{k}_s": v for k, v in self.stats().items()},
            "samples_s": self.samples,
        }


def side_table(
    sides: list[Side], reference: Side | None, expected: int | None, ratio_title: str
) -> list[str]:
    lines = [
        f"| side | p50 ms | p99 ms | min ms | {ratio_title} | answer | same as Portrait |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    ref = reference.p50 if reference is not None else None
    for side in sides:
        if side.error is not None and not side.samples:
            lines.append(f"| {side.label} | — | — | — | — | — | {side.error} |")
            continue
        st = side.stats()
        ratio = f"{st['p50'] / ref:,.1f}x" if ref and st["p50"] is not None else "—"
        answer = side.answer
        if expected is None or not side.counts:
            same = "—"
        elif answer is None:
            same = "no (answers differ between runs)"
        else:
            same = "yes" if answer == expected else f"**NO** ({answer:,} vs {expected:,})"
        shown = f"{answer:,}" if answer is not None else "—"
        lines.append(
            f"| {side.label} | {ms(st['p50'])} | {ms(st['p99'])} | {ms(st['min'])} | {ratio} "
            f"| {shown} | {same} |"
        )
    return lines


# --------------------------------------------------------------------------------------------
# the workspace and its data
# --------------------------------------------------------------------------------------------


def open_workspace(args: argparse.Namespace) -> tuple[Workspace, dict[str, Any]]:
    """The existing workspace at ``--workdir``; with ``--create``, a new demo where none is."""
    root: Path = args.workdir or (
        Path(tempfile.gettempdir()) / "portrait-bench" / f"u{args.users}-s{args.seed}"
    )
    setup: dict[str, Any] = {"workdir": str(root), "created": False}
    if not (root / "portrait.toml").exists():
        if not args.create:
            sys.exit(
                f"no Portrait workspace in {root}: pass --workdir to an existing demo workspace, "
                "or --create --users N to create one (10M users take about 20 min)"
            )
        if root.exists() and any(root.iterdir()):
            sys.exit(f"{root} exists and is not a Portrait workspace; pass another --workdir")
        print(f"creating a demo workspace with {args.users:,} users in {root} …", flush=True)
        started = time.perf_counter()
        summary = create_demo(root, users=args.users, seed=args.seed)
        setup.update(created=True, seconds=time.perf_counter() - started)
        setup["build_seconds"] = summary["build_seconds"]
    elif args.create:
        print(f"{root} already holds a workspace: reusing it (it is never rebuilt)")
    ws = portrait.open(root)
    if ws.built.path is None:
        sys.exit(f"{root} has no built profile; run 'portrait build -w {root}' first")
    return ws, setup


@dataclass(frozen=True)
class Categorical:
    """A categorical column: its sorted distinct values and per-user codes (-1: missing)."""

    values: list[str]
    codes: npt.NDArray[np.signedinteger[Any]]

    def lookup(self, wanted: Sequence[str]) -> npt.NDArray[np.bool_]:
        """A table indexed by code (and by -1, the last slot: missing) → wanted or not."""
        table = np.zeros(len(self.values) + 1, dtype=bool)
        for v in wanted:
            if v in self.values:
                table[self.values.index(v)] = True
        return table


def smallest_int(low: int, high: int) -> type[np.signedinteger[Any]]:
    for dtype in (np.int8, np.int16, np.int32):
        info = np.iinfo(dtype)
        if info.min <= low and high <= info.max:
            return dtype
    return np.int64


def categorical(column: pa.ChunkedArray) -> Categorical:
    array = column.combine_chunks()
    values = sorted(str(v) for v in pc.unique(array.drop_null()).to_pylist())
    index = pc.index_in(array, value_set=pa.array(values, pa.string()))
    codes = pc.fill_null(index, -1).to_numpy(zero_copy_only=False)
    return Categorical(values, codes.astype(smallest_int(-1, len(values))))


@dataclass(frozen=True)
class Columns:
    """The five columns of the rule, in memory, in profile (uid) order."""

    n_users: int
    city: Categorical
    age_band: Categorical
    gender: Categorical
    age: npt.NDArray[np.signedinteger[Any]]
    age_valid: npt.NDArray[np.bool_]
    churned: npt.NDArray[np.bool_]
    churned_uids: npt.NDArray[np.int64]
    age_dtype: str

    def arrow(self) -> pa.Table:
        """As an Arrow table (strings for the categoricals, the narrow int type for age)."""

        def strings(c: Categorical) -> pa.Array:
            codes = pa.array(c.codes.astype(np.int32), mask=c.codes < 0)
            return pc.take(pa.array(c.values, pa.string()), codes)

        return pa.table(
            {
                "uid": pa.array(np.arange(self.n_users, dtype=np.uint32)),
                "city": strings(self.city),
                "age_band": strings(self.age_band),
                "age": pa.array(self.age, mask=~self.age_valid),
                "gender": strings(self.gender),
                "churned": pa.array(self.churned),
            }
        )


def load_columns(profile_file: Path, churned: AbstractBitMap) -> tuple[Columns, dict[str, Any]]:
    """The rule's columns from the profile, the segment as a mask; and consistency checks."""
    table = pq.read_table(
        profile_file, columns=["uid", "city", "age_band", "age", "gender", "days_since_active"]
    )
    n = table.num_rows
    uid = table.column("uid").to_numpy()
    age_column = table.column("age").combine_chunks()
    age_valid = pc.is_valid(age_column).to_numpy(zero_copy_only=False)
    filled = pc.fill_null(age_column, 0).to_numpy(zero_copy_only=False)
    dtype = smallest_int(int(filled.min(initial=0)), int(filled.max(initial=0)))
    members = np.asarray(churned.to_array(), dtype=np.int64)
    mask = np.zeros(n, dtype=bool)
    mask[members] = True
    # The segment recomputed from the profile column, as a check of the membership used here.
    days = table.column("days_since_active").combine_chunks()
    recomputed = pc.fill_null(pc.greater(days, 90), True).to_numpy(zero_copy_only=False)
    columns = Columns(
        n_users=n,
        city=categorical(table.column("city")),
        age_band=categorical(table.column("age_band")),
        gender=categorical(table.column("gender")),
        age=filled.astype(dtype),
        age_valid=age_valid,
        churned=mask,
        churned_uids=members,
        age_dtype=np.dtype(dtype).name,
    )
    checks = {
        "uid_is_row_number": bool(np.array_equal(uid, np.arange(n))),
        "segment_equals_profile_column": bool(np.array_equal(mask, recomputed)),
        "segment_members": len(members),
    }
    return columns, checks


def pick_bands(labels: list[str]) -> list[str]:
    """The age-band labels starting at 25, 30 and 35 (e.g. "25-30" or "25-29")."""
    chosen = []
    for label in labels:
        match = re.match(r"\D*(\d+)", label)
        if match and int(match.group(1)) in BAND_STARTS and not label.startswith("<"):
            chosen.append(label)
    return chosen


@dataclass(frozen=True)
class FiveRule:
    """The 5-condition rule, written for every side from the same parts."""

    cities: tuple[str, ...]
    bands: tuple[str, ...]
    low: int
    high: int
    gender: str
    segment: str

    @property
    def text(self) -> str:
        return (
            f"city in ({rule_list(self.cities)}) and age_band in ({rule_list(self.bands)}) "
            f"and age between {self.low} and {self.high} "
            f"and not segment({rule_list([self.segment])}) "
            f"and gender = {rule_list([self.gender])}"
        )

    def sql_tags(self, alias: str = "") -> str:
        a = f"{alias}." if alias else ""
        return (
            f"{a}city IN ({sql_list(self.cities)}) AND {a}age_band IN ({sql_list(self.bands)}) "
            f"AND {a}age BETWEEN {self.low} AND {self.high} "
            f"AND {a}gender = {sql_string(self.gender)}"
        )


# --------------------------------------------------------------------------------------------
# part 1: the 5-condition rule
# --------------------------------------------------------------------------------------------


def portrait_sides(ws: Workspace, rule: str) -> list[Side]:
    selector = ws.selector()
    parsed = ws.check_rule(rule)
    sources = Sources(
        rollup=selector.profile.rollup,
        as_of=selector.profile.as_of,
        segment=selector.segment_members,
        id_list=selector.id_list_members,
        events_sql=selector.events_sql,
    )
    index = selector.profile.index

    def count() -> int:
        return int(ws.count(rule)["size"])

    def count_uncached() -> int:
        return int(ws.count(rule, cache=False)["size"])

    def bare() -> int:
        return len(evaluate_rule(parsed, index, sources))

    return [
        Side("portrait_uncached", "**a. Portrait `ws.count(cache=False)`**", count_uncached),
        Side("portrait_cached", "a. Portrait `ws.count` cached (rule, data version)", count),
        Side("portrait_evaluate_rule", "a. Portrait `evaluate_rule` (parsed, checked once)", bare),
    ]


def duckdb_sides(
    con: duckdb.DuckDBPyConnection, cols: Columns, rule: FiveRule, profile_file: Path
) -> list[Side]:
    """b. an in-memory table with ENUM columns; d. the profile Parquet with an anti-join."""
    con.register("bench_src", cols.arrow())
    enums = {"city": cols.city, "age_band": cols.age_band, "gender": cols.gender}
    for name, cat in enums.items():
        con.execute(f"CREATE TYPE {name}_enum AS ENUM ({sql_list(cat.values)})")
    age_type = {"int8": "TINYINT", "int16": "SMALLINT", "int32": "INTEGER"}.get(
        cols.age_dtype, "BIGINT"
    )
    con.execute(
        "CREATE TABLE t AS SELECT uid, city::city_enum AS city, age_band::age_band_enum AS "
        f"age_band, age::{age_type} AS age, gender::gender_enum AS gender, churned FROM bench_src"
    )
    con.unregister("bench_src")
    con.register("bench_churned_src", pa.table({"uid": cols.churned_uids}))
    con.execute("CREATE TABLE churned AS SELECT uid FROM bench_churned_src")
    con.unregister("bench_churned_src")
    in_memory = f"SELECT count(*) FROM t WHERE {rule.sql_tags()} AND NOT churned"
    parquet = (
        f"SELECT count(*) FROM read_parquet({sql_string(str(profile_file))}) AS p "
        f"WHERE {rule.sql_tags('p')} "
        "AND NOT EXISTS (SELECT 1 FROM churned AS c WHERE c.uid = p.uid)"
    )
    return [
        Side(
            "duckdb_memory", "b. DuckDB in memory (ENUM + BOOLEAN)", lambda: scalar(con, in_memory)
        ),
        Side(
            "duckdb_parquet",
            "d. DuckDB `read_parquet` + anti-join",
            lambda: scalar(con, parquet),
        ),
    ]


def polars_sides(cols: Columns, rule: FiveRule, profile_file: Path) -> tuple[list[Side], Any]:
    """c. an in-memory DataFrame with pl.Enum columns; e. a lazy Parquet scan + anti-join."""
    import polars as pl

    df = pl.from_arrow(cols.arrow())
    assert isinstance(df, pl.DataFrame)
    df = df.with_columns(
        pl.col("city").cast(pl.Enum(cols.city.values)),
        pl.col("age_band").cast(pl.Enum(cols.age_band.values)),
        pl.col("gender").cast(pl.Enum(cols.gender.values)),
    )
    tags = (
        pl.col("city").is_in(list(rule.cities))
        & pl.col("age_band").is_in(list(rule.bands))
        & pl.col("age").is_between(rule.low, rule.high)
        & (pl.col("gender") == rule.gender)
    )
    churned = pl.DataFrame({"uid": cols.churned_uids}).lazy()
    scan = (
        pl.scan_parquet(str(profile_file))
        .filter(tags)
        .join(churned, on="uid", how="anti")
        .select(pl.len())
    )
    sides = [
        Side(
            "polars_memory",
            "c. polars in memory (pl.Enum + Boolean)",
            lambda: df.filter(tags & ~pl.col("churned")).height,
        ),
        Side(
            "polars_parquet", "e. polars `scan_parquet` + anti-join", lambda: scan.collect().item()
        ),
    ]
    return sides, df


class ChdbBitmaps:
    """f. chdb (embedded ClickHouse): one groupBitmap per (column, value) and one for the
    segment, combined with bitmapAnd / bitmapAndnot; the per-condition unions are
    groupBitmapOrStateIf over the rows of a column's values."""

    def __init__(self, profile_file: Path, churned_file: Path):
        # chdb has no type hints: hold its session as Any
        module: Any = importlib.import_module("chdb.session")
        self.session: Any = module.Session()
        q = self.session.query
        q("CREATE DATABASE IF NOT EXISTS bench")
        q("DROP TABLE IF EXISTS bench.bm")
        q("DROP TABLE IF EXISTS bench.seg")
        q(
            "CREATE TABLE bench.bm (col String, val String, num Nullable(Float64), "
            "b AggregateFunction(groupBitmap, UInt32)) ENGINE = Memory"
        )
        q(
            "CREATE TABLE bench.seg (name String, b AggregateFunction(groupBitmap, UInt32)) "
            "ENGINE = Memory"
        )
        source = f"file({sql_string(str(profile_file))}, Parquet)"
        started = time.perf_counter()
        for col, numeric in (
            ("city", False),
            ("age_band", False),
            ("gender", False),
            ("age", True),
        ):
            num = f"toFloat64({col})" if numeric else "NULL"
            q(
                f"INSERT INTO bench.bm SELECT '{col}', toString({col}), {num}, "
                f"groupBitmapState(toUInt32(assumeNotNull(uid))) FROM {source} WHERE {col} IS NOT NULL "
                f"GROUP BY {col}"
            )
        q(
            f"INSERT INTO bench.seg SELECT {sql_string(SEGMENT)}, groupBitmapState(toUInt32(assumeNotNull(uid))) "
            f"FROM file({sql_string(str(churned_file))}, Parquet) WHERE uid IS NOT NULL"
        )
        self.load_seconds = time.perf_counter() - started
        self.version = str(q("SELECT version()", "CSV")).strip().strip('"')

    def count_query(self, rule: FiveRule) -> str:
        def union(condition: str) -> str:
            return f"groupBitmapOrStateIf(b, {condition})"

        tags = [
            union(f"col = 'city' AND val IN ({sql_list(rule.cities)})"),
            union(f"col = 'age_band' AND val IN ({sql_list(rule.bands)})"),
            union(f"col = 'age' AND num BETWEEN {rule.low} AND {rule.high}"),
            union(f"col = 'gender' AND val = {sql_string(rule.gender)}"),
        ]
        both = tags[0]
        for other in tags[1:]:
            both = f"bitmapAnd({both}, {other})"
        segment = f"(SELECT b FROM bench.seg WHERE name = {sql_string(rule.segment)})"
        return f"SELECT bitmapCardinality(bitmapAndnot({both}, {segment})) FROM bench.bm"

    def count(self, query: str) -> int:
        return int(str(self.session.query(query, "CSV")).strip())

    def close(self) -> None:
        self.session.close()


def chdb_available(install: bool) -> tuple[bool, str]:
    """(importable, why not). With ``install``, try ``pip install chdb`` into this venv first."""
    try:
        importlib.import_module("chdb")
    except ImportError:
        if not install:
            return False, "not installed (pass --install-chdb, or: .venv/bin/pip install chdb)"
        done = subprocess.run(
            [sys.executable, "-m", "pip", "install", "chdb"],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            errors = [ln for ln in done.stderr.splitlines() if "ERROR" in ln] or [
                (done.stderr.strip().splitlines() or ["pip failed"])[-1]
            ]
            return False, f"not installable: {errors[0]}"
        try:
            importlib.import_module("chdb")
        except ImportError as exc:
            return False, f"installed but not importable: {exc}"
    return True, ""


def numpy_sides(cols: Columns, rule: FiveRule) -> list[Side]:
    """The floor: reading the five in-memory columns once (a sum each), and the same filter as
    a hand-written boolean mask over codes (lookup tables for the ``in`` lists)."""
    city, band, gender = cols.city.codes, cols.age_band.codes, cols.gender.codes
    age, churned = cols.age, cols.churned
    city_ok = cols.city.lookup(rule.cities)
    band_ok = cols.age_band.lookup(rule.bands)
    gender_ok = cols.gender.lookup([rule.gender])
    all_ages = bool(cols.age_valid.all())

    def floor() -> int:
        return (
            int(city.sum())
            + int(band.sum())
            + int(age.sum())
            + int(gender.sum())
            + int(churned.sum())
        )

    def mask() -> int:
        keep = city_ok[city] & band_ok[band] & gender_ok[gender]
        keep &= (age >= rule.low) & (age <= rule.high)
        if not all_ages:
            keep &= cols.age_valid
        keep &= ~churned
        return int(np.count_nonzero(keep))

    return [
        Side(
            "numpy_floor",
            "floor: numpy sum over the 5 in-memory columns (answer: a checksum)",
            floor,
            counts=False,
        ),
        Side("numpy_mask", "numpy boolean mask over the 5 columns (by hand)", mask),
    ]


# --------------------------------------------------------------------------------------------
# part 2: a large audience's ids
# --------------------------------------------------------------------------------------------


def large_rule(ws: Workspace, n_users: int) -> tuple[str, int]:
    """``gender = "女" and age >= N`` with N giving the share nearest 25%."""
    best: tuple[float, str, int] | None = None
    for age in LARGE_AGE_CANDIDATES:
        text = f"gender = {json.dumps(GENDER, ensure_ascii=False)} and age >= {age}"
        size = int(ws.count(text)["size"])
        gap = abs(size / max(n_users, 1) - LARGE_SHARE)
        if best is None or gap < best[0]:
            best = (gap, text, age)
    assert best is not None
    return best[1], best[2]


def uid_sides(
    ws: Workspace,
    text: str,
    min_age: int,
    cols: Columns,
    con: duckdb.DuckDBPyConnection,
    polars_df: Any,
) -> tuple[list[Side], dict[str, bool]]:
    audience = ws.select(text)
    expected = audience.uids()

    def select_uids() -> int:
        return len(ws.select(text).uids())

    def select_uids_uncached() -> int:
        return len(ws.select(text, cache=False).uids())

    def uids_only() -> int:
        return len(audience.uids())

    gender = sql_string(GENDER)
    sql = f"SELECT uid FROM t WHERE gender = {gender} AND age >= {min_age} ORDER BY uid"

    def duck() -> npt.NDArray[Any]:
        return con.execute(sql).fetchnumpy()["uid"]

    gender_ok = cols.gender.lookup([GENDER])
    valid = cols.age_valid

    def mask_ids() -> npt.NDArray[np.intp]:
        return np.flatnonzero(gender_ok[cols.gender.codes] & (cols.age >= min_age) & valid)

    sides = [
        Side(
            "portrait_select_uids",
            "**Portrait `ws.select(rule).uids()`** (cached select)",
            select_uids,
        ),
        Side(
            "portrait_select_uids_uncached",
            "Portrait `ws.select(rule, cache=False).uids()`",
            select_uids_uncached,
        ),
        Side("portrait_uids", "Portrait `Audience.uids()` only (bitmap → numpy)", uids_only),
        Side(
            "duckdb_uids",
            "DuckDB in memory `SELECT uid … ORDER BY uid` → numpy",
            lambda: len(duck()),
        ),
        Side("numpy_flatnonzero", "numpy `flatnonzero` of a boolean mask", lambda: len(mask_ids())),
    ]
    checks = {
        "duckdb_ids_equal": bool(np.array_equal(duck().astype(np.uint32), expected)),
        "numpy_ids_equal": bool(np.array_equal(mask_ids().astype(np.uint32), expected)),
    }
    if polars_df is not None:
        import polars as pl

        keep = (pl.col("gender") == GENDER) & (pl.col("age") >= min_age)

        def polars_ids() -> npt.NDArray[Any]:
            return np.asarray(polars_df.filter(keep)["uid"].to_numpy())

        sides.insert(
            4,
            Side(
                "polars_uids",
                "polars in memory `filter(…)['uid'].to_numpy()`",
                lambda: len(polars_ids()),
            ),
        )
        checks["polars_ids_equal"] = bool(np.array_equal(polars_ids().astype(np.uint32), expected))
    return sides, checks


# --------------------------------------------------------------------------------------------
# part 3: the CLI
# --------------------------------------------------------------------------------------------


def portrait_executable() -> str | None:
    beside = Path(sys.executable).with_name("portrait")
    return str(beside) if beside.exists() else shutil.which("portrait")


def cli_sides(exe: str, root: Path, rule: str) -> tuple[list[Side], list[float]]:
    inside: list[float] = []  # the "seconds" each CLI run reports for its own count

    def count() -> int:
        done = subprocess.run(
            [exe, "count", rule, "-w", str(root), "-f", "json"],
            capture_output=True,
            text=True,
            check=True,
        )
        result = json.loads(done.stdout)
        inside.append(float(result["seconds"]))
        return int(result["size"])

    def help_text() -> int:
        subprocess.run([exe, "--help"], capture_output=True, check=True)
        return 0

    return [
        Side("cli_count", "**`portrait count RULE -w WS -f json`** (subprocess)", count),
        Side("cli_help", "`portrait --help` (start-up only)", help_text, counts=False),
    ], inside


# --------------------------------------------------------------------------------------------
# part 4: behaviour conditions
# --------------------------------------------------------------------------------------------

EVENTS_SQL = """
SELECT count(*) FROM (
    SELECT user_id
    FROM read_parquet({events})
    WHERE ts >= {start} AND ts < {end}{filters}
    GROUP BY user_id
    HAVING {measure} {comparison}
) AS e
WHERE user_id IN (SELECT user_id FROM read_parquet({profile}))
"""


@dataclass(frozen=True)
class Behaviour:
    key: str
    rule: str
    measure: str
    comparison: str
    filters: str = ""


def behaviours(line: str) -> list[Behaviour]:
    """The conditions, each with its hand-written SQL parts. None of them holds for a user
    without events, so the SQL groups the window's events and needs no outer join."""
    window = f'last="{BEHAVIOUR_WINDOW_DAYS}d"'
    return [
        Behaviour(
            "view_gt_3", f'events("view", {window}) > 3', "count(*)", "> 3", " AND event = 'view'"
        ),
        Behaviour(
            "active_days_8_10",
            f"active_days({window}) between 8 and 10",
            "count(DISTINCT ts::DATE)",
            "BETWEEN 8 AND 10",
        ),
        Behaviour(
            "search_in_line",
            f'events("search", line={json.dumps(line)}, {window}) >= 1',
            "count(*)",
            ">= 1",
            f" AND event = 'search' AND business_line = {sql_string(line)}",
        ),
    ]


def search_line(ws: Workspace) -> str:
    """A business line with search events (``new_house`` in the demo)."""
    rollup = ws.selector().profile.rollup
    if rollup is None:
        return PREFERRED_LINE
    lines = sorted(
        {g.business_line for g in rollup.groups if g.event == "search" and g.business_line}
    )
    return PREFERRED_LINE if PREFERRED_LINE in lines or not lines else lines[0]


def behaviour_sides(
    ws: Workspace, con: duckdb.DuckDBPyConnection, items: list[Behaviour], as_of: dt.date
) -> tuple[list[Side], list[Side]]:
    warehouse = ws.warehouse
    events = warehouse.tables.get("events")
    assert warehouse.path is not None
    assert events is not None
    files = "[" + ", ".join(sql_string(str(p)) for p in events.paths(warehouse.path)) + "]"
    start = as_of - dt.timedelta(days=BEHAVIOUR_WINDOW_DAYS - 1)
    end = as_of + dt.timedelta(days=1)

    def counter(rule: str) -> Callable[[], int]:
        return lambda: int(ws.count(rule, cache=False)["size"])

    def sql_counter(query: str) -> Callable[[], int]:
        return lambda: int(scalar(con, query))

    portrait_side: list[Side] = []
    sql_side: list[Side] = []
    for item in items:
        query = EVENTS_SQL.format(
            events=files,
            start=f"TIMESTAMP '{start.isoformat()} 00:00:00'",
            end=f"TIMESTAMP '{end.isoformat()} 00:00:00'",
            filters=item.filters,
            measure=item.measure,
            comparison=item.comparison,
            profile=sql_string(str(ws.built.profile_file)),
        )
        portrait_side.append(
            Side(
                f"portrait_{item.key}",
                f"Portrait `{item.rule}` uncached",
                counter(item.rule),
            )
        )
        sql_side.append(
            Side(
                f"duckdb_{item.key}",
                f"hand DuckDB SQL over events Parquet: `{item.rule}`",
                sql_counter(query),
            )
        )
    return portrait_side, sql_side


# --------------------------------------------------------------------------------------------
# part 5: the index
# --------------------------------------------------------------------------------------------


def bitmap_bytes(bitmap: AbstractBitMap) -> int:
    """A Roaring bitmap's container payload (array, bitset and run containers)."""
    stats = bitmap.get_statistics()
    return int(
        stats["n_bytes_array_containers"]
        + stats["n_bytes_bitset_containers"]
        + stats["n_bytes_run_containers"]
    )


def is_mapped(array: np.ndarray[Any, Any]) -> bool:
    """True for a view into a memory-mapped file (resident only as far as it is read)."""
    base: Any = array
    while base is not None:
        if isinstance(base, (np.memmap, mmap.mmap)):
            return True
        base = getattr(base, "base", None)
    return False


@dataclass
class Held:
    """Bytes an object holds, found by walking its attributes: ``memory`` (Roaring container
    payloads, numpy and Arrow buffers) and ``mapped`` (numpy views of memory-mapped files)."""

    memory: int = 0
    mapped: int = 0
    seen: set[int] = field(default_factory=set)

    def add(self, obj: Any) -> None:
        if id(obj) in self.seen or obj is None or isinstance(obj, (int, float, bool)):
            return
        self.seen.add(id(obj))
        if isinstance(obj, str):
            self.memory += len(obj.encode())
        elif isinstance(obj, bytes):
            self.memory += len(obj)
        elif isinstance(obj, AbstractBitMap):
            self.memory += bitmap_bytes(obj)
        elif isinstance(obj, np.ndarray):
            if is_mapped(obj):
                self.mapped += int(obj.nbytes)
            else:
                self.memory += int(obj.nbytes)
        elif isinstance(obj, (pa.Array, pa.ChunkedArray, pa.Table)):
            self.memory += int(obj.nbytes)
        elif isinstance(obj, dict):
            for value in obj.values():
                self.add(value)
        elif isinstance(obj, (list, tuple)):
            for item in obj:
                self.add(item)
        elif hasattr(obj, "__dict__"):
            for value in vars(obj).values():
                self.add(value)


def measure_index(ws: Workspace, loads: int) -> dict[str, Any]:
    snap = ws.built
    types = {n: str(m["type"]) for n, m in snap.tags.items()}
    n_users = int(snap.manifest.get("users", 0))
    seconds: list[float] = []
    rss_delta = 0
    per_tag: dict[str, Held] = {}
    own: dict[str, int] = {}  # what an index reports itself, where it has nbytes()
    kinds: dict[str, int] = {}
    for i in range(loads):
        gc.collect()
        before = rss_bytes()
        index = ProfileIndex(snap.index_dir, types, n_users)
        started = time.perf_counter()
        for name in types:
            index.tag(name)
        seconds.append(time.perf_counter() - started)
        if i == 0:
            rss_delta = rss_bytes() - before
            for name in types:
                loaded = index.tag(name)
                held = Held()
                held.add(loaded)
                per_tag[name] = held
                nbytes = getattr(loaded, "nbytes", None)
                if callable(nbytes):
                    own[name] = int(nbytes())
                kind = "range" if isinstance(loaded, RangeIndex) else "values"
                if isinstance(loaded, ValueIndex) and loaded.sparse:
                    kind = "values (grouped ids)"
                kinds[kind] = kinds.get(kind, 0) + held.memory
        del index
    rollup = ws.selector().profile.rollup
    timings = snap.manifest.get("timings", {})
    return {
        "index_dir": str(snap.index_dir),
        "index_disk_bytes": dir_size(snap.index_dir),
        "rollup_dir": str(snap.rollup_dir) if snap.rollup_dir else None,
        "rollup_disk_bytes": dir_size(snap.rollup_dir),
        "rollup_table_bytes": (
            snap.rollup_file.stat().st_size
            if snap.rollup_file is not None and snap.rollup_file.exists()
            else 0
        ),
        "rollup_mapped_bytes": rollup.nbytes() if rollup is not None else 0,
        "tags": len(types),
        "memory_bytes": sum(h.memory for h in per_tag.values()),
        "mapped_bytes": sum(h.mapped for h in per_tag.values()),
        "memory_bytes_by_kind": kinds,
        "memory_bytes_by_tag": {
            n: h.memory for n, h in sorted(per_tag.items(), key=lambda kv: -kv[1].memory)
        },
        "mapped_bytes_by_tag": {n: h.mapped for n, h in per_tag.items() if h.mapped},
        "own_nbytes_by_tag": own,
        "rss_delta_first_load_bytes": rss_delta,
        "load_seconds": seconds,
        "load_p50_s": float(np.median(seconds)),
        "load_min_s": min(seconds),
        "build_index_s": timings.get("index"),
        "build_rollup_s": timings.get("rollup"),
        "rollup_query_s": (snap.manifest.get("rollup") or {}).get("query_seconds"),
    }


# --------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------


def machine_facts(con: duckdb.DuckDBPyConnection, chdb_version: str | None) -> dict[str, Any]:
    try:
        import polars as pl

        polars_version: str | None = pl.__version__
        polars_threads: int | None = pl.thread_pool_size()
    except ImportError:
        polars_version, polars_threads = None, None
    import pyroaring

    return {
        **base_facts(con),
        "polars": polars_version,
        "polars_threads": polars_threads,
        "chdb": chdb_version,
        "numpy": np.__version__,
        "pyarrow": pa.__version__,
        "pyroaring": getattr(pyroaring, "__version__", "?"),
        "portrait": getattr(portrait, "__version__", "?"),
        "load_average": list(os.getloadavg()),
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="an existing demo workspace (default: <tmp>/portrait-bench/u<users>-s<seed>, "
        "as build_bench.py); it is never rebuilt",
    )
    parser.add_argument(
        "--create",
        action="store_true",
        help="create a demo workspace of --users users if --workdir holds none",
    )
    parser.add_argument("--users", type=int, default=200_000, help="demo users for --create")
    parser.add_argument("--seed", type=int, default=7, help="demo data seed for --create")
    parser.add_argument(
        "--runs",
        type=int,
        default=21,
        help=f"timed runs per side (default 21, at least {MIN_RUNS})",
    )
    parser.add_argument(
        "--cli-runs", type=int, default=MIN_CLI_RUNS, help="timed CLI runs (default 5, at least 5)"
    )
    parser.add_argument(
        "--sql-runs",
        type=int,
        default=5,
        help="timed runs of the hand SQL over the raw events (default 5, after 1 warm-up)",
    )
    parser.add_argument("--no-polars", action="store_true", help="skip the polars sides")
    parser.add_argument("--no-chdb", action="store_true", help="skip the chdb side")
    parser.add_argument(
        "--install-chdb", action="store_true", help="try 'pip install chdb' when it is missing"
    )
    parser.add_argument("--no-cli", action="store_true", help="skip the CLI part")
    args = parser.parse_args(argv)
    if args.runs < MIN_RUNS:
        parser.error(f"--runs must be at least {MIN_RUNS}")
    if args.cli_runs < MIN_CLI_RUNS:
        parser.error(f"--cli-runs must be at least {MIN_CLI_RUNS}")
    if args.sql_runs < 1:
        parser.error("--sql-runs must be at least 1")
    return args


@dataclass(frozen=True)
class Target:
    """A reported target: ``value`` against ``goal`` (at most, or at least)."""

    name: str
    value: float
    goal: float
    at_most: bool = True
    unit: str = ""

    @property
    def met(self) -> bool:
        return self.value <= self.goal if self.at_most else self.value >= self.goal

    def text(self) -> str:
        sign = "≤" if self.at_most else "≥"
        return (
            f"{self.name} {self.value:,.2f}{self.unit} (target {sign} {self.goal:g}{self.unit}: "
            f"{verdict(self.met)})"
        )

    def to_json(self) -> dict[str, Any]:
        return {"value": self.value, "target": self.goal, "at_most": self.at_most, "met": self.met}


@dataclass
class Context:
    """What every part reads: the workspace, its built profile, the in-memory columns."""

    args: argparse.Namespace
    ws: Workspace
    con: duckdb.DuckDBPyConnection
    scratch: Path
    n_users: int
    as_of: dt.date
    rule: FiveRule
    cols: Columns
    checks: dict[str, Any] = field(default_factory=dict)


@dataclass
class CountPart:
    sides: list[Side]
    polars_df: Any = None
    notes: dict[str, str] = field(default_factory=dict)
    chdb: ChdbBitmaps | None = None

    @property
    def headline(self) -> Side:
        return next(s for s in self.sides if s.key == "portrait_uncached")

    @property
    def expected(self) -> int | None:
        return self.headline.answer

    def side(self, key: str) -> Side | None:
        return next((s for s in self.sides if s.key == key), None)

    def targets(self) -> list[Target]:
        st = self.headline.stats()
        p50, p99 = st["p50"], st["p99"]
        if p50 is None or p99 is None:
            return []
        out = [
            Target("p50", p50 * 1e3, TARGET_COUNT_P50_MS, unit=" ms"),
            Target("p99", p99 * 1e3, TARGET_COUNT_P99_MS, unit=" ms"),
        ]
        for key, goal in (("duckdb_memory", TARGET_VS_DUCKDB), ("polars_memory", TARGET_VS_POLARS)):
            other = self.side(key)
            if other is not None and other.p50 is not None:
                out.append(Target(f"faster than {key}", other.p50 / p50, goal, False, "x"))
        return out


def run_count(ctx: Context) -> CountPart:
    args, rule, cols = ctx.args, ctx.rule, ctx.cols
    profile_file = ctx.ws.built.profile_file
    part = CountPart(portrait_sides(ctx.ws, rule.text))
    part.sides += duckdb_sides(ctx.con, cols, rule, profile_file)
    if args.no_polars:
        part.notes["polars"] = "skipped (--no-polars)"
    else:
        try:
            polars_part, part.polars_df = polars_sides(cols, rule, profile_file)
            part.sides += polars_part
        except ImportError:
            part.notes["polars"] = "not installed (.venv/bin/pip install polars)"
    if args.no_chdb:
        part.notes["chdb"] = "skipped (--no-chdb)"
    else:
        ok, why = chdb_available(args.install_chdb)
        if not ok:
            part.notes["chdb"] = why
        else:
            churned_file = ctx.scratch / "churned.parquet"
            pq.write_table(pa.table({"uid": cols.churned_uids.astype(np.uint32)}), churned_file)
            try:
                bitmaps = ChdbBitmaps(profile_file, churned_file)
                query = bitmaps.count_query(rule)
                part.sides.append(
                    Side(
                        "chdb_bitmaps",
                        "f. chdb groupBitmap (bitmapAnd/Andnot)",
                        lambda: bitmaps.count(query),
                    )
                )
                part.chdb = bitmaps
                part.notes["chdb"] = (
                    f"{bitmaps.version}; bitmaps built in {bitmaps.load_seconds:.2f} s from the "
                    "profile Parquet"
                )
            except Exception as exc:  # report it, measure the rest
                part.notes["chdb"] = f"failed to set up: {type(exc).__name__}: {exc}"
    part.sides += numpy_sides(cols, rule)
    # shuffled rounds: in a fixed cyclic order the bare evaluation always followed the two
    # ws.count sides (the rule's bitmaps in the CPU cache) and ws.count(cache=False) always
    # followed the numpy floor's scan of five 10M columns (none), which made ws.count look
    # 2-3x slower than the evaluation it wraps
    time_sides(part.sides, args.runs, shuffle=True)
    return part


def report_count(ctx: Context, part: CountPart) -> list[str]:
    checks = ctx.checks
    lines = [
        "### 1. A 5-condition rule",
        "",
        f"Rule: `{ctx.rule.text}`",
        "",
        f"Segment `{SEGMENT}` = `{SEGMENT_RULE}` (dynamic): {checks['segment_members']:,} "
        "members, the same users as the profile column gives: "
        f"{'yes' if checks['segment_equals_profile_column'] else '**NO**'}. The other sides get "
        "its members as a BOOLEAN column (b, c, numpy), a uid table for an anti-join (d, e) or "
        f"a bitmap (f). Age is held as {ctx.cols.age_dtype} in memory.",
        "",
        *side_table(part.sides, part.headline, part.expected, "÷ Portrait uncached p50"),
        "",
    ]
    lines += [f"- {name}: {note}" for name, note in part.notes.items()]
    lines.append(
        "- cached = the same rule again (the selector caches results by rule and data version); "
        "uncached = `ws.count(rule, cache=False)`; `evaluate_rule` = "
        "the index evaluation alone, on the parsed rule"
    )
    targets = part.targets()
    if targets:
        lines.append("- targets, Portrait uncached: " + ", ".join(t.text() for t in targets))
    return lines


@dataclass
class UidsPart:
    rule: str
    size: int
    share: float
    sides: list[Side]
    checks: dict[str, bool]

    def p50(self, key: str) -> float | None:
        return next((s.p50 for s in self.sides if s.key == key), None)

    def estimate(self, members: int) -> dict[str, float] | None:
        """The select's p50 split into a fixed part (parse, check, cache) and the ids part
        (``Audience.uids()``), the latter scaled linearly to ``members`` ids; ms."""
        total, ids = self.p50("portrait_select_uids"), self.p50("portrait_uids")
        if total is None or ids is None or not self.size:
            return None
        per_million = ids * 1e3 / (self.size / 1e6)
        fixed = max(total - ids, 0.0) * 1e3
        return {
            "fixed_ms": fixed,
            "uids_ms_per_million": per_million,
            "estimate_ms": fixed + per_million * members / 1e6,
        }


def run_uids(ctx: Context, polars_df: Any) -> UidsPart:
    text, min_age = large_rule(ctx.ws, ctx.n_users)
    sides, checks = uid_sides(ctx.ws, text, min_age, ctx.cols, ctx.con, polars_df)
    time_sides(sides, ctx.args.runs)
    size = sides[0].answer or 0
    return UidsPart(text, size, size / ctx.n_users if ctx.n_users else 0.0, sides, checks)


def report_uids(part: UidsPart) -> list[str]:
    lines = [
        "### 2. Materialising a large audience's ids",
        "",
        f"Rule: `{part.rule}` → {part.size:,} users ({part.share:.1%}).",
        "",
        *side_table(part.sides, part.sides[0], part.size, "÷ Portrait p50"),
        "",
        "- ids equal to Portrait's: "
        + ", ".join(
            f"{k.removesuffix('_ids_equal')} {'yes' if v else '**NO**'}"
            for k, v in part.checks.items()
        ),
    ]
    estimate, p50 = part.estimate(TARGET_UIDS_MEMBERS), part.p50("portrait_select_uids")
    if estimate is not None and p50 is not None:
        if part.size >= 0.8 * TARGET_UIDS_MEMBERS:
            target = Target("p50", p50 * 1e3, TARGET_UIDS_MS, unit=" ms").text()
        else:
            target = Target("estimate", estimate["estimate_ms"], TARGET_UIDS_MS, unit=" ms").text()
        lines.append(
            f"- `ws.select(rule).uids()` = {estimate['fixed_ms']:.2f} ms fixed (parse, check, "
            f"cache lookup) + `Audience.uids()` at {estimate['uids_ms_per_million']:.2f} ms per "
            f"million ids; for {TARGET_UIDS_MEMBERS:,} ids: {target}"
        )
    return lines


@dataclass
class CliPart:
    sides: list[Side]
    inside: list[float]
    executable: str | None
    note: str = ""


def run_cli(ctx: Context) -> CliPart:
    exe = portrait_executable()
    if ctx.args.no_cli:
        return CliPart([], [], exe, "skipped (--no-cli)")
    if exe is None:
        return CliPart([], [], exe, "the portrait command was not found")
    sides, inside = cli_sides(exe, ctx.ws.root, ctx.rule.text)
    time_sides(sides, ctx.args.cli_runs, warmup=1)
    return CliPart(sides, inside[1:], exe)  # the first one was the warm-up


def report_cli(ctx: Context, part: CliPart, expected: int | None) -> list[str]:
    lines = ["### 3. The CLI end to end", ""]
    if not part.sides:
        return [*lines, f"- {part.note}"]
    lines += side_table(part.sides, part.sides[0], expected, "÷ count p50")
    lines.append("")
    lines.append(
        f"- {ctx.args.cli_runs} timed runs after 1 warm-up, the 5-condition rule of part 1"
    )
    if part.inside:
        lines.append(
            "- the count as the CLI process reports it (`seconds`: parse, check, load the index "
            f"files it needs, evaluate; no start-up): p50 {ms(float(np.median(part.inside)))} ms"
        )
    return lines


@dataclass
class BehaviourPart:
    line: str
    portrait: list[Side]
    sql: list[Side]

    def target(self) -> Target | None:
        p50s = [s.p50 for s in self.portrait if s.p50 is not None]
        if not p50s:
            return None
        return Target("slowest p50", max(p50s) * 1e3, TARGET_BEHAVIOUR_MS, unit=" ms")


def run_behaviour(ctx: Context) -> BehaviourPart:
    line = search_line(ctx.ws)
    portrait_part, sql_part = behaviour_sides(ctx.ws, ctx.con, behaviours(line), ctx.as_of)
    time_sides(portrait_part, ctx.args.runs)
    time_sides(sql_part, ctx.args.sql_runs, warmup=1)
    return BehaviourPart(line, portrait_part, sql_part)


def report_behaviour(ctx: Context, part: BehaviourPart) -> list[str]:
    lines = [
        f"### 4. Behaviour conditions over {BEHAVIOUR_WINDOW_DAYS} days (uncached)",
        "",
        "| side | p50 ms | p99 ms | min ms | ÷ Portrait p50 | answer | same as Portrait |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for p_side, s_side in zip(part.portrait, part.sql, strict=True):
        lines += side_table([p_side, s_side], p_side, p_side.answer, "")[2:]
    lines += [
        "",
        f"- Portrait: {ctx.args.runs} runs after {WARMUP} warm-ups, uncached sides with cache=False; "
        f"hand SQL: {ctx.args.sql_runs} runs after 1 warm-up over the events Parquet files (UTC "
        "days, as Portrait's rollup), users joined on user_id with the profile",
    ]
    target = part.target()
    if target is not None:
        lines.append(f"- target, Portrait: {target.text()}")
    return lines


def report_index(info: dict[str, Any]) -> list[str]:
    mem = int(info["memory_bytes"])
    lines = [
        "### 5. The index",
        "",
        f"- on disk: tag indexes {mib(info['index_disk_bytes'])} ({info['tags']} tags), rollup "
        f"index {mib(info['rollup_disk_bytes'])} (its arrays, memory-mapped: "
        f"{mib(info['rollup_mapped_bytes'])}), rollup table {mib(info['rollup_table_bytes'])}",
        f"- in memory with every tag index loaded: **{mib(mem)}** (target ≤ "
        f"{mib(TARGET_INDEX_MEMORY)}: {verdict(mem <= TARGET_INDEX_MEMORY)}); by kind: "
        + ", ".join(f"{k} {mib(v)}" for k, v in info["memory_bytes_by_kind"].items())
        + "; largest: "
        + ", ".join(f"{k} {mib(v)}" for k, v in list(info["memory_bytes_by_tag"].items())[:4]),
        "  - counted by walking each loaded tag index's attributes, each object once: Roaring "
        "bitmaps by container payload (`get_statistics()`), numpy and Arrow arrays by `nbytes`; "
        "numpy views of memory-mapped files apart, as mapped "
        f"({mib(info['mapped_bytes'])}); Python object overhead not counted. The process RSS "
        f"grew by {mib(info['rss_delta_first_load_bytes'])} during the first load",
        f"- loading every tag index from a fresh ProfileIndex: p50 {info['load_p50_s']:.3f} s, "
        f"min {info['load_min_s']:.3f} s ({len(info['load_seconds'])} loads)",
    ]
    build_s = info["build_index_s"]
    if build_s is not None:
        rollup_s = info["build_rollup_s"]
        lines.append(
            "- build time in the manifest (last build): "
            + Target("index", float(build_s), TARGET_INDEX_BUILD_S, unit=" s").text()
            + (f"; rollup {float(rollup_s):.2f} s" if rollup_s is not None else "")
            + (
                f" (its query took {float(info['rollup_query_s']):.2f} s when it was computed: "
                "manifest `rollup.query_seconds`)"
                if info.get("rollup_query_s") is not None
                else ""
            )
        )
    return lines


def report_header(
    ctx: Context, machine: dict[str, Any], data: dict[str, Any], load_after: float
) -> list[str]:
    rows = data["rows"]
    runs = ctx.args.runs
    setup = ctx.checks["setup"]
    created = (
        [f"Created the demo workspace in {setup['seconds']:.0f} s (--create)."]
        if setup.get("created")
        else []
    )
    return [
        f"## Portrait audience benchmark — {ctx.n_users:,} users",
        "",
        f"Machine: {machine['nproc']} cores ({machine['cpu']}), {machine['ram']} RAM, Python "
        f"{machine['python']}, DuckDB {machine['duckdb']} ({machine['duckdb_threads']} threads), "
        f"polars {machine['polars'] or '—'} ({machine['polars_threads'] or '—'} threads), chdb "
        f"{machine['chdb'] or '—'}, numpy {machine['numpy']}, pyroaring {machine['pyroaring']}; "
        f"load average {machine['load_average_before'][0]:.1f} before, {load_after:.1f} after.",
        f"Data: {ctx.n_users:,} users, {rows.get('events', 0):,} events "
        f"({mib(data['events_bytes'])} Parquet), {rows.get('orders', 0):,} orders; as-of "
        f"{ctx.as_of}; profile version {data['profile_version']} "
        f"({mib(data['profile_bytes'])}); workspace {ctx.ws.root}.",
        f"Timing: warm caches; {runs} timed runs per side after {WARMUP} warm-ups unless said "
        f"otherwise, the sides of a part interleaved round by round; p99 of {runs} runs is about "
        "the slowest. Portrait is single-threaded; DuckDB, polars and chdb use their threads.",
        *created,
    ]


def prepare(args: argparse.Namespace) -> Context:
    ws, setup = open_workspace(args)
    snap = ws.built
    as_of = snap.manifest.get("as_of")
    if not as_of:
        sys.exit("the built profile has no as-of date")
    print(f"segment {SEGMENT}: {SEGMENT_RULE}", flush=True)
    ws.segments.create(
        SEGMENT, SEGMENT_RULE, description="audience_bench.py: churned users", replace=True
    )
    index = ws.index()
    bands = pick_bands(index.values("age_band").values)
    missing = [c for c in CITIES if c not in index.values("city")]
    if len(bands) != len(BAND_STARTS) or missing or GENDER not in index.values("gender"):
        sys.exit(
            f"the demo's values differ from what the rule expects: age bands {bands} of "
            f"{index.values('age_band').values}, missing cities {missing}, genders "
            f"{index.values('gender').values}"
        )
    cols, checks = load_columns(snap.profile_file, ws.segments.members(SEGMENT))
    return Context(
        args=args,
        ws=ws,
        con=connect(int(ws.config["engine.threads"])),
        scratch=Path(tempfile.mkdtemp(prefix="portrait-audience-bench-")),
        n_users=int(snap.manifest.get("users", 0)),
        as_of=dt.date.fromisoformat(str(as_of)),
        rule=FiveRule(CITIES, tuple(bands), AGE_LOW, AGE_HIGH, GENDER, SEGMENT),
        cols=cols,
        checks={**checks, "setup": setup},
    )


def data_facts(ws: Workspace) -> dict[str, Any]:
    warehouse = ws.warehouse
    snap = ws.built
    events = warehouse.tables.get("events")
    return {
        "rows": {n: t.rows for n, t in warehouse.tables.items()},
        "events_bytes": (
            sum(p.stat().st_size for p in events.paths(warehouse.path))
            if events is not None and warehouse.path is not None
            else 0
        ),
        "as_of": snap.manifest.get("as_of"),
        "profile_version": snap.version,
        "profile_bytes": snap.profile_file.stat().st_size,
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    load_before = list(os.getloadavg())
    ctx = prepare(args)
    try:
        # The index first, so that its loads land in a process holding as little as possible.
        print("part 5: loading every tag index …", flush=True)
        index_info = measure_index(ctx.ws, loads=3)
        print("part 1: the 5-condition rule …", flush=True)
        count = run_count(ctx)
        print("part 2: materialising a large audience …", flush=True)
        uids = run_uids(ctx, count.polars_df)
        print("part 3: the CLI …", flush=True)
        cli = run_cli(ctx)
        print("part 4: behaviour conditions …", flush=True)
        behaviour = run_behaviour(ctx)
        load_after = os.getloadavg()[0]
        machine = machine_facts(ctx.con, count.chdb.version if count.chdb else None)
        machine["load_average_before"] = load_before
    finally:
        ctx.con.close()
        shutil.rmtree(ctx.scratch, ignore_errors=True)
    if count.chdb is not None:
        count.chdb.close()
    data = data_facts(ctx.ws)
    expected = count.expected
    counted = [s for s in count.sides if s.counts and s.samples]
    ctx.checks["all_counts_equal"] = all(s.answer == expected for s in counted)
    sections = [
        report_header(ctx, machine, data, load_after),
        report_count(ctx, count),
        report_uids(uids),
        report_cli(ctx, cli, expected),
        report_behaviour(ctx, behaviour),
        report_index(index_info),
        [
            f"Checks: uid = profile row: {'yes' if ctx.checks['uid_is_row_number'] else '**NO**'}; "
            "every side of part 1 counted as Portrait: "
            + ("yes" if ctx.checks["all_counts_equal"] else "**NO**")
        ],
    ]
    print()
    print("\n\n".join("\n".join(lines) for lines in sections))

    payload = {
        "benchmark": "audience",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "args": {
            "workdir": str(ctx.ws.root),
            "runs": args.runs,
            "warmup": WARMUP,
            "cli_runs": args.cli_runs,
            "sql_runs": args.sql_runs,
        },
        "machine": machine,
        "data": {"users": ctx.n_users, **data},
        "count_rule": {
            "rule": ctx.rule.text,
            "segment": {"name": SEGMENT, "rule": SEGMENT_RULE},
            "expected": expected,
            "age_dtype": ctx.cols.age_dtype,
            "sides": [s.to_json() for s in count.sides],
            "targets": {t.name: t.to_json() for t in count.targets()},
            "notes": count.notes,
        },
        "large_audience": {
            "rule": uids.rule,
            "size": uids.size,
            "share": uids.share,
            "estimate_for_2_5M_ids": uids.estimate(TARGET_UIDS_MEMBERS),
            "sides": [s.to_json() for s in uids.sides],
            "checks": uids.checks,
        },
        "cli": {
            "executable": cli.executable,
            "note": cli.note or None,
            "sides": [s.to_json() for s in cli.sides],
            "inside_seconds": cli.inside,
        },
        "behaviour": {
            "window_days": BEHAVIOUR_WINDOW_DAYS,
            "business_line": behaviour.line,
            "portrait": [s.to_json() for s in behaviour.portrait],
            "hand_sql": [s.to_json() for s in behaviour.sql],
            "target": (t.to_json() if (t := behaviour.target()) else None),
        },
        "index": {
            **index_info,
            "target_memory_bytes": TARGET_INDEX_MEMORY,
            "target_build_s": TARGET_INDEX_BUILD_S,
        },
        "checks": ctx.checks,
    }
    write_results(RESULTS_DIR, f"audience-{ctx.n_users}", payload)
    return 0


if __name__ == "__main__":
    sys.exit(main())
