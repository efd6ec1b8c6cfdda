"""Audience insight (人群洞察): how a target audience differs from a baseline, tag value by
tag value, with TGI and a significance measure.

For every value v of a tag: members of the target holding v, their share, the same for the
baseline, and **TGI** = share_target(v) / share_baseline(v) × 100. Shares are "valid percent":
over the members whose value is known; the missing value is its own row (its count and its
share of *all* members) unless ``include_missing``, which makes it an ordinary value.
Multi-valued tags count a member under each value it holds (shares may add up to more than 1).
Numeric tags are reported in at most 12 bins made of the breakpoints of their range index
(single values when a tag has few).

Significance: a two-proportion z-test of the target's share against the rest of the baseline
(the baseline without the target, so the samples are disjoint; against the whole baseline when
the target is not inside it), and a 95% interval for the TGI (log method). Counts come from
bitmap intersection cardinalities: no member list is materialised.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from pyroaring import AbstractBitMap

from portrait.errors import InputError
from portrait.index.profile_index import ProfileIndex
from portrait.index.ranges import RangeIndex
from portrait.index.values import ValueIndex
from portrait.stats import ratio_interval, two_proportion_ztest

MISSING = "(missing)"
NUMERIC_BINS = 12
"""Numeric tags are reported in at most this many bins (merged breakpoints of the index)."""
ALPHA = 0.05
_EPOCH = dt.date(1970, 1, 1)


@dataclass(frozen=True)
class TagCounts:
    """Per value of one tag: members holding it; plus members with a value and without."""

    labels: list[str]
    counts: npt.NDArray[np.int64]
    known: int
    missing: int


def _label(value: float, value_type: str) -> str:
    if value_type == "date":
        return (_EPOCH + dt.timedelta(days=int(value))).isoformat()
    if value_type == "timestamp":
        moment = dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=int(value))
        return moment.isoformat(sep=" ", timespec="seconds")
    if value_type == "int" or float(value).is_integer():
        return str(int(value))
    return f"{value:.6g}"


def _chosen_breakpoints(index: RangeIndex) -> list[int]:
    """At most NUMERIC_BINS breakpoints of a range index, evenly by position (the last one
    always): the bins insight reports for a numeric tag."""
    k = index.breakpoints.size
    if k <= NUMERIC_BINS:
        return list(range(k))
    return sorted({round(x) for x in np.linspace(-1, k - 1, NUMERIC_BINS + 1)[1:]})


def range_labels(index: RangeIndex, value_type: str, chosen: list[int]) -> list[str]:
    """A label per chosen breakpoint: the value itself when the bin holds one value of an
    exact index, else ``(previous, breakpoint]`` (the first bin ``≤ breakpoint``)."""
    points = [_label(float(b), value_type) for b in index.breakpoints]
    labels = []
    for i, k in enumerate(chosen):
        previous = chosen[i - 1] if i else -1
        if index.exact and k == previous + 1:
            labels.append(points[k])
        elif i == 0:
            labels.append(f"≤ {points[k]}")
        else:
            labels.append(f"({points[previous]}, {points[k]}]")
    return labels


def tag_counts(
    index: ValueIndex | RangeIndex,
    value_type: str,
    members: AbstractBitMap,
    *,
    everyone: bool = False,
) -> TagCounts:
    """How many of ``members`` hold each value of a tag (intersection cardinalities; plain
    bitmap sizes when ``members`` is every user)."""

    def overlap(bitmap: AbstractBitMap) -> int:
        return len(bitmap) if everyone else bitmap.intersection_cardinality(members)

    missing = overlap(index.missing)
    known = len(members) - missing
    if isinstance(index, ValueIndex):
        if index.sparse:
            raise InputError(
                f"tag has {index.distinct:,} distinct values, too many to compare one by one",
                hint="compare a bucket or band of it instead",
            )
        counts = np.array([overlap(bitmap) for _, bitmap in index.items()], dtype=np.int64)
        return TagCounts(index.values, counts, known, missing)
    chosen = _chosen_breakpoints(index)
    in_present = overlap(index.present_users)
    cumulative = np.array(
        [
            in_present - overlap(index.stored[k])
            if index.complemented[k]
            else overlap(index.stored[k])
            for k in chosen
        ],
        dtype=np.int64,
    )
    counts = np.diff(cumulative, prepend=0)
    return TagCounts(range_labels(index, value_type, chosen), counts, known, missing)


@dataclass
class InsightReport:
    """Rows of (tag, value) with counts, shares, TGI and significance."""

    target_size: int
    baseline_size: int
    baseline: str
    rows: list[dict[str, Any]] = field(default_factory=list)

    def distinctive(self, top: int = 10) -> list[dict[str, Any]]:
        """The values that most distinguish the target: over-represented (TGI > 100) with the
        lower end of the TGI's 95% interval above 100, ranked by that lower end. A large TGI on
        a handful of members has a wide interval, so it ranks low."""
        rows = [
            r
            for r in self.rows
            if not r["missing"] and r["significant"] and (r["tgi_low"] or 0) > 100
        ]
        return sorted(rows, key=lambda r: -float(r["tgi_low"]))[:top]


def _nan_to_none(value: float) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


def insight(
    index: ProfileIndex,
    tags: Sequence[str],
    types: Mapping[str, str],
    target: AbstractBitMap,
    baseline: AbstractBitMap,
    *,
    baseline_name: str = "population",
    include_missing: bool = False,
    min_count: int = 30,
) -> InsightReport:
    """Compare ``target`` with ``baseline`` on every value of ``tags``. A baseline of every
    user (``baseline_name="population"``) is counted from the bitmap sizes alone."""
    if min_count < 0:
        raise InputError("--min-count cannot be negative")
    everyone = baseline_name == "population" and len(baseline) == index.n_users
    inside = everyone or target.issubset(baseline)
    report = InsightReport(len(target), len(baseline), baseline_name)
    for tag in tags:
        t = tag_counts(index.tag(tag), types[tag], target)
        b = tag_counts(
            index.tag(tag),
            types[tag],
            baseline,
            everyone=everyone,
        )
        labels, tc, bc = list(t.labels), t.counts, b.counts
        t_den, b_den = t.known, b.known
        if include_missing:
            labels.append(MISSING)
            tc = np.append(tc, t.missing)
            bc = np.append(bc, b.missing)
            t_den, b_den = len(target), len(baseline)
        # the rest of the baseline (disjoint from the target) for the test
        r_count = bc - tc if inside else bc
        r_den = b_den - t_den if inside else b_den
        z, p = two_proportion_ztest(tc, t_den, r_count, r_den)
        low, high = ratio_interval(tc, t_den, bc, b_den)
        with np.errstate(divide="ignore", invalid="ignore"):
            t_share = tc / t_den if t_den else np.zeros(len(tc))
            b_share = bc / b_den if b_den else np.zeros(len(bc))
            tgi = np.where(b_share > 0, t_share / np.where(b_share > 0, b_share, 1) * 100, np.nan)
        for i, label in enumerate(labels):
            p_value = _nan_to_none(float(p[i]))
            report.rows.append(
                {
                    "tag": tag,
                    "value": label,
                    "target": int(tc[i]),
                    "target_share": float(t_share[i]),
                    "baseline": int(bc[i]),
                    "baseline_share": float(b_share[i]),
                    "tgi": _nan_to_none(float(tgi[i])),
                    "tgi_low": _nan_to_none(100 * float(low[i])),
                    "tgi_high": _nan_to_none(100 * float(high[i])),
                    "z": _nan_to_none(float(z[i])),
                    "p_value": p_value,
                    "significant": bool(
                        p_value is not None and p_value < ALPHA and tc[i] >= min_count
                    ),
                    "missing": label == MISSING,
                }
            )
        if not include_missing:
            report.rows.append(
                {
                    "tag": tag,
                    "value": MISSING,
                    "target": t.missing,
                    "target_share": t.missing / len(target) if len(target) else 0.0,
                    "baseline": b.missing,
                    "baseline_share": b.missing / len(baseline) if len(baseline) else 0.0,
                    "tgi": None,
                    "tgi_low": None,
                    "tgi_high": None,
                    "z": None,
                    "p_value": None,
                    "significant": False,
                    "missing": True,
                }
            )
    return report


def ranked(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Large, significant differences first: significant rows by |ln TGI|, then the rest."""

    def key(row: dict[str, Any]) -> tuple[int, float, int]:
        tgi = row["tgi"]
        spread = abs(math.log(tgi / 100)) if tgi else 0.0
        return (0 if row["significant"] else 1, -spread, -int(row["target"]))

    return sorted(rows, key=key)
