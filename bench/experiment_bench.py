"""Experiment analysis benchmark: import an A/B test run elsewhere and report it, against what
an analyst would otherwise write (pandas + SciPy + statsmodels) on the same files.

A report, not a pass/fail test. On an existing workspace (``--workdir``; never rebuilt) it
writes, for its first ``--users`` users, an assignment file (control 10%, A 45%, B 45%) and
a row of outcomes per user (clicked, converted, revenue) as Parquet, then measures:

- **import**: ``ws.campaigns.import_experiment`` (read, check, one transaction: delivery
  records and responses) into a fresh SQLite metadata database;
- **report**: ``ws.campaigns.report`` with the defaults (5 metrics × 3 pairs: z-tests, Wald
  and Newcomb intervals, Welch, Holm, Bayesian, CUPED over the 28 days of orders before the
  start, MDE, verdicts) and with ``--correction bh --sequential``;
- **hand-written**: the same comparisons with pandas (merge, group), statsmodels
  (``proportions_ztest``, ``confint_proportions_2indep`` Wald and Newcomb, ``multipletests``,
  OLS for CUPED) and SciPy (``ttest_ind(equal_var=False)``), the pre-period from the orders
  with DuckDB. No Bayesian results, no MDE, no verdicts, no storage.

It also checks that both give the same p-values (the largest relative difference is printed).

Usage::

    .venv/bin/python bench/experiment_bench.py --workdir /path/to/ws [--users 1000000] [--runs 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
import portrait
from benchlib import base_facts, write_results

RESULTS = Path(__file__).resolve().parent / "results"
WEIGHTS = {"control": 10.0, "A": 45.0, "B": 45.0}
RATES = {"control": 0.030, "A": 0.033, "B": 0.036}
PAIRS = [("control", "A"), ("control", "B"), ("A", "B")]


def make_files(ws: Any, users: int, folder: Path, start: dt.datetime) -> tuple[Path, Path]:
    rng = np.random.default_rng(42)
    ids = ws.users.user_ids_of(list(range(users)))
    groups = rng.choice(list(WEIGHTS), users, p=[w / 100 for w in WEIGHTS.values()])
    rate = np.select([groups == g for g in RATES], list(RATES.values()))
    converted = rng.random(users) < rate
    clicked = converted | (rng.random(users) < 0.08)
    revenue = np.where(converted, np.round(rng.lognormal(4.0, 0.7, users), 2), 0.0)
    assignments = folder / "assignments.parquet"
    outcomes = folder / "outcomes.parquet"
    pq.write_table(
        pa.table({"user_id": ids, "group": groups.astype(str), "ts": [start.isoformat()] * users}),
        assignments,
    )
    pq.write_table(
        pa.table({"user_id": ids, "clicked": clicked, "converted": converted, "revenue": revenue}),
        outcomes,
    )
    return assignments, outcomes


def by_hand(
    assignments: Path, outcomes: Path, orders: list[Path], start: dt.datetime
) -> dict[tuple[str, str, str], float]:
    """What an analyst would write: every metric for every pair, Holm across them, CUPED by
    OLS for conversion and revenue. Returns the raw p-values by (metric, baseline, group)."""
    import statsmodels.api as sm
    from scipy import stats
    from statsmodels.stats.multitest import multipletests
    from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

    frame = pd.read_parquet(assignments).merge(pd.read_parquet(outcomes), on="user_id")
    before = start - dt.timedelta(days=28)
    files = ", ".join(f"'{p}'" for p in orders)
    pre = duckdb.sql(
        f"SELECT user_id, count(*) AS n, sum(amount) AS amount FROM read_parquet([{files}]) "
        f"WHERE ts >= TIMESTAMP '{before:%Y-%m-%d %H:%M:%S}' "
        f"AND ts < TIMESTAMP '{start:%Y-%m-%d %H:%M:%S}' GROUP BY user_id"
    ).df()
    frame = frame.merge(pre, on="user_id", how="left").fillna({"n": 0, "amount": 0.0})
    groups = dict(iter(frame.groupby("group")))
    p_values: dict[tuple[str, str, str], float] = {}
    for base, treat in PAIRS:
        b, t = groups[base], groups[treat]
        for metric, column, subset in (
            ("click_rate", "clicked", None),
            ("conversion_rate", "converted", None),
            ("click_to_conversion", "converted", "clicked"),
        ):
            bb = b[b[subset]] if subset else b
            tt = t[t[subset]] if subset else t
            x = [int(tt[column].sum()), int(bb[column].sum())]
            n = [len(tt), len(bb)]
            p_values[(metric, base, treat)] = float(proportions_ztest(x, n)[1])
            confint_proportions_2indep(x[0], n[0], x[1], n[1], method="wald")
            confint_proportions_2indep(x[0], n[0], x[1], n[1], method="newcomb")
        for metric, subset in (("revenue_per_user", None), ("revenue_per_converter", "converted")):
            bb = b[b[subset]] if subset else b
            tt = t[t[subset]] if subset else t
            test = stats.ttest_ind(tt.revenue, bb.revenue, equal_var=False)
            test.confidence_interval(0.95)
            p_values[(metric, base, treat)] = float(test.pvalue)
        for column, covariate in (("converted", "n"), ("revenue", "amount")):
            both = pd.concat([b, t])
            design = np.column_stack(
                [np.ones(len(both)), (both.group == treat).to_numpy(float), both[covariate]]
            )
            sm.OLS(both[column].to_numpy(float), design).fit()
    multipletests(list(p_values.values()), method="holm")
    return p_values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    meta = tempfile.TemporaryDirectory(prefix="portrait-bench-meta-")
    os.environ["PORTRAIT_STORE_METADATA_URL"] = f"sqlite:///{meta.name}/bench.db"
    ws = portrait.open(args.workdir)
    users = min(args.users, ws.built.users)
    as_of = ws.built.as_of or dt.date.today()
    # the day after the data ends: the 28 days before it hold orders (CUPED's pre-period),
    # the attribution window none (the outcome file alone decides conversions, as by hand)
    start = dt.datetime.combine(as_of, dt.time(0), tzinfo=dt.UTC) + dt.timedelta(days=1)
    facts = base_facts(duckdb.connect())
    print(f"{facts['cpu']}, {facts['nproc']} cores, {facts['ram']}; {users:,} users")
    folder = Path(tempfile.mkdtemp(prefix="portrait-bench-exp-"))
    assignments, outcomes = make_files(ws, users, folder, start)
    orders = list(ws.built_warehouse().files("orders"))

    timings: dict[str, list[float]] = {"import": [], "report": [], "report_bh_seq": [], "hand": []}
    report: dict[str, Any] = {}
    hand: dict[tuple[str, str, str], float] = {}
    for run in range(args.runs):
        t0 = time.perf_counter()
        ws.campaigns.import_experiment(
            "bench_exp", assignments, WEIGHTS, outcomes=outcomes, replace=run > 0
        )
        timings["import"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        report = ws.campaigns.report("bench_exp")
        timings["report"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ws.campaigns.report("bench_exp", options={"correction": "bh", "sequential": True})
        timings["report_bh_seq"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        hand = by_hand(assignments, outcomes, orders, start)
        timings["hand"].append(time.perf_counter() - t0)

    ours = {(c["metric"], c["baseline"], c["group"]): c["p_value"] for c in report["comparisons"]}
    worst = max(abs(ours[k] - v) / max(v, 1e-300) for k, v in hand.items())
    best = {k: min(v) for k, v in timings.items()}
    print()
    print(f"| step ({users:,} users, best of {args.runs}) | seconds | vs hand-written |")
    print("|---|---:|---:|")
    for key, label in (
        ("import", "Portrait: import (read, check, store in one transaction)"),
        ("report", "Portrait: report (15 comparisons, Holm, Bayesian, CUPED, MDE)"),
        ("report_bh_seq", "Portrait: report, BH + sequential"),
        ("hand", "pandas + SciPy + statsmodels by hand (same tests, CUPED by OLS)"),
    ):
        ratio = best[key] / best["hand"]
        print(f"| {label} | {best[key]:.2f} | {ratio:.2f}× |")
    print()
    print(f"largest relative difference of the 15 p-values, Portrait vs by hand: {worst:.1e}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"peak RSS {peak / 2**30:.2f} GiB")
    write_results(
        RESULTS,
        "experiments",
        {"facts": facts, "users": users, "timings": timings, "p_value_max_rel_diff": worst},
    )


if __name__ == "__main__":
    main()
