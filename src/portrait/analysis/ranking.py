"""Feature ranking (选特征): which tags tell a target audience apart from the rest of a
universe (every user, or a baseline audience), and which are representative.

For each tag the users of the universe form a contingency table: target / rest × the tag's
values (its insight rows: values, or at most 12 bins of a number; users without a value are
a column of their own, "(missing)"). From the table, with ``n_ij`` its cells, ``n`` its total:

- **mutual information** ``I(T;X) = Σ n_ij/n · ln(n·n_ij / (n_i·n_j))`` (nats; scikit-learn's
  ``mutual_info_score`` on the same labels);
- **Cramér's V** ``sqrt(χ² / (n · (min(r, c) − 1)))`` with Pearson's χ² of the table, no
  continuity correction (SciPy's ``contingency.association(method="cramer")``);
- for numeric tags, **Spearman's ρ** between the tag and membership, from the same table with
  mid-ranks (users without a value left out; exact when the index holds every value, else over
  its bins) and, from the values themselves when the caller sees exact numbers, the
  **point-biserial** correlation (Pearson's r of the value and the 0/1 membership: SciPy's
  ``pointbiserialr``). Their sign is the direction: higher or lower in the target;
- **coverage** (users with a value / the universe) and **balance** (the entropy of the value
  shares over its maximum, ``H / ln k``: 1 when values are equally common, 0 when one holds
  everyone) with the **dominant share**: the article's "most representative" features have
  high coverage and balance;
- the **direction** of a categorical tag: its most over-represented value (highest TGI low end
  of the significant rows of the insight report).

Multi-valued tags (a user holds several values) do not split the users: each of their values
is a yes/no feature and the tag is ranked by its most informative value (named in the row).

Every count comes from the insight report of the target (:mod:`portrait.analysis.insight`), so
a caller under disclosure control gets numbers computed from released counts only: suppressed
cells are left out of the table (post-processing of what was released discloses nothing more)
and no point-biserial correlation (it reads values).
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from portrait.analysis.counting import readable_label
from portrait.analysis.insight import InsightReport
from portrait.errors import InputError

RankBy = Literal["mutual_info", "cramers_v", "association", "coverage", "balance"]
RANK_BY: tuple[str, ...] = ("mutual_info", "cramers_v", "association", "coverage", "balance")


@dataclass(frozen=True)
class Association:
    """The association measures of one contingency table (target / rest × values)."""

    mutual_info: float
    cramers_v: float
    chi2: float


def association(table: npt.NDArray[np.float64]) -> Association:
    """Mutual information (nats), Cramér's V and χ² of a 2-D table of counts (empty rows and
    columns are left out; a table of one row or column associates nothing: all 0)."""
    table = np.asarray(table, dtype=np.float64)
    table = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]
    n = float(table.sum())
    if n <= 0 or min(table.shape) < 2:
        return Association(0.0, 0.0, 0.0)
    rows, cols = table.sum(axis=1, keepdims=True), table.sum(axis=0, keepdims=True)
    expected = rows @ cols / n
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(table > 0, table / n * np.log(table * n / (rows @ cols)), 0.0)
    chi2 = float(((table - expected) ** 2 / expected).sum())
    v = math.sqrt(chi2 / (n * (min(table.shape) - 1)))
    return Association(max(float(terms.sum()), 0.0), min(v, 1.0), chi2)


def spearman_from_table(table: npt.NDArray[np.float64]) -> float | None:
    """Spearman's ρ of two ordered variables given as a table of counts (rows: the first
    variable's values in order, columns: the second's): the Pearson correlation of their
    mid-ranks, weighted by the counts (the ties' average ranks, as SciPy's ``spearmanr`` gives
    on the expanded data). None when either variable is constant."""
    table = np.asarray(table, dtype=np.float64)
    n = table.sum()
    if n <= 0:
        return None
    ranks = []
    for totals in (table.sum(axis=1), table.sum(axis=0)):
        ends = np.cumsum(totals)
        ranks.append(ends - (totals - 1) / 2)  # mid-rank of each value
    r_row, r_col = ranks
    w_row, w_col = table.sum(axis=1), table.sum(axis=0)
    m_row, m_col = (w_row @ r_row) / n, (w_col @ r_col) / n
    d_row, d_col = r_row - m_row, r_col - m_col
    cov = float(d_row @ table @ d_col) / n
    var_row, var_col = float(w_row @ d_row**2) / n, float(w_col @ d_col**2) / n
    if var_row <= 0 or var_col <= 0:
        return None
    return float(max(-1.0, min(1.0, cov / math.sqrt(var_row * var_col))))


def balance(counts: npt.NDArray[np.float64]) -> tuple[float, float]:
    """The normalised entropy ``H / ln k`` of the value counts and the largest share (k values
    with users; one value: balance 0)."""
    counts = np.asarray(counts, dtype=np.float64)
    counts = counts[counts > 0]
    total = counts.sum()
    if total <= 0:
        return 0.0, 0.0
    shares = counts / total
    dominant = float(shares.max())
    if counts.size < 2:
        return 0.0, dominant
    entropy = float(-(shares * np.log(shares)).sum())
    return min(entropy / math.log(counts.size), 1.0), dominant


@dataclass
class Ranking:
    """A row per tag, best first (:meth:`to_dict` for JSON), and the circular tags left out."""

    target_size: int | None
    universe_size: int | None
    universe: str
    by: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    left_out: dict[str, str] = field(default_factory=dict)
    """Circular tags not ranked, with why (:mod:`portrait.analysis.circularity`)."""
    privacy: dict[str, Any] | None = None
    metric: str | None = None
    """The numeric tag ranked against (its bins as ordered classes) instead of an audience."""

    def to_dict(self, top: int | None = None) -> dict[str, Any]:
        result: dict[str, Any] = {
            "metric": self.metric,
            "target_size": self.target_size,
            "universe": self.universe,
            "universe_size": self.universe_size,
            "by": self.by,
            "rows": self.rows[:top] if top else self.rows,
            "left_out": [{"tag": t, "why": w} for t, w in sorted(self.left_out.items())],
        }
        if self.privacy is not None:
            result["privacy"] = self.privacy
        return result


@dataclass(frozen=True)
class TagFacts:
    """What the ranking needs to know of a tag besides its counts."""

    title: str
    kind: Literal["numeric", "categorical", "multi"]
    value_type: str = "string"
    exact: bool = True
    """Numeric: whether the insight rows hold one value each (Spearman is then exact)."""


def _direction(rows: Sequence[dict[str, Any]], value_type: str) -> dict[str, Any] | None:
    """The most over-represented value of a tag: significant, TGI low end above 100; with its
    label for people (:func:`portrait.analysis.counting.readable_label`)."""
    found = [r for r in rows if not r["missing"] and r["significant"] and (r["tgi_low"] or 0) > 100]
    if not found:
        return None
    best = max(found, key=lambda r: float(r["tgi_low"]))
    return {
        "value": best["value"],
        "label": readable_label(best["value"], value_type),
        "tgi": best["tgi"],
        "tgi_low": best["tgi_low"],
    }


def _counts(rows: Sequence[dict[str, Any]], key: str) -> npt.NDArray[np.float64]:
    return np.array([np.nan if r[key] is None else r[key] for r in rows], dtype=np.float64)


def _rank_tag(
    tag: str,
    facts: TagFacts,
    rows: Sequence[dict[str, Any]],
    sizes: tuple[float, float],
) -> dict[str, Any]:
    """One tag's row from its insight rows (counts of every value and of the missing)."""
    t_size, u_size = sizes
    values = [r for r in rows if not r["missing"]]
    missing = [r for r in rows if r["missing"]]
    target, universe = _counts(values, "target"), _counts(values, "baseline")
    t_missing = float(missing[0]["target"] or 0) if missing else 0.0
    u_missing = float(missing[0]["baseline"] or 0) if missing else 0.0
    kept = ~(np.isnan(target) | np.isnan(universe))
    target, universe = target[kept], np.maximum(universe[kept], target[kept])
    rest = universe - target
    labels = [r["value"] for r, k in zip(values, kept.tolist(), strict=True) if k]
    best_value = None
    if facts.kind == "multi":
        best = Association(0.0, 0.0, 0.0)
        for label, t_v, u_v in zip(labels, target.tolist(), universe.tolist(), strict=True):
            table = np.array([[t_v, t_size - t_v], [u_v - t_v, (u_size - t_size) - (u_v - t_v)]])
            found = association(np.maximum(table, 0))
            if found.mutual_info > best.mutual_info:
                best, best_value = found, label
        measures = best
    else:
        table = np.vstack([np.append(target, t_missing), np.append(rest, u_missing - t_missing)])
        measures = association(np.maximum(table, 0))
    spearman = None
    if facts.kind == "numeric" and target.size:
        spearman = spearman_from_table(np.vstack([rest, target]).T)
    known = float(universe.sum()) if facts.kind != "multi" else u_size - u_missing
    even, dominant = balance(universe)
    return {
        "tag": tag,
        "title": facts.title,
        "kind": facts.kind,
        "mutual_info": measures.mutual_info,
        "cramers_v": measures.cramers_v,
        "spearman": spearman,
        "spearman_exact": facts.exact if spearman is not None else None,
        "point_biserial": None,
        "association": spearman,
        "coverage": (known / u_size) if u_size > 0 else None,
        "balance": even,
        "dominant_share": dominant,
        "values": len(labels),
        "best_value": best_value,
        "direction": _direction(values, facts.value_type),
        "higher_in_target": None if spearman is None else spearman > 0,
        "circular": None,
    }


def rank(
    report: InsightReport,
    facts: Mapping[str, TagFacts],
    *,
    by: str = "mutual_info",
    point_biserial: Mapping[str, float | None] | None = None,
    circular: Mapping[str, str] | None = None,
) -> Ranking:
    """Rank the tags of an insight report made with ``include_missing`` (every count of the
    target and of the universe). ``point_biserial``: the exact correlations of numeric tags,
    when the caller may have them; ``circular``: tags that were included though circular,
    flagged in their rows."""
    if by not in RANK_BY:
        raise InputError(
            f"cannot rank by '{by}'", where="--by", hint="one of " + ", ".join(RANK_BY)
        )
    t_size, u_size = report.target_size, report.baseline_size
    if t_size is not None and u_size is not None:
        if t_size == 0:
            raise InputError(
                "the target has no members in the universe: there is nothing to rank against",
                where="target",
            )
        if t_size >= u_size:
            raise InputError(
                "the target holds every user of the universe: no tag can tell it apart",
                where="target",
                hint="choose a smaller target or a wider baseline",
            )
    by_tag: dict[str, list[dict[str, Any]]] = {}
    for row in report.rows:
        by_tag.setdefault(row["tag"], []).append(row)
    sizes = (float(t_size or 0), float(u_size or 0))
    result = Ranking(t_size, u_size, report.baseline, by, privacy=report.privacy)
    for tag, rows in by_tag.items():
        row = _rank_tag(tag, facts[tag], rows, sizes)
        exact = (point_biserial or {}).get(tag)
        if exact is not None:
            row["point_biserial"] = row["association"] = exact
            row["higher_in_target"] = exact > 0
        if circular and tag in circular:
            row["circular"] = circular[tag]
        result.rows.append(row)

    def key(row: dict[str, Any]) -> tuple[float, str]:
        value = row[by]
        return (-(abs(value) if value is not None else -1.0), row["tag"])

    result.rows.sort(key=key)
    return result


@dataclass(frozen=True)
class Moments:
    """Count, sum and sum of squares of a numeric tag's values over some users with a value,
    taken about ``shift`` (so that large values, such as timestamps in microseconds, keep
    their precision)."""

    n: float
    total: float
    squares: float

    @classmethod
    def of(
        cls, column: npt.NDArray[Any], missing: int, shift: float, users: npt.NDArray[Any] | None
    ) -> Moments:
        """Over ``users`` (dense ids; every user when None) of ``column``, which holds 0 for a
        user without a value; ``missing`` of them have none."""
        values = column if users is None else column[users]
        d = values.astype(np.float64)
        d -= shift
        # Users without a value hold 0: their terms are dropped (not added and taken back
        # out, which would cancel catastrophically for large values); the zeros that are
        # real values are put back, their terms are of the data's own scale.
        zeros = values == 0
        np.putmask(d, zeros, 0.0)
        real_zeros = int(np.count_nonzero(zeros)) - missing
        return cls(
            float(values.size - missing),
            float(d.sum()) - real_zeros * shift,
            float(np.dot(d, d)) + real_zeros * shift * shift,
        )


_EVERYONE: weakref.WeakKeyDictionary[Any, Moments] = weakref.WeakKeyDictionary()


def everyone_moments(index: Any, column: npt.NDArray[Any], missing: int, shift: float) -> Moments:
    """:meth:`Moments.of` every user of a loaded tag index (``index``: computed once and kept
    as long as the index is loaded: the universe of every ranking without a baseline)."""
    found = _EVERYONE.get(index)
    if found is None:
        found = _EVERYONE[index] = Moments.of(column, missing, shift, None)
    return found


def point_biserial(universe: Moments, target: Moments) -> float | None:
    """Pearson's r of a numeric tag's values and membership (0/1) over the users with a value:
    ``(m₁ − m₀) / s · sqrt(p(1 − p))`` with m₁, m₀ the means in and out of the target, s the
    standard deviation (ddof 0) and p the target's share. None when either is constant."""
    n, n1 = universe.n, target.n
    if n < 2 or n1 <= 0 or n1 >= n:
        return None
    mean = universe.total / n
    var = universe.squares / n - mean * mean
    if var <= 1e-12 * max(1.0, universe.squares / n):
        return None
    m1 = target.total / n1
    m0 = (universe.total - target.total) / (n - n1)
    p = n1 / n
    return max(-1.0, min(1.0, (m1 - m0) / math.sqrt(var) * math.sqrt(p * (1 - p))))


def rank_by_classes(
    tables: Mapping[str, tuple[list[str], npt.NDArray[np.float64], npt.NDArray[np.float64]]],
    facts: Mapping[str, TagFacts],
    class_sizes: npt.NDArray[np.float64],
    *,
    by: str = "mutual_info",
) -> list[dict[str, Any]]:
    """Rank tags against an ordered target of several classes (the bins of a numeric metric;
    ``class_sizes`` their users): ``tables[tag]`` is (the tag's value labels, counts classes ×
    values, counts per class of users without a value). Mutual information and Cramér's V over
    the whole table (the missing value a column of its own; a multi-valued tag by its most
    informative value, a yes/no table against the classes), Spearman's ρ of a numeric tag's
    values and the classes (both ordered; users with a value), coverage and balance; a
    categorical tag's direction is its value with the highest mean class (the metric tends to
    be high there)."""
    if by not in RANK_BY:
        raise InputError(
            f"cannot rank by '{by}'", where="--by", hint="one of " + ", ".join(RANK_BY)
        )
    sizes = np.asarray(class_sizes, dtype=np.float64)
    total = float(sizes.sum())
    rows = []
    for tag, (labels, counts, missing) in tables.items():
        fact = facts[tag]
        best_value = None
        if fact.kind == "multi":
            measures = Association(0.0, 0.0, 0.0)
            for j, label in enumerate(labels):
                holding = counts[:, j]
                found = association(np.vstack([holding, np.maximum(sizes - holding, 0)]).T)
                if found.mutual_info > measures.mutual_info:
                    measures, best_value = found, label
        else:
            measures = association(np.hstack([counts, missing[:, None]]))
        spearman = spearman_from_table(counts) if fact.kind == "numeric" else None
        universe = counts.sum(axis=0)
        even, dominant = balance(universe)
        direction = None
        if fact.kind == "categorical" and universe.size:
            ranks = np.arange(counts.shape[0], dtype=np.float64)
            with np.errstate(divide="ignore", invalid="ignore"):
                mean_class = (ranks @ counts) / np.where(universe > 0, universe, 1)
            top = int(np.argmax(np.where(universe > 0, mean_class, -1)))
            direction = {"value": labels[top], "label": readable_label(labels[top], fact.value_type),
                         "mean_class": float(mean_class[top])}  # fmt: skip
        rows.append(
            {
                "tag": tag,
                "title": fact.title,
                "kind": fact.kind,
                "mutual_info": measures.mutual_info,
                "cramers_v": measures.cramers_v,
                "spearman": spearman,
                "spearman_exact": fact.exact if spearman is not None else None,
                "point_biserial": None,
                "association": spearman,
                "coverage": 1 - float(missing.sum()) / total if total else None,
                "balance": even,
                "dominant_share": dominant,
                "values": len(labels),
                "best_value": best_value,
                "direction": direction,
                "higher_in_target": None if spearman is None else spearman > 0,
                "circular": None,
            }
        )

    def key(row: dict[str, Any]) -> tuple[float, str]:
        value = row[by]
        return (-(abs(value) if value is not None else -1.0), row["tag"])

    return sorted(rows, key=key)
