"""Rule expressions vs DuckDB and polars in memory: comparing tags with each other,
arithmetic, list sizes and dates relative to the as-of date.

A report, not a pass/fail test. On an existing demo workspace (``--workdir``; the one
``audience_bench.py --create`` makes will do), each rule is counted by

- Portrait, ``ws.count(rule, cache=False)`` (parse, check, evaluate on the index, release),
- DuckDB with the columns the rule reads in an in-memory table (hand-written SQL),
- polars with the same columns in an in-memory DataFrame (when polars is installed),

every side once per round in rotating order after two warm-up rounds; every side's answer is
checked against Portrait's. Markdown on stdout, JSON in ``bench/results/expressions-<users>.json``.

    .venv/bin/python bench/expressions_bench.py --workdir WS [--runs 21]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq

import portrait
from audience_bench import Side, connect, side_table
from benchlib import MIN_RUNS, base_facts, ms, time_sides, write_results

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Case:
    """A rule, the DuckDB condition and the polars expression (a function of pl and the
    as-of date) that say the same."""

    title: str
    rule: str
    columns: Sequence[str]
    sql: Callable[[dt.date], str]
    polars: Callable[[Any, dt.date], Any]


CASES = [
    Case(
        "tag vs tag + days (two timestamps, binned range indexes)",
        "last_active_at >= registered_at + 30d",
        ["last_active_at", "registered_at"],
        lambda _: "last_active_at >= registered_at + INTERVAL 30 DAY",
        lambda pl, _: pl.col("last_active_at") >= pl.col("registered_at") + pl.duration(days=30),
    ),
    Case(
        "arithmetic with division by zero (float / int)",
        "spend_365d / orders_365d > 300",
        ["spend_365d", "orders_365d"],
        lambda _: "spend_365d / NULLIF(orders_365d, 0) > 300",
        lambda pl, _: (
            pl.when(pl.col("orders_365d") != 0)
            .then(pl.col("spend_365d") / pl.col("orders_365d"))
            .otherwise(None)
            > 300
        ),
    ),
    Case(
        "arithmetic between (two exact int indexes)",
        "age - work_years between 18 and 22",
        ["age", "work_years"],
        lambda _: "age - work_years BETWEEN 18 AND 22",
        lambda pl, _: (pl.col("age") - pl.col("work_years")).is_between(18, 22),
    ),
    Case(
        "list size",
        "size(active_lines_360d) >= 2",
        ["active_lines_360d"],
        lambda _: "coalesce(len(active_lines_360d), 0) >= 2",
        lambda pl, _: pl.col("active_lines_360d").list.len().fill_null(0) >= 2,
    ),
    Case(
        "date relative to the as-of date",
        "registered_at >= as_of - 90d",
        ["registered_at"],
        lambda as_of: f"registered_at >= TIMESTAMP '{as_of - dt.timedelta(days=90)}'",
        lambda pl, as_of: (
            pl.col("registered_at") >= dt.datetime.combine(as_of - dt.timedelta(days=90), dt.time())
        ),
    ),
]


def sides_for(
    case: Case, ws: Any, con: duckdb.DuckDBPyConnection, frame: Any, as_of: dt.date
) -> list[Side]:
    def portrait_count() -> int:
        return int(ws.count(case.rule, cache=False)["size"])

    sides = [Side("portrait", "**Portrait `ws.count(rule, cache=False)`**", portrait_count)]
    query = f"SELECT count(*) FROM profile WHERE {case.sql(as_of)}"
    sides.append(
        Side("duckdb", "DuckDB in memory", lambda: int(con.execute(query).fetchone()[0]))  # type: ignore[index]
    )
    if frame is not None:
        import polars as pl

        expression = case.polars(pl, as_of)
        sides.append(
            Side("polars", "polars in memory", lambda: int(frame.filter(expression).height))
        )
    return sides


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--workdir", type=Path, required=True, help="a built demo workspace")
    parser.add_argument("--runs", type=int, default=21, help=f"timed rounds (≥ {MIN_RUNS})")
    parser.add_argument("--threads", type=int, default=0, help="DuckDB threads (0: all)")
    args = parser.parse_args(argv)
    runs = max(args.runs, MIN_RUNS)

    ws = portrait.open(args.workdir)
    profile = ws.selector().profile
    as_of = profile.as_of
    assert as_of is not None
    columns = sorted({c for case in CASES for c in case.columns})
    started = time.perf_counter()
    table = pq.read_table(profile.profile_file, columns=columns)
    con = connect(args.threads)
    con.register("loaded", table)
    con.execute("CREATE TABLE profile AS SELECT * FROM loaded")
    con.unregister("loaded")
    try:
        import polars as pl

        frame = pl.from_arrow(table)
    except ImportError:
        frame = None
    del table
    load_seconds = time.perf_counter() - started
    facts = base_facts(con)
    users = profile.index.n_users
    print(f"# Rule expressions: {users:,} users, as of {as_of}")
    print()
    print(
        f"{facts['nproc']} cores ({facts['cpu']}), {facts['ram']}, DuckDB {facts['duckdb']}"
        + (f", polars {pl.__version__}" if frame is not None else ", polars not installed")
        + f"; {runs} rounds; columns loaded in {load_seconds:.1f} s."
    )
    results: list[dict[str, Any]] = []
    for case in CASES:
        sides = sides_for(case, ws, con, frame, as_of)
        time_sides(sides, runs)
        portrait_side = sides[0]
        print()
        print(f"## {case.title}: `{case.rule}` ({portrait_side.answer or 0:,} users)")
        print()
        print("\n".join(side_table(sides, portrait_side, portrait_side.answer, "÷ Portrait")))
        results.append(
            {"rule": case.rule, "title": case.title, "sides": [s.to_json() for s in sides]}
        )
    print()
    print("| rule | Portrait p50 ms | DuckDB ÷ Portrait | polars ÷ Portrait |")
    print("|---|---:|---:|---:|")
    for result in results:
        by_key = {s["key"]: s for s in result["sides"]}
        mine = by_key["portrait"]["p50_s"]
        ratios = [
            f"{by_key[k]['p50_s'] / mine:,.1f}x" if k in by_key and mine else "—"
            for k in ("duckdb", "polars")
        ]
        print(f"| `{result['rule']}` | {ms(mine)} | {ratios[0]} | {ratios[1]} |")
    write_results(RESULTS, f"expressions-{users}", {"facts": facts, "results": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
