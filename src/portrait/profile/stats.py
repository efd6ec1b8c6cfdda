"""Tag statistics computed at build time from the index: coverage, distinct values and the
value distribution shown by the tag catalog."""

from __future__ import annotations

import itertools
from typing import Any, Literal

import numpy as np

from portrait.index.ranges import RangeIndex
from portrait.index.values import ValueIndex
from portrait.model.pii import mask_text
from portrait.model.tags import AnyTag, BucketTag

TOP_VALUES = 50
NUMERIC_BINS = 10


def _fmt(value: float, value_type: str) -> str:
    if value_type == "date":
        return str(np.datetime64(int(value), "D"))
    if value_type == "timestamp":
        return str(np.datetime64(int(value), "us").astype("datetime64[s]")).replace("T", " ")
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.4g}"


def tag_stats(tag: AnyTag, index: ValueIndex | RangeIndex) -> dict[str, Any]:
    """Coverage (users with a value / all users), distinct values and a distribution."""
    n = index.n_users
    missing = len(index.missing)
    stats: dict[str, Any] = {
        "users": n,
        "covered": n - missing,
        "coverage": (n - missing) / n if n else 0.0,
        "null_rate": missing / n if n else 0.0,
    }
    distribution: list[dict[str, Any]] = []
    if isinstance(index, ValueIndex):
        if isinstance(tag, BucketTag):
            counts = index.counts()
            order = {label: i for i, label in enumerate(tag.bucket_labels())}
            counts.sort(key=lambda vc: order.get(vc[0], len(order)))
        else:
            counts = index.top_counts(TOP_VALUES + 1)
        stats["distinct"] = index.distinct
        for value, count in counts[:TOP_VALUES]:
            shown = mask_text(value) if tag.pii else value
            distribution.append({"value": shown, "count": count, "share": count / n if n else 0.0})
        stats["distribution_truncated"] = index.distinct > TOP_VALUES
    else:
        values = index.sorted_values
        vtype = tag.value_type
        stats["distinct"] = int(np.count_nonzero(np.diff(values)) + 1) if len(values) else 0
        if len(values):
            stats["min"] = _fmt(float(values[0]), vtype)
            stats["max"] = _fmt(float(values[-1]), vtype)
            if vtype in ("int", "float"):
                stats["mean"] = float(np.mean(values))
                for q in (25, 50, 75, 90, 99):
                    stats[f"p{q}"] = float(np.percentile(values, q))
        if stats["distinct"] <= 20:
            uniq, cnt = np.unique(values, return_counts=True)
            for v, c in zip(uniq, cnt, strict=True):
                distribution.append(
                    {"value": _fmt(float(v), vtype), "count": int(c), "share": int(c) / n}
                )
        elif len(values):
            edges = np.unique(np.percentile(values, np.linspace(0, 100, NUMERIC_BINS + 1)))
            for i, (lo, hi) in enumerate(itertools.pairwise(edges)):
                last = i == len(edges) - 2
                side: Literal["left", "right"] = "right" if last else "left"
                count = int(
                    np.searchsorted(values, hi, side=side)
                    - np.searchsorted(values, lo, side="left")
                )
                label = f"[{_fmt(float(lo), vtype)}, {_fmt(float(hi), vtype)}{']' if last else ')'}"
                distribution.append({"value": label, "count": count, "share": count / n})
        stats["distribution_truncated"] = False
    stats["distribution"] = distribution
    return stats
