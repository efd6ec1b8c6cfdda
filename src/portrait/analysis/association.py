"""Association rules for cross-sell (关联推荐): frequent itemsets and rules over baskets.

Itemsets are mined level by level (Apriori) on Roaring bitmaps of basket numbers: an itemset's
support count is the cardinality of the intersection of its items' bitmaps, and a candidate
of size k+1 is kept only if all its k-subsets are frequent. For a rule A → B over N baskets:

- ``support`` = sup(A∪B) / N; ``confidence`` = sup(A∪B) / sup(A);
- ``lift`` = confidence / (sup(B) / N);
- ``leverage`` = support(A∪B) − support(A)·support(B);
- ``conviction`` = (1 − support(B)) / (1 − confidence) (infinite when confidence is 1).

:func:`portrait.model.reports.json_rule` gives a rule as JSON can carry it (an infinite
conviction as ``None``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pyroaring import BitMap

from portrait.errors import InputError


@dataclass(frozen=True)
class Itemsets:
    """Frequent itemsets (sorted tuples of items) with their basket counts, of N baskets."""

    baskets: int
    counts: dict[tuple[str, ...], int]

    def support(self, items: tuple[str, ...]) -> float:
        return self.counts[items] / self.baskets


def frequent_itemsets(
    baskets: Iterable[Sequence[str]], min_support: float, max_size: int = 4
) -> Itemsets:
    """Itemsets in at least ``min_support`` of the baskets, up to ``max_size`` items."""
    if not 0 < min_support <= 1:
        raise InputError("--min-support is a share between 0 (excluded) and 1")
    holders: dict[str, BitMap] = {}
    n = 0
    for number, basket in enumerate(baskets):
        n = number + 1
        for item in set(basket):
            holders.setdefault(str(item), BitMap()).add(number)
    threshold = math.ceil(min_support * n - 1e-9) if n else 1
    threshold = max(threshold, 1)
    level: dict[tuple[str, ...], BitMap] = {
        (item,): bm for item, bm in sorted(holders.items()) if len(bm) >= threshold
    }
    counts: dict[tuple[str, ...], int] = {items: len(bm) for items, bm in level.items()}
    size = 1
    while level and size < max_size:
        frequent = set(level)
        following: dict[tuple[str, ...], BitMap] = {}
        last = size + 1 == max_size  # the last level needs counts only, not the baskets
        for group in _by_prefix(sorted(level)):
            # join itemsets sharing all but their last item
            for a, b in itertools.combinations(group, 2):
                candidate = (*a, b[-1])
                if any(sub not in frequent for sub in itertools.combinations(candidate, size)):
                    continue
                if last:
                    count = level[a].intersection_cardinality(level[b])
                    if count >= threshold:
                        counts[candidate] = count
                    continue
                both = level[a] & level[b]
                if len(both) >= threshold:
                    following[candidate] = both
        counts.update({items: len(bm) for items, bm in following.items()})
        level = following
        size += 1
    return Itemsets(n, counts)


def _by_prefix(keys: list[tuple[str, ...]]) -> list[list[tuple[str, ...]]]:
    """Sorted itemsets of one size in runs sharing all but their last item."""
    return [list(run) for _, run in itertools.groupby(keys, key=lambda k: k[:-1])]


def association_rules(itemsets: Itemsets, min_confidence: float = 0.0) -> list[dict[str, Any]]:
    """Every rule A → B from a frequent itemset A∪B (A, B non-empty and disjoint) with
    confidence at least ``min_confidence``; strongest lift first."""
    if not 0 <= min_confidence <= 1:
        raise InputError("--min-confidence is a share between 0 and 1")
    rules = []
    for items, count in itemsets.counts.items():
        if len(items) < 2:
            continue
        for k in range(1, len(items)):
            for antecedent in itertools.combinations(items, k):
                consequent = tuple(i for i in items if i not in antecedent)
                s_ab = itemsets.support(items)
                s_a = itemsets.support(antecedent)
                s_b = itemsets.support(consequent)
                confidence = s_ab / s_a
                if confidence < min_confidence:
                    continue
                rules.append(
                    {
                        "antecedent": list(antecedent),
                        "consequent": list(consequent),
                        "baskets": count,
                        "support": s_ab,
                        "confidence": confidence,
                        "lift": confidence / s_b,
                        "leverage": s_ab - s_a * s_b,
                        "conviction": (1 - s_b) / (1 - confidence) if confidence < 1 else math.inf,
                    }
                )
    return sorted(rules, key=lambda r: (-r["lift"], -r["confidence"], r["antecedent"]))
