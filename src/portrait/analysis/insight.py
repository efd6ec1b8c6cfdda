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
bitmap intersection cardinalities, fewer than one per value (:mod:`portrait.analysis.counting`,
over the tag index's counting plan, :mod:`portrait.index.counting`): no member list is
materialised.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from pyroaring import AbstractBitMap

from portrait.analysis.counting import TagCounts, tag_counter
from portrait.errors import AccessError, InputError, NotFoundError, suggest
from portrait.index.counting import Shape
from portrait.index.profile_index import ProfileIndex, index_kind
from portrait.model.manifests import BuiltTag
from portrait.stats import ratio_interval, two_proportion_ztest

MISSING = "(missing)"
ALPHA = 0.05
MAX_VALUES = 1000
"""Insight compares, by default, the tags with at most this many distinct values."""


@dataclass
class InsightReport:
    """Rows of (tag, value) with counts, shares, TGI and significance."""

    target_size: int | None
    baseline_size: int | None
    baseline: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    privacy: dict[str, Any] | None = None
    """The disclosure note when the numbers were released under control (else None)."""

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

    def ranked(self, top: int | None = None) -> list[dict[str, Any]]:
        """The rows with large, significant differences first (:func:`ranked`); the first
        ``top`` (all when None or 0)."""
        rows = ranked(self.rows)
        return rows[:top] if top else rows

    def to_dict(self, top: int | None = None) -> dict[str, Any]:
        """The report as the API and JSON output give it: sizes, baseline, ranked rows and,
        under disclosure control, whether the target was suppressed and the privacy note."""
        result: dict[str, Any] = {
            "target_size": self.target_size,
            "baseline": self.baseline,
            "baseline_size": self.baseline_size,
            "rows": self.ranked(top),
        }
        if self.privacy is not None:
            result.update(suppressed=self.target_size is None, privacy=self.privacy)
        return result


Release = Callable[[Sequence[str], npt.NDArray[np.int64]], npt.NDArray[np.float64]]
"""How counts reach the caller (:mod:`portrait.access.disclosure`): the released count of
each named cell, NaN for a suppressed one. Cells are named ``"<side>|<what>|<tag>|<label>"``
with side ``target`` or ``baseline`` and what ``v`` (a value), ``known``, ``missing``, and
``"<side>|size"``."""


def _exact(cells: Sequence[str], values: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    return np.asarray(values, dtype=np.float64)


@dataclass(frozen=True)
class _Side:
    """One side's released counts of one tag (floats: NaN where suppressed)."""

    counts: npt.NDArray[np.float64]
    known: float
    missing: float


def _released(
    per_tag: Sequence[tuple[str, TagCounts, TagCounts]],
    sizes: tuple[int, int],
    release: Release,
    population_baseline: Release | None,
) -> tuple[list[tuple[str, list[str], _Side, _Side]], tuple[float, float]]:
    """Every count of the report through ``release`` in one call per side (the baseline of
    every user through ``population_baseline`` when given: the catalog's own numbers)."""
    sides: list[list[_Side]] = []
    released_sizes: list[float] = []
    for side, pick, size, how in (
        ("target", 1, sizes[0], release),
        ("baseline", 2, sizes[1], population_baseline or release),
    ):
        cells: list[str] = [f"{side}|size"]
        values: list[int] = [size]
        for tag, *counts in per_tag:
            c = counts[pick - 1]
            cells += [f"{side}|v|{tag}|{label}" for label in c.labels]
            cells += [f"{side}|known|{tag}", f"{side}|missing|{tag}"]
            values += [*c.counts.tolist(), c.known, c.missing]
        out = how(cells, np.asarray(values, dtype=np.int64))
        released_sizes.append(float(out[0]))
        at, parts = 1, []
        for _, *counts in per_tag:
            n = len(counts[pick - 1].labels)
            parts.append(_Side(out[at : at + n], float(out[at + n]), float(out[at + n + 1])))
            at += n + 2
        sides.append(parts)
    rows = [
        (tag, t.labels, st, sb)
        for (tag, t, _), st, sb in zip(per_tag, sides[0], sides[1], strict=True)
    ]
    return rows, (released_sizes[0], released_sizes[1])


@dataclass(frozen=True)
class _Rows:
    """The value rows of every tag as parallel arrays: counts and their shares' denominators
    (floats, NaN where a released count is suppressed)."""

    labels: list[str]
    target: npt.NDArray[np.float64]
    target_den: npt.NDArray[np.float64]
    baseline: npt.NDArray[np.float64]
    baseline_den: npt.NDArray[np.float64]

    @classmethod
    def gather(
        cls,
        per_tag: Sequence[tuple[str, list[str], _Side, _Side]],
        sizes: tuple[float, float],
        include_missing: bool,
    ) -> _Rows:
        """A row per value of each tag, and per missing value with ``include_missing`` (its
        shares then over all members: ``sizes`` of target and baseline)."""
        labels: list[str] = []
        parts: list[list[npt.NDArray[np.float64]]] = [[], [], [], []]
        for _, tag_labels, t, b in per_tag:
            labels += tag_labels
            t_counts, b_counts, t_den, b_den = t.counts, b.counts, t.known, b.known
            if include_missing:
                labels.append(MISSING)
                t_counts, b_counts = np.append(t_counts, t.missing), np.append(b_counts, b.missing)
                t_den, b_den = sizes
            parts[0].append(t_counts)
            parts[1].append(np.full(len(t_counts), t_den, dtype=np.float64))
            parts[2].append(b_counts)
            parts[3].append(np.full(len(b_counts), b_den, dtype=np.float64))
        target, target_den, baseline, baseline_den = (
            np.concatenate(part) if part else np.zeros(0, dtype=np.float64) for part in parts
        )
        return cls(labels, target, target_den, baseline, baseline_den)


def _floats(values: npt.NDArray[np.float64], scale: float = 1.0) -> list[float | None]:
    """Python floats (times ``scale``), NaN as None."""
    return [None if math.isnan(v) else scale * v for v in values.tolist()]


def _ints(values: npt.NDArray[np.float64]) -> list[int | None]:
    """Released counts as ints, NaN (suppressed) as None."""
    return [None if math.isnan(v) else int(v) for v in values.tolist()]


def _shares(counts: npt.NDArray[np.float64], dens: npt.NDArray[np.float64]) -> npt.NDArray[Any]:
    """count / denominator in [0, 1] (noise may push a count past its denominator); 0 for an
    empty denominator, NaN where either is suppressed."""
    with np.errstate(divide="ignore", invalid="ignore"):
        shares = np.where(dens > 0, counts / np.where(dens > 0, dens, 1), 0.0)
    shares = np.clip(shares, 0.0, 1.0)
    shares[np.isnan(counts) | np.isnan(dens)] = np.nan
    return shares


def _value_rows(rows: _Rows, inside: bool, min_count: int) -> list[dict[str, Any]]:
    """Shares, TGI, z-test and TGI interval of every row, computed over all rows at once from
    the released counts (a number computed from a suppressed count is None)."""
    tc, t_den, bc, b_den = rows.target, rows.target_den, rows.baseline, rows.baseline_den
    # the rest of the baseline (disjoint from the target) for the test
    r_count = np.maximum(bc - tc, 0) if inside else bc
    r_den = np.maximum(b_den - t_den, 0) if inside else b_den
    z, p = two_proportion_ztest(tc, t_den, r_count, r_den)
    low, high = ratio_interval(tc, t_den, bc, b_den)
    t_share, b_share = _shares(tc, t_den), _shares(bc, b_den)
    with np.errstate(divide="ignore", invalid="ignore"):
        tgi = np.where(b_share > 0, t_share / np.where(b_share > 0, b_share, 1) * 100, np.nan)
    columns = zip(
        rows.labels,
        _ints(tc),
        _floats(t_share),
        _ints(bc),
        _floats(b_share),
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
            "significant": p_i is not None and p_i < ALPHA and n_t is not None and n_t >= min_count,
            "missing": label == MISSING,
            **({"suppressed": True} if n_t is None or n_b is None else {}),
        }
        for label, n_t, s_t, n_b, s_b, tgi_i, low_i, high_i, z_i, p_i in columns
    ]


def _missing_row(t: _Side, b: _Side, t_size: float, b_size: float) -> dict[str, Any]:
    """The missing value's own row: its count and share of all members, no test."""
    (n_t, n_b), (s_t, s_b) = (
        _ints(np.array([t.missing, b.missing])),
        _floats(_shares(np.array([t.missing, b.missing]), np.array([t_size, b_size]))),
    )
    return {
        "value": MISSING,
        "target": n_t,
        "target_share": s_t,
        "baseline": n_b,
        "baseline_share": s_b,
        "tgi": None,
        "tgi_low": None,
        "tgi_high": None,
        "z": None,
        "p_value": None,
        "significant": False,
        "missing": True,
        **({"suppressed": True} if n_t is None or n_b is None else {}),
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
    release: Release = _exact,
    population_release: Release | None = None,
) -> InsightReport:
    """Compare ``target`` with ``baseline`` on every value of ``tags``. A baseline of every
    user (``baseline_name="population"``) is counted from the bitmap sizes alone.

    Every count goes through ``release`` (the baseline of every user through
    ``population_release`` when given) before any share, TGI or test is computed from it: a
    caller under disclosure control gets numbers computed from noisy counts, and None for
    anything computed from a suppressed one (:mod:`portrait.access.disclosure`).

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
    released, (rt_size, rb_size) = _released(
        per_tag, (t_size, b_size), release, population_release if everyone else None
    )
    rows = _Rows.gather(released, (rt_size, rb_size), include_missing)
    values = iter(_value_rows(rows, inside, min_count))
    report = InsightReport(
        _ints(np.array([rt_size]))[0], _ints(np.array([rb_size]))[0], baseline_name
    )
    for tag, labels, t_side, b_side in released:
        for _ in range(len(labels) + include_missing):
            report.rows.append({"tag": tag, **next(values)})
        if not include_missing:
            report.rows.append({"tag": tag, **_missing_row(t_side, b_side, rt_size, rb_size)})
    return report


def ranked(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Large, significant differences first: significant rows by |ln TGI|, then the rest."""

    def key(row: dict[str, Any]) -> tuple[int, float, int]:
        tgi = row["tgi"]
        spread = abs(math.log(tgi / 100)) if tgi else 0.0
        return (0 if row["significant"] else 1, -spread, -int(row["target"] or 0))

    return sorted(rows, key=key)


def comparable_tags(
    built: Mapping[str, BuiltTag],
    index: ProfileIndex,
    requested: Sequence[str] | None,
    pii: Collection[str],
    sees_pii: bool,
) -> list[str]:
    """The tags an insight report compares: the ``requested`` ones (each built; personal
    data only for a caller who may see it), else every built tag except personal data and
    tags of near-unique values (more than :data:`MAX_VALUES`, a phone number): they say
    nothing about an audience and are compared only when asked for by name."""
    if requested is not None:
        named = sorted(set(requested) & set(pii))
        if named and not sees_pii:
            raise AccessError(
                f"insight on personal data ({', '.join(named)}) is for the admin role",
                where="--tags",
                hint="pii tags are left out of insight unless an admin names them",
            )
        unknown = [t for t in requested if t not in built]
        if unknown:
            raise NotFoundError(
                f"no built tag named '{unknown[0]}'",
                where="--tags",
                hint=suggest(unknown[0], built) or "see 'portrait tags list'",
            )
        return list(requested)
    return [
        name
        for name, tag in built.items()
        if not tag.pii
        and name not in pii
        and not (index_kind(tag.type) == "values" and index.values(name).distinct > MAX_VALUES)
    ]
