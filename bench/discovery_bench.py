"""Discovery benchmark: feature ranking, niche cubes, personas and subgroups, Portrait beside
the obvious pandas / scikit-learn code on the same data.

A report, not a pass/fail test. On an existing demo workspace (``--workdir``; never rebuilt)
it measures, after a warm-up:

- **insight** (the building block of every card and cell): ``ws.insight(audience)`` over every
  default tag for a ~25% audience (``gender = "女" and age >= N``), materialised once, p50 of
  ``--runs``;
- **feature ranking** over every tag (``ws.discovery.rank``) vs scikit-learn's
  ``mutual_info_score`` per tag column on the profile in pandas (numbers in the same bins),
  after a first ranking of another target (reported too: it loads every index);
- **a 3-tag cube** (``ws.discovery.niche(["city", "age_band", "education"], target=…)``, a rate
  metric) vs a pandas ``groupby`` of the three columns and the membership flag;
- **personas**: fit on 50,000 users and assign every user (``ws.personas.fit`` + ``build``) vs
  scikit-learn (``StandardScaler`` + one-hot + ``KMeans`` on the same sample, ``predict`` on all
  users), each in a child process so that its peak RSS is its own;
- **subgroup discovery** depth 3 over every tag (``ws.discovery.subgroups``) vs pysubgroup's
  beam search on a pandas frame of a ``--sample`` of the users (pysubgroup on all users would
  take hours).

Usage::

    .venv/bin/python bench/discovery_bench.py --workdir /path/to/ws [--runs 11] [--sample 200000]

It prints a markdown table; the numbers go into bench/README.md by hand.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

FEATURES = ["sessions_per_week", "price_sensitivity", "social_shares_30d", "main_interest",
            "loyalty_points"]  # fmt: skip
TARGET = "orders_365d >= 1"
WARM_TARGET = "age < 30"


def _timed(work: Any) -> tuple[float, Any]:
    t0 = time.perf_counter()
    result = work()
    return time.perf_counter() - t0, result


def _quarter_rule(ws: Any) -> str:
    best = None
    for n in range(18, 70):
        rule = f'gender = "女" and age >= {n}'
        share = ws.count(rule)["share"]
        if best is None or abs(share - 0.25) < abs(best[1] - 0.25):
            best = (rule, share)
    assert best is not None
    return best[0]


def bench_insight(ws: Any, runs: int) -> dict[str, Any]:
    rule = _quarter_rule(ws)
    audience = ws.select(rule)
    ws.insight(audience)  # warm-up: plans, complements
    times = []
    for _ in range(runs):
        seconds, report = _timed(lambda: ws.insight(audience))
        times.append(seconds)
    return {"rule": rule, "members": len(audience.bitmap), "rows": len(report.rows),
            "p50_ms": 1e3 * float(np.median(times)), "min_ms": 1e3 * min(times)}  # fmt: skip


def _profile_frame(ws: Any, columns: list[str]) -> Any:
    import pyarrow.parquet as pq

    return pq.read_table(ws.selector().profile.profile_file, columns=columns).to_pandas()


def bench_rank(ws: Any) -> dict[str, Any]:
    import pandas as pd
    from sklearn.metrics import mutual_info_score

    # The first ranking after opening loads every tag's index and numeric column and each
    # numeric tag's moments over every user (kept while the index is): a running service pays
    # it once. It is timed on another target, so that the timed call answers a new question.
    first, _ = _timed(lambda: ws.discovery.rank(WARM_TARGET))
    portrait, ranking = _timed(lambda: ws.discovery.rank(TARGET))
    tags = [r["tag"] for r in ranking.rows]
    member = np.zeros(ws.selector().profile.population, dtype=bool)
    member[np.asarray(ws.select(TARGET).bitmap.to_array())] = True
    frame = _profile_frame(ws, tags)

    def by_hand() -> dict[str, float]:
        out = {}
        for tag in tags:
            column = frame[tag]
            if (
                column.dtype == object
                and column.map(lambda v: isinstance(v, list | np.ndarray)).any()
            ):
                continue  # lists: no one-line equivalent
            if column.dtype.kind in "fiuM":
                labels = pd.qcut(column.rank(method="first"), 12, labels=False).fillna(-1)
            else:
                labels = column.fillna("(missing)").astype(str)
            out[tag] = mutual_info_score(member, labels)
        return out

    hand, scores = _timed(by_hand)
    return {"tags": len(tags), "portrait_s": portrait, "first_call_s": first,
            "pandas_sklearn_s": hand,
            "hand_tags": len(scores)}  # fmt: skip


def bench_cube(ws: Any) -> dict[str, Any]:
    tags = ["city", "age_band", "education"]
    ws.discovery.niche(tags[:2], target=TARGET)  # warm-up
    portrait, cube = _timed(lambda: ws.discovery.niche(tags, target=TARGET))
    member = np.zeros(ws.selector().profile.population, dtype=bool)
    member[np.asarray(ws.select(TARGET).bitmap.to_array())] = True
    frame = _profile_frame(ws, tags)
    frame["member"] = member

    def by_hand() -> Any:
        grouped = frame.groupby(tags, dropna=False, observed=True)["member"].agg(["size", "sum"])
        grouped["rate"] = grouped["sum"] / grouped["size"]
        grouped["lift"] = grouped["rate"] / member.mean()
        return grouped

    hand, grouped = _timed(by_hand)
    return {"cells": len(cube.cells), "portrait_s": portrait, "pandas_s": hand,
            "pandas_cells": len(grouped)}  # fmt: skip


PERSONA_CHILD = """
import json, resource, sys, time
import numpy as np
workdir, side = sys.argv[1], sys.argv[2]
features = {features}
t0 = time.perf_counter()
if side == "portrait":
    import portrait
    ws = portrait.open(workdir)
    fit = ws.personas.fit("bench_persona", features, k=4, replace=True)
    t1 = time.perf_counter()
    ws.build()
    t2 = time.perf_counter()
    out = {{"fit_s": t1 - t0, "assign_s": t2 - t1, "k": fit["k"]}}
else:
    import pandas as pd, pyarrow.parquet as pq
    from sklearn.cluster import KMeans
    from sklearn.preprocessing import StandardScaler
    import portrait
    ws = portrait.open(workdir)
    frame = pq.read_table(ws.selector().profile.profile_file, columns=features).to_pandas()
    numeric = [f for f in features if frame[f].dtype.kind in "fiu"]
    def encode(part, scaler=None):
        x = part[numeric].astype(float).fillna(part[numeric].mean())
        scaler = scaler or StandardScaler().fit(x)
        cats = pd.get_dummies(part.drop(columns=numeric).fillna("(missing)")).astype(float) / 2 ** 0.5
        return np.hstack([scaler.transform(x), cats.to_numpy()]), scaler, list(cats.columns)
    sample = frame.sample(min(50_000, len(frame)), random_state=0)
    x, scaler, columns = encode(sample)
    model = KMeans(4, n_init=4, random_state=0).fit(x)
    t1 = time.perf_counter()
    labels = np.empty(len(frame), dtype=np.int32)
    for start in range(0, len(frame), 1_000_000):
        part = frame.iloc[start:start + 1_000_000]
        xp, _, cols = encode(part, scaler)
        xp = pd.DataFrame(xp[:, len(numeric):], columns=cols).reindex(columns=columns, fill_value=0.0).to_numpy()
        xp = np.hstack([scaler.transform(part[numeric].astype(float).fillna(0)), xp])
        labels[start:start + len(part)] = model.predict(xp)
    t2 = time.perf_counter()
    out = {{"fit_s": t1 - t0, "assign_s": t2 - t1, "k": 4}}
# VmHWM: this process's own peak (ru_maxrss would carry the parent's over from the fork)
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")]
out["peak_rss_gib"] = (int(hwm[0].split()[1]) if hwm else
    resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) / 2 ** 20
print(json.dumps(out))
"""


def bench_personas(workdir: Path) -> dict[str, Any]:
    code = PERSONA_CHILD.format(features=FEATURES)
    out = {}
    for side in ("portrait", "sklearn"):
        done = subprocess.run(
            [sys.executable, "-c", code, str(workdir), side],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        out[side] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


def bench_subgroups(ws: Any, sample: int) -> dict[str, Any]:
    ws.discovery.subgroups(TARGET, depth=1)  # warm-up
    portrait, found = _timed(lambda: ws.discovery.subgroups(TARGET, depth=3))
    result: dict[str, Any] = {"portrait_s": portrait, "rows": len(found["rows"])}
    try:
        import pandas as pd
        import pysubgroup as ps
    except ImportError:
        return result
    tags = [c for c in ws.insights.comparable_tags() if c not in ws.audiences.circular_tags(TARGET)]
    frame = _profile_frame(ws, tags).sample(sample, random_state=0)
    member = np.zeros(ws.selector().profile.population, dtype=bool)
    member[np.asarray(ws.select(TARGET).bitmap.to_array())] = True
    frame = frame[
        [c for c in tags if frame[c].map(lambda v: not isinstance(v, list | np.ndarray)).all()]
    ]
    frame = frame.assign(member=member[frame.index.to_numpy()])
    for c in frame.columns:
        if frame[c].dtype.kind in "fiuM" and c != "member":
            frame[c] = pd.qcut(frame[c].rank(method="first"), 12, labels=False)

    def by_pysubgroup() -> Any:
        target = ps.BinaryTarget("member", True)
        space = ps.create_selectors(frame, ignore=["member"])
        task = ps.SubgroupDiscoveryTask(frame, target, space, result_set_size=10, depth=3,
                                        qf=ps.WRAccQF())  # fmt: skip
        return ps.BeamSearch(beam_width=20).execute(task)

    seconds, _ = _timed(by_pysubgroup)
    result.update(pysubgroup_s=seconds, pysubgroup_rows=len(frame))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--sample", type=int, default=200_000)
    parser.add_argument(
        "--skip", default="", help="comma-separated: insight,rank,cube,personas,subgroups"
    )
    args = parser.parse_args()
    skip = set(args.skip.split(","))
    import portrait

    ws = portrait.open(args.workdir)
    results: dict[str, Any] = {"users": ws.selector().profile.population}
    for name, run in (
        ("insight", lambda: bench_insight(ws, args.runs)),
        ("rank", lambda: bench_rank(ws)),
        ("cube", lambda: bench_cube(ws)),
        ("subgroups", lambda: bench_subgroups(ws, args.sample)),
        ("personas", lambda: bench_personas(args.workdir)),
    ):
        if name in skip:
            continue
        results[name] = run()
        print(name, json.dumps(results[name], ensure_ascii=False), flush=True)
    results["peak_rss_gib_parent"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(json.dumps(results, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
