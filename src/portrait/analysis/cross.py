"""Cross-business analysis (交叉营销): how audiences overlap, pair by ordered pair.

For audiences A and B among N users:

- ``overlap_union`` = |A∩B| / |A∪B| (the source article's 支持度: recruitment 30,000 and
  new-house 10,000 users sharing 3,000 give 3,000 / 37,000 = 8.1%);
- ``support`` = |A∩B| / N;
- ``confidence`` (A→B) = |A∩B| / |A| (3,000 / 30,000 = 10%: a tenth of the recruitment users
  also use new-house);
- ``lift`` (A→B) = confidence / (|B| / N): how much likelier B is among A than among everyone.

A pair is **flagged** for cross-marketing when its support and confidence reach the
thresholds. Counts are bitmap intersection and union cardinalities.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pyroaring import AbstractBitMap

from portrait.errors import InputError


def pair_metrics(size_a: int, size_b: int, both: int, population: int) -> dict[str, Any]:
    """The measures of one ordered pair A→B from its counts (zero where undefined)."""
    union = size_a + size_b - both
    confidence = both / size_a if size_a else 0.0
    share_b = size_b / population if population else 0.0
    return {
        "size_a": size_a,
        "size_b": size_b,
        "both": both,
        "union": union,
        "overlap_union": both / union if union else 0.0,
        "support": both / population if population else 0.0,
        "confidence": confidence,
        "lift": confidence / share_b if share_b else 0.0,
    }


def cross_matrix(
    audiences: Sequence[tuple[str, AbstractBitMap]],
    population: int,
    *,
    min_support: float = 0.0,
    min_confidence: float = 0.0,
) -> list[dict[str, Any]]:
    """Every ordered pair (A, B) of distinct audiences, with :func:`pair_metrics` and
    ``flagged`` (support ≥ min_support and confidence ≥ min_confidence)."""
    if not 0 <= min_support <= 1 or not 0 <= min_confidence <= 1:
        raise InputError("--min-support and --min-confidence are shares between 0 and 1")
    if len(audiences) < 2:
        raise InputError("cross analysis needs at least two audiences")
    names = [name for name, _ in audiences]
    if len(set(names)) != len(names):
        raise InputError("each audience may appear once", where=", ".join(names))
    rows = []
    for i, (name_a, a) in enumerate(audiences):
        for j, (name_b, b) in enumerate(audiences):
            if i == j:
                continue
            both = a.intersection_cardinality(b)
            row = {"a": name_a, "b": name_b, **pair_metrics(len(a), len(b), both, population)}
            row["flagged"] = bool(
                row["both"] > 0
                and row["support"] >= min_support
                and row["confidence"] >= min_confidence
            )
            rows.append(row)
    return rows
