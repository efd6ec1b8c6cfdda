"""Association-rule benchmark: Portrait's Apriori on basket bitmaps against mlxtend's FP-growth.

A report, not a pass/fail test. Synthetic baskets (seeded): ``--items`` items with Zipf-like
popularity (exponent 0.8), basket sizes 1 + Poisson(3), and 40 planted pairs (item i bought,
then item j added with probability 0.35) so that rules exist at every level. For each size in
``--baskets`` (default 200,000 and 1,000,000):

- **Portrait**: ``frequent_itemsets(baskets, min_support, max_size=4)`` then
  ``association_rules(itemsets, min_confidence)``, the lists of item names as input (what
  ``ws.association_rules`` hands it after reading the orders);
- **mlxtend** (what a Python user would otherwise reach for), up to ``--mlxtend-max`` baskets:
  ``TransactionEncoder`` to a sparse one-hot DataFrame (timed separately as "encode"), then
  ``fpgrowth(..., max_len=4)`` and ``association_rules``.

Both sides' itemset counts are checked equal. Timing: ``--runs`` rounds (default 3) after one
warm-up, sides alternating; p50 and min are reported.

Usage::

    .venv/bin/python bench/association_bench.py [--baskets 200000 1000000] [--items 500]
        [--min-support 0.001] [--min-confidence 0.2] [--runs 3] [--mlxtend-max 1000000]

Target (reported, never enforced): 1M baskets over 500 items at min-support 0.001 within 60 s.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import base_facts, sample_stats, time_sides, write_results
from portrait.analysis.association import association_rules, frequent_itemsets

RESULTS = Path(__file__).resolve().parent / "results"
TARGET_SECONDS = 60.0


def make_baskets(n: int, items: int, seed: int) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, items + 1) ** 0.8
    weights /= weights.sum()
    names = np.array([f"item{i:03d}" for i in range(items)])
    sizes = 1 + rng.poisson(3, n)
    drawn = rng.choice(items, size=int(sizes.sum()), p=weights)
    pairs = rng.choice(items, size=(40, 2), replace=True)
    follow = {int(a): int(b) for a, b in pairs if a != b}
    baskets: list[list[str]] = []
    start = 0
    coin = rng.random(int(sizes.sum()))
    for size in sizes:
        chosen = set(drawn[start : start + size].tolist())
        for k, item in enumerate(list(chosen)):
            partner = follow.get(item)
            if partner is not None and coin[start + k] < 0.35:
                chosen.add(partner)
        baskets.append(names[sorted(chosen)].tolist())
        start += size
    return baskets


class Side:
    def __init__(self, name: str, fn: Any) -> None:
        self.name = name
        self.fn = fn
        self.samples: list[float] = []
        self.error: str | None = None
        self.result: Any = None

    def call(self) -> float:
        gc.collect()
        t = time.perf_counter()
        self.result = self.fn()
        return time.perf_counter() - t


def portrait_side(baskets: list[list[str]], support: float, confidence: float) -> Any:
    def run() -> tuple[dict[tuple[str, ...], int], int]:
        itemsets = frequent_itemsets(baskets, support, max_size=4)
        rules = association_rules(itemsets, confidence)
        return itemsets.counts, len(rules)

    return run


def mlxtend_sides(baskets: list[list[str]], support: float, confidence: float) -> list[Side]:
    import pandas as pd
    from mlxtend.frequent_patterns import association_rules as mx_rules
    from mlxtend.frequent_patterns import fpgrowth
    from mlxtend.preprocessing import TransactionEncoder

    state: dict[str, Any] = {}

    def encode() -> None:
        encoder = TransactionEncoder()
        matrix = encoder.fit(baskets).transform(baskets, sparse=True)
        state["df"] = pd.DataFrame.sparse.from_spmatrix(matrix, columns=encoder.columns_)

    def mine() -> tuple[dict[tuple[str, ...], int], int]:
        frame = fpgrowth(state["df"], min_support=support, use_colnames=True, max_len=4)
        rules = mx_rules(frame, metric="confidence", min_threshold=confidence)
        n = len(baskets)
        counts = {
            tuple(sorted(items)): round(s * n)
            for items, s in zip(frame["itemsets"], frame["support"], strict=True)
        }
        return counts, len(rules)

    return [Side("mlxtend encode", encode), Side("mlxtend fpgrowth + rules", mine)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baskets", type=int, nargs="+", default=[200_000, 1_000_000])
    parser.add_argument("--items", type=int, default=500)
    parser.add_argument("--min-support", type=float, default=0.001)
    parser.add_argument("--min-confidence", type=float, default=0.2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--mlxtend-max", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    con = duckdb.connect()
    facts = base_facts(con)
    print(f"# Association rules: {facts['cpu']}, {facts['nproc']} cores, {facts['ram']}")
    print()
    print(
        f"{args.items} items, min-support {args.min_support}, min-confidence "
        f"{args.min_confidence}, max itemset size 4, {args.runs} runs after 1 warm-up"
    )
    print()
    print("| baskets | side | p50 s | min s | itemsets | rules | same itemsets |")
    print("|---:|---|---:|---:|---:|---:|---|")
    results = []
    for n in args.baskets:
        t = time.perf_counter()
        baskets = make_baskets(n, args.items, args.seed)
        generated = time.perf_counter() - t
        sides = [Side("Portrait", portrait_side(baskets, args.min_support, args.min_confidence))]
        if n <= args.mlxtend_max:
            sides += mlxtend_sides(baskets, args.min_support, args.min_confidence)
        time_sides(sides, args.runs, warmup=1)
        reference = sides[0].result
        for side in sides:
            stats = sample_stats(side.samples)
            itemsets = rules = same = ""
            if side.result is not None:
                itemsets, rules = f"{len(side.result[0]):,}", f"{side.result[1]:,}"
                same = "—" if side is sides[0] else str(side.result[0] == reference[0])
            p50 = "—" if stats["p50"] is None else f"{stats['p50']:.2f}"
            low = "—" if stats["min"] is None else f"{stats['min']:.2f}"
            print(f"| {n:,} | {side.name} | {p50} | {low} | {itemsets} | {rules} | {same} |")
            results.append(
                {
                    "baskets": n,
                    "side": side.name,
                    "error": side.error,
                    "itemsets": None if side.result is None else len(side.result[0]),
                    "rules": None if side.result is None else side.result[1],
                    "same_itemsets": None if side.result is None else same,
                    "generate_seconds": generated,
                    **stats,
                }
            )
            if side.error:
                print(f"|  | {side.name} failed: {side.error} | | | | | |")
        del baskets, sides
        gc.collect()
    portrait = [r for r in results if r["side"] == "Portrait" and r["p50"] is not None]
    if portrait:
        largest = max(portrait, key=lambda r: r["baskets"])
        print()
        print(
            f"target: {largest['baskets']:,} baskets in {largest['p50']:.1f} s "
            f"(target {TARGET_SECONDS:.0f} s)"
        )
    write_results(
        RESULTS,
        "association",
        {"facts": facts, "args": vars(args), "results": results},
    )


if __name__ == "__main__":
    main()
