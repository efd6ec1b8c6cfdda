"""Disclosure-control benchmark: what the viewer's protection costs, in time and accuracy, and
what the differencing attack of the review gets out of it.

A report, not a pass/fail test. On a demo workspace (``--workdir``, made with ``--users`` when
missing), with warm caches, interleaved rounds (benchlib.time_sides):

- **count**: ``ws.count(rule)`` as an analyst (exact), as a viewer (noise, threshold, budget
  ledger), and the same count by hand-written DuckDB SQL over the profile Parquet file;
- **insight**: ``ws.insight(rule)`` (every default tag) as an analyst and as a viewer;
- **accuracy**: over 400 distinct counts, the viewer's error against the exact count (mean
  absolute, 95th percentile, largest) and the share suppressed;
- **attack**: the differencing attack (``G`` vs ``G and not (one person)``) over many pairs
  of groups: the exact difference is always 1; the estimate from the released numbers and its
  standard error after n pairs, and the budget those pairs spend.

Usage::

    .venv/bin/python bench/disclosure_bench.py [--users 200000] [--workdir DIR] [--runs 11]

It prints a markdown report and writes the same data as JSON to
``bench/results/disclosure-<users>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

import portrait
from benchlib import MIN_RUNS, base_facts, ms, sample_stats, time_sides, write_results
from portrait.workspace import Workspace, create_demo

RESULTS_DIR = Path(__file__).resolve().parent / "results"
RULE = 'city = "北京" and age >= 30'


@dataclass
class Side:
    key: str
    run: Any
    samples: list[float] = field(default_factory=list)
    error: str | None = None

    def call(self) -> float:
        started = time.perf_counter()
        self.run()
        return time.perf_counter() - started


def _workspace(users: int, workdir: Path | None) -> Path:
    root = workdir or Path(tempfile.gettempdir()) / "portrait-bench" / f"u{users}-s7"
    if not (root / "portrait.toml").exists():
        print(f"creating a {users:,}-user demo in {root} …")
        create_demo(root, users=users, seed=7)
    return root


def _one_person(ws: Workspace) -> str:
    """A rule of ordinary attributes (a registration second and a city) that selects exactly
    one user."""
    rows = ws.profile(["registered_at", "city"]).slice(0, 200).to_pylist()
    for row in rows:
        second = row["registered_at"].replace(microsecond=0)
        start, end = (
            (second + dt.timedelta(seconds=s)).strftime("%Y-%m-%d %H:%M:%S") for s in (0, 1)
        )
        rule = f'registered_at >= "{start}" and registered_at < "{end}" and city = "{row["city"]}"'
        if row["city"] and ws.count(rule)["size"] == 1:
            return rule
    raise SystemExit("no user alone in a (registration second, city) cell")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=200_000)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--runs", type=int, default=MIN_RUNS)
    args = parser.parse_args()
    root = _workspace(args.users, args.workdir)
    overrides = {"privacy.daily_budget": 0}  # unlimited: the bench asks thousands of questions
    analyst = portrait.open(root, role="analyst", overrides=overrides)
    # a fresh actor each run: questions answered before would be free (and not re-charged)
    actor = f"bench-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}"
    viewer = portrait.open(root, role="viewer", actor=actor, overrides=overrides)
    con = duckdb.connect()
    profile = analyst.built.profile_file
    sql = f"SELECT count(*) FROM read_parquet('{profile}') WHERE city = '北京' AND age >= 30"

    count_sides = [
        Side("analyst (exact)", lambda: analyst.count(RULE)),
        Side("viewer (controlled)", lambda: viewer.count(RULE)),
        Side("DuckDB SQL", lambda: con.execute(sql).fetchone()),
    ]
    time_sides(count_sides, args.runs)
    insight_sides = [
        Side("analyst (exact)", lambda: analyst.insight(RULE)),
        Side("viewer (controlled)", lambda: viewer.insight(RULE)),
    ]
    time_sides(insight_sides, max(3, args.runs // 2))

    errors, suppressed = [], 0
    rules = [
        f'age >= {a} and city = "{c}"'
        for a in range(18, 68)
        for c in ("北京", "上海", "成都", "广州", "深圳", "杭州", "武汉", "西安")
    ]
    for rule in rules:
        exact = analyst.count(rule)["size"]
        shown = viewer.count(rule)["size"]
        if shown is None:
            suppressed += 1
        else:
            errors.append(abs(shown - exact))
    errors.sort()

    person = _one_person(analyst)
    group = person.split(" and ")[2]  # the person's city
    differences = []
    spent_before = viewer.disclosure.spent(viewer.caller)
    for age in range(18, 80):
        for band in ("", ' and gender = "女"', ' and gender = "男"'):
            with_ = f"{group} and age >= {age}{band}"
            if analyst.count(f"({person}) and {with_}")["size"] != 1:
                continue  # the person must be in the group
            a = viewer.count(with_)["size"]
            b = viewer.count(f"{with_} and not ({person})")["size"]
            if a is not None and b is not None:
                differences.append(a - b)
    spent = viewer.disclosure.spent(viewer.caller) - spent_before
    mean = statistics.fmean(differences) if differences else float("nan")
    sd = statistics.stdev(differences) if len(differences) > 1 else None
    se = sd / len(differences) ** 0.5 if sd is not None else None
    needed = round((sd / 0.25) ** 2) if sd else None  # pairs for a 0-vs-1 call at ~95%

    facts = base_facts(con)
    users = analyst.built.manifest.get("users")
    print(f"# Disclosure control: {users:,} users, {facts['nproc']} cores, {facts['cpu']}\n")
    print("| count of one rule | p50 ms | p99 ms | vs analyst |")
    print("|---|---|---|---|")
    base = sample_stats(count_sides[0].samples)["p50"] or 1
    for side in count_sides:
        st = sample_stats(side.samples)
        print(
            f"| {side.key} | {ms(st['p50'])} | {ms(st['p99'])} | {(st['p50'] or 0) / base:.2f}x |"
        )
    print("\n| insight, every default tag | p50 ms | p99 ms | vs analyst |")
    print("|---|---|---|---|")
    base = sample_stats(insight_sides[0].samples)["p50"] or 1
    for side in insight_sides:
        st = sample_stats(side.samples)
        print(
            f"| {side.key} | {ms(st['p50'])} | {ms(st['p99'])} | {(st['p50'] or 0) / base:.2f}x |"
        )
    p95 = errors[int(0.95 * (len(errors) - 1))] if errors else None
    print(
        f"\nAccuracy over {len(rules)} distinct counts: mean |error| "
        f"{statistics.fmean(errors):.2f}, p95 {p95}, max {errors[-1] if errors else None}, "
        f"suppressed {suppressed} (noise sd {viewer.disclosure.policy.noise_sd:.2f})"
    )
    print(
        f"\nDifferencing attack on one person ({len(differences)} pairs, true difference 1 each): "
        f"estimate {mean:.2f} ± {se if se is None else round(se, 2)} (s.e.), "
        f"sd of one difference {sd if sd is None else round(sd, 2)}, budget spent {spent:g}; "
        f"telling 0 from 1 (s.e. 0.25) needs about {needed} pairs, budget {needed} "
        f"(default daily budget {portrait.open(root).disclosure.policy.daily_budget:g})"
    )
    write_results(
        RESULTS_DIR,
        f"disclosure-{users}",
        {
            "facts": facts,
            "count": {s.key: sample_stats(s.samples) for s in count_sides},
            "insight": {s.key: sample_stats(s.samples) for s in insight_sides},
            "accuracy": {"counts": len(rules), "suppressed": suppressed, "errors": errors},
            "attack": {
                "pairs": len(differences),
                "mean": mean,
                "sd": sd,
                "se": se,
                "spent": spent,
                "pairs_needed": needed,
            },
        },
    )


if __name__ == "__main__":
    main()
