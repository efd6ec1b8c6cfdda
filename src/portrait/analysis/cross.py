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

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from pyroaring import AbstractBitMap

from portrait.errors import InputError

Release = Callable[[Sequence[str], npt.NDArray[np.int64]], npt.NDArray[np.float64]]
"""How counts reach the caller (:mod:`portrait.access.disclosure`): released counts of the
named cells (``size|i`` of audience i, ``both|i|j`` for i < j), NaN where suppressed."""


def _exact(cells: Sequence[str], values: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    return np.asarray(values, dtype=np.float64)


def _div(a: float | None, b: float | None) -> float | None:
    if a is None or b is None:
        return None
    return a / b if b else 0.0


def pair_metrics(
    size_a: int | None, size_b: int | None, both: int | None, population: int
) -> dict[str, Any]:
    """The measures of one ordered pair A→B from its counts (zero where undefined, None
    where computed from a suppressed count)."""
    union = None if None in (size_a, size_b, both) else max(size_a + size_b - both, 0)  # type: ignore[operator]
    confidence = _div(both, size_a)
    share_b = _div(size_b, population)
    row = {
        "size_a": size_a,
        "size_b": size_b,
        "both": both,
        "union": union,
        "overlap_union": _div(both, union),
        "support": _div(both, population),
        "confidence": None if confidence is None else min(confidence, 1.0),
        "lift": None if confidence is None or share_b is None else _div(confidence, share_b),
    }
    if None in (size_a, size_b, both):
        row["suppressed"] = True
    return row


def cross_matrix(
    audiences: Sequence[tuple[str, AbstractBitMap]],
    population: int,
    *,
    min_support: float = 0.0,
    min_confidence: float = 0.0,
    release: Release = _exact,
) -> list[dict[str, Any]]:
    """Every ordered pair (A, B) of distinct audiences, with :func:`pair_metrics` and
    ``flagged`` (support ≥ min_support and confidence ≥ min_confidence). Counts go through
    ``release`` before any measure is computed from them."""
    if not 0 <= min_support <= 1 or not 0 <= min_confidence <= 1:
        raise InputError("--min-support and --min-confidence are shares between 0 and 1")
    if len(audiences) < 2:
        raise InputError("cross analysis needs at least two audiences")
    names = [name for name, _ in audiences]
    if len(set(names)) != len(names):
        raise InputError("each audience may appear once", where=", ".join(names))
    n = len(audiences)
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    cells = [f"size|{i}" for i in range(n)] + [f"both|{i}|{j}" for i, j in pairs]
    exact = [len(a) for _, a in audiences] + [
        audiences[i][1].intersection_cardinality(audiences[j][1]) for i, j in pairs
    ]
    out = [None if math.isnan(v) else int(v) for v in release(cells, np.asarray(exact)).tolist()]
    sizes = out[:n]
    both = {pair: out[n + k] for k, pair in enumerate(pairs)}
    rows = []
    for i, name_a in enumerate(names):
        for j, name_b in enumerate(names):
            if i == j:
                continue
            common = both[(min(i, j), max(i, j))]
            row = {"a": name_a, "b": name_b, **pair_metrics(sizes[i], sizes[j], common, population)}
            row["flagged"] = bool(
                row["both"]
                and row["support"] is not None
                and row["confidence"] is not None
                and row["support"] >= min_support
                and row["confidence"] >= min_confidence
            )
            rows.append(row)
    return rows
