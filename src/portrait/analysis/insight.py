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
bitmap intersection cardinalities, fewer than one per value (:mod:`portrait.analysis.counting`): no member
list is materialised.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from pyroaring import AbstractBitMap

from portrait.analysis.counting import Shape, TagCounts, tag_counter
from portrait.errors import InputError
from portrait.index.profile_index import ProfileIndex
from portrait.stats import ratio_interval, two_proportion_ztest

MISSING = "(missing)"
ALPHA = 0.05


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


@dataclass(frozen=True)
class _Rows:
    """The value rows of every tag as parallel arrays: counts and their shares' denominators."""

    labels: list[str]
    target: npt.NDArray[np.int64]
    target_den: npt.NDArray[np.int64]
    baseline: npt.NDArray[np.int64]
    baseline_den: npt.NDArray[np.int64]

    @classmethod
    def gather(
        cls,
        per_tag: Sequence[tuple[str, TagCounts, TagCounts]],
        sizes: tuple[int, int],
        include_missing: bool,
    ) -> _Rows:
        """A row per value of each tag, and per missing value with ``include_missing`` (its
        shares then over all members: ``sizes`` of target and baseline)."""
        labels: list[str] = []
        parts: list[list[npt.NDArray[np.int64]]] = [[], [], [], []]
        for _, t, b in per_tag:
            labels += t.labels
            t_counts, b_counts, t_den, b_den = t.counts, b.counts, t.known, b.known
            if include_missing:
                labels.append(MISSING)
                t_counts, b_counts = np.append(t_counts, t.missing), np.append(b_counts, b.missing)
                t_den, b_den = sizes
            parts[0].append(t_counts)
            parts[1].append(np.full(len(t_counts), t_den, dtype=np.int64))
            parts[2].append(b_counts)
            parts[3].append(np.full(len(b_counts), b_den, dtype=np.int64))
        target, target_den, baseline, baseline_den = (
            np.concatenate(part) if part else np.zeros(0, dtype=np.int64) for part in parts
        )
        return cls(labels, target, target_den, baseline, baseline_den)


def _floats(values: npt.NDArray[np.float64], scale: float = 1.0) -> list[float | None]:
    """Python floats (times ``scale``), NaN as None."""
    return [None if math.isnan(v) else scale * v for v in values.tolist()]


def _value_rows(rows: _Rows, inside: bool, min_count: int) -> list[dict[str, Any]]:
    """Shares, TGI, z-test and TGI interval of every row, computed over all rows at once."""
    tc, t_den, bc, b_den = rows.target, rows.target_den, rows.baseline, rows.baseline_den
    # the rest of the baseline (disjoint from the target) for the test
    r_count = bc - tc if inside else bc
    r_den = b_den - t_den if inside else b_den
    z, p = two_proportion_ztest(tc, t_den, r_count, r_den)
    low, high = ratio_interval(tc, t_den, bc, b_den)
    with np.errstate(divide="ignore", invalid="ignore"):
        t_share = np.where(t_den > 0, tc / t_den, 0.0)
        b_share = np.where(b_den > 0, bc / b_den, 0.0)
        tgi = np.where(b_share > 0, t_share / np.where(b_share > 0, b_share, 1) * 100, np.nan)
    columns = zip(
        rows.labels,
        tc.tolist(),
        t_share.tolist(),
        bc.tolist(),
        b_share.tolist(),
        _floats(tgi),
        _floats(low, 100),
        _floats(high, 100),
        _floats(z),
        _floats(p),
        strict=True,
    )
    return [
        {
            "value": label,
            "target": n_t,
            "target_share": s_t,
            "baseline": n_b,
            "baseline_share": s_b,
            "tgi": tgi_i,
            "tgi_low": low_i,
            "tgi_high": high_i,
            "z": z_i,
            "p_value": p_i,
            "significant": p_i is not None and p_i < ALPHA and n_t >= min_count,
            "missing": label == MISSING,
        }
        for label, n_t, s_t, n_b, s_b, tgi_i, low_i, high_i, z_i, p_i in columns
    ]


def _missing_row(t: TagCounts, b: TagCounts, t_size: int, b_size: int) -> dict[str, Any]:
    """The missing value's own row: its count and share of all members, no test."""
    return {
        "value": MISSING,
        "target": t.missing,
        "target_share": t.missing / t_size if t_size else 0.0,
        "baseline": b.missing,
        "baseline_share": b.missing / b_size if b_size else 0.0,
        "tgi": None,
        "tgi_low": None,
        "tgi_high": None,
        "z": None,
        "p_value": None,
        "significant": False,
        "missing": True,
    }


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
    user (``baseline_name="population"``) is counted from the bitmap sizes alone.

    The counts of every tag are gathered first, then the statistics of all rows are computed
    in one vectorised pass (not one per tag)."""
    if min_count < 0:
        raise InputError("--min-count cannot be negative")
    everyone = baseline_name == "population" and len(baseline) == index.n_users
    inside = everyone or target.issubset(baseline)
    t_size, b_size = len(target), len(baseline)
    t_shape = Shape.of(target)
    b_shape = None if everyone else Shape.of(baseline)
    per_tag: list[tuple[str, TagCounts, TagCounts]] = []
    for tag in tags:
        counter = tag_counter(index.tag(tag), types[tag])
        t = counter.count(target, t_shape)
        b = counter.everyone if b_shape is None else counter.count(baseline, b_shape)
        per_tag.append((tag, t, b))
    rows = _Rows.gather(per_tag, (t_size, b_size), include_missing)
    values = iter(_value_rows(rows, inside, min_count))
    report = InsightReport(t_size, b_size, baseline_name)
    for tag, t, b in per_tag:
        for _ in range(len(t.labels) + include_missing):
            report.rows.append({"tag": tag, **next(values)})
        if not include_missing:
            report.rows.append({"tag": tag, **_missing_row(t, b, t_size, b_size)})
    return report


def ranked(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Large, significant differences first: significant rows by |ln TGI|, then the rest."""

    def key(row: dict[str, Any]) -> tuple[int, float, int]:
        tgi = row["tgi"]
        spread = abs(math.log(tgi / 100)) if tgi else 0.0
        return (0 if row["significant"] else 1, -spread, -int(row["target"]))

    return sorted(rows, key=key)
