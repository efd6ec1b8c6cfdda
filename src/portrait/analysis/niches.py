"""Niche groups from feature combinations (利基客群): every combination of the values of 2–4
tags as a cell, its users, share, the target metric, lift and significance; the "highlight"
cells (高光客群: small share, large lift); then the bottom-up merge of similar cells into a few
groups, each a rule that can be saved as a segment.

**Cells.** The values of each tag (:mod:`portrait.analysis.cells`: values, the insight bins of
a number, the missing value) are combined by bitmap intersection, depth first: a combination
whose first tags share no user is not extended. Every non-empty cell is kept.

**Metric.** Either a *rate* — the share of the cell's users in a target audience — or a
*mean* of a numeric tag over the cell's users with a value. ``lift = metric(cell) /
metric(all)``.

**Significance.** Each cell against the rest of the universe: the two-proportion z-test of
its rate (pooled), or Welch's t-test of its mean (:mod:`portrait.stats`); the p-values of all
cells corrected together by Benjamini–Hochberg. A cell is a **highlight** when its share of
the universe is at most ``highlight_share`` (default 5%), its lift at least
``highlight_lift`` (default 1.5) and its corrected p-value below α.

**Merging (bottom-up).** Starting from the cells, the two groups whose merge costs least are
merged until ``groups`` remain. The cost is Ward's criterion on the metric, weighted by size:
``n₁n₂ / (n₁ + n₂) · (m₁ − m₂)²`` — the increase of the within-group sum of squares, so
similar metrics merge first and small groups merge before large ones of the same distance.
On one dimension the cheapest merge is always between neighbours in metric order, so the
search looks only there. A group's metric is its users' (rate or mean of the union; cells of
a multi-valued tag may overlap, so a group's users are counted once).

**Rules.** A cell is the conjunction of its values' conditions. A group is first written as a
few boxes — a set of values per tag — by merging cells that differ in one tag only, again
until nothing merges (a box holding every value of a tag, missing included, drops the tag);
then each box becomes a conjunction (``tag in (…)``, neighbouring bins of a number one range)
and the group the OR of its boxes.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from pyroaring import AbstractBitMap, BitMap

from portrait.analysis.cells import OTHER, Cell
from portrait.errors import InputError
from portrait.model.rules import And, Or, Rule, TagCondition
from portrait.rules import print_rule
from portrait.stats import two_proportion_ztest
from portrait.stats.means import welch_test
from portrait.stats.multiple import adjust
from portrait.stats.summary import Arm

MAX_CELLS = 100_000
Release = Callable[[Sequence[AbstractBitMap]], list[int | None]]
"""The sizes of member sets as a caller may see them (None: suppressed)."""
ALPHA = 0.05


@dataclass(frozen=True)
class TagValues:
    """The cells of one tag of the cube, and how its values are written in a rule."""

    tag: str
    cells: list[Cell]
    numeric: bool
    multi: bool
    complete: bool = True
    """Whether the cells hold every user (a multi-valued tag cut to its most common values
    does not: a user may hold only others), so that choosing them all needs no condition."""


@dataclass
class Metric:
    """What each cell is measured by: the rate of a target audience, or the mean of a numeric
    tag (``column`` of every user, ``missing`` those without a value)."""

    kind: Literal["rate", "mean"]
    name: str
    target: AbstractBitMap | None = None
    column: npt.NDArray[Any] | None = None
    missing: AbstractBitMap | None = None


@dataclass
class Cube:
    """The cells (a dict each: values, users, share, metric, lift, p, highlight, rule) and the
    merged groups."""

    tags: list[str]
    metric: str
    kind: str
    universe_size: int
    overall: float | None
    cells: list[dict[str, Any]] = field(default_factory=list)
    groups: list[dict[str, Any]] = field(default_factory=list)
    privacy: dict[str, Any] | None = None

    def to_dict(self, top: int | None = None) -> dict[str, Any]:
        result = {
            "tags": self.tags,
            "metric": self.metric,
            "kind": self.kind,
            "universe_size": self.universe_size,
            "overall": self.overall,
            "cells": self.cells[:top] if top else self.cells,
            "cell_count": len(self.cells),
            "groups": self.groups,
        }
        if self.privacy is not None:
            result["privacy"] = self.privacy
        return result


def check_size(tags: Sequence[TagValues], max_cells: int = MAX_CELLS) -> int:
    """The number of combinations (refused above ``max_cells``, saying how to narrow)."""
    count = math.prod(len(t.cells) for t in tags)
    if count > max_cells:
        sizes = " × ".join(f"{t.tag} {len(t.cells)}" for t in tags)
        raise InputError(
            f"the cube would have {count:,} cells ({sizes}), more than {max_cells:,}",
            where="--tags",
            hint="use fewer tags, or fewer values per tag (--max-values)",
        )
    return count


def combine(
    tags: Sequence[TagValues], universe: AbstractBitMap
) -> list[tuple[tuple[int, ...], AbstractBitMap]]:
    """Every non-empty combination (the value positions per tag) and its users in the universe,
    by depth-first intersection."""
    found: list[tuple[tuple[int, ...], AbstractBitMap]] = []

    def walk(depth: int, at: tuple[int, ...], members: AbstractBitMap) -> None:
        if depth == len(tags):
            found.append((at, members))
            return
        for i, cell in enumerate(tags[depth].cells):
            if not members.intersect(cell.members):
                continue
            walk(depth + 1, (*at, i), members & cell.members)

    walk(0, (), universe)
    return found


@dataclass(frozen=True)
class _Stats:
    n: npt.NDArray[np.float64]  # users (rate) or users with a value (mean)
    total: npt.NDArray[np.float64]  # positives (rate) or sum of values (mean)
    squares: npt.NDArray[np.float64]  # mean: sum of squared values


def _measure(members: Sequence[AbstractBitMap], metric: Metric) -> _Stats:
    if metric.kind == "rate":
        assert metric.target is not None
        n = np.array([len(m) for m in members], dtype=np.float64)
        pos = np.array(
            [m.intersection_cardinality(metric.target) for m in members], dtype=np.float64
        )
        return _Stats(n, pos, pos)
    assert metric.column is not None
    assert metric.missing is not None
    n_list, sums, squares = [], [], []
    for m in members:
        known = m - metric.missing
        values = metric.column[np.asarray(known.to_array(), dtype=np.int64)].astype(np.float64)
        n_list.append(values.size)
        sums.append(float(values.sum()))
        squares.append(float((values * values).sum()))
    return _Stats(np.array(n_list, float), np.array(sums, float), np.array(squares, float))


def _values(s: _Stats, kind: str) -> npt.NDArray[np.float64]:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(s.n > 0, s.total / np.where(s.n > 0, s.n, 1), np.nan)


def _p_values(cells: _Stats, whole: tuple[float, float, float], kind: str) -> list[float | None]:
    n_all, total_all, squares_all = whole
    if kind == "rate":
        _, p = two_proportion_ztest(cells.total, cells.n, total_all - cells.total, n_all - cells.n)
        return [None if math.isnan(v) else float(v) for v in np.asarray(p, dtype=float)]
    out: list[float | None] = []
    for n, t, q in zip(cells.n.tolist(), cells.total.tolist(), cells.squares.tolist(), strict=True):
        rest_n, rest_t, rest_q = n_all - n, total_all - t, squares_all - q
        if not (n >= 2 and rest_n >= 2):  # NaN (suppressed) too
            out.append(None)
            continue
        arm = Arm(int(n), t / n, max((q - t * t / n) / (n - 1), 0.0))
        rest = Arm(
            int(rest_n), rest_t / rest_n, max((rest_q - rest_t**2 / rest_n) / (rest_n - 1), 0.0)
        )
        welch = welch_test(rest, arm).p_value
        out.append(None if math.isnan(welch) else welch)
    return out


# -- rules ------------------------------------------------------------------------------------
Box = tuple[frozenset[int], ...]


def cover(cells: Sequence[tuple[int, ...]]) -> list[Box]:
    """A few boxes (a set of value positions per tag) holding exactly the given cells: boxes
    that differ in one tag only are merged, until none do."""
    boxes: set[Box] = {tuple(frozenset([i]) for i in cell) for cell in cells}
    changed = True
    while changed:
        changed = False
        for position in range(len(next(iter(boxes))) if boxes else 0):
            merged: dict[Box, frozenset[int]] = {}
            for box in boxes:
                rest = box[:position] + box[position + 1 :]
                merged[rest] = merged.get(rest, frozenset()) | box[position]
            if len(merged) < len(boxes):
                boxes = {
                    (*rest[:position], values, *rest[position:]) for rest, values in merged.items()
                }
                changed = True
    return sorted(boxes, key=lambda b: [sorted(v) for v in b])


def _value_of(cell: Cell) -> Any:
    """The value a categorical cell's condition compares with (one value)."""
    condition = cell.condition
    assert isinstance(condition, TagCondition)
    value = condition.value
    return value[0] if isinstance(value, list) else value


def _numeric_condition(values: TagValues, chosen: Sequence[int]) -> list[Rule]:
    """Bins of a number: a range per run of neighbouring bins."""
    runs: list[list[int]] = []
    for i in sorted(chosen):
        if runs and i == runs[-1][-1] + 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    parts: list[Rule] = []
    for run in runs:
        low = _lower(values.cells[run[0]].condition)
        high = _upper(values.cells[run[-1]].condition)
        items = [c for c in (low, high) if c is not None]
        parts.append(items[0] if len(items) == 1 else And(items=items))
    return parts


def _tag_condition(values: TagValues, chosen: frozenset[int]) -> Rule | None:
    """The condition for a set of one tag's cells (None when it holds them all)."""
    if len(chosen) == len(values.cells) and values.complete:
        return None
    picked = [values.cells[i] for i in sorted(chosen)]
    missing = [c for c in picked if c.missing]
    present = [i for i in sorted(chosen) if not values.cells[i].missing]
    parts: list[Rule] = []
    if values.numeric:
        parts += _numeric_condition(values, present)
    elif present:
        cells = [values.cells[i] for i in present]
        listed = [_value_of(c) for c in cells if c.value != OTHER]
        tag = values.tag
        if values.multi:
            parts.append(TagCondition(tag=tag, op="contains any", value=listed))
        elif any(c.value == OTHER for c in cells):
            left = [
                _value_of(c)
                for i, c in enumerate(values.cells)
                if i not in chosen and not c.missing and c.value != OTHER
            ]
            parts.append(
                TagCondition(tag=tag, op="not in", value=left)
                if left
                else TagCondition(tag=tag, op="is not null")
            )
        elif len(listed) == 1:
            parts.append(TagCondition(tag=tag, op="=", value=listed[0]))
        else:
            parts.append(TagCondition(tag=tag, op="in", value=listed))
    parts += [c.condition for c in missing]
    return parts[0] if len(parts) == 1 else Or(items=parts)


def _lower(condition: Rule) -> Rule | None:
    """The lower bound of a bin's condition (None: the first bin, no bound)."""
    if isinstance(condition, And):
        return condition.items[0]
    if isinstance(condition, TagCondition) and condition.op == "=":
        return TagCondition(tag=condition.tag, op=">=", value=condition.value)
    return None


def _upper(condition: Rule) -> Rule | None:
    if isinstance(condition, And):
        return condition.items[1]
    if isinstance(condition, TagCondition) and condition.op == "=":
        return TagCondition(tag=condition.tag, op="<=", value=condition.value)
    return condition


def box_rule(tags: Sequence[TagValues], box: Box) -> Rule | None:
    """A box as a conjunction (None: it holds every user)."""
    items = [c for t, chosen in zip(tags, box, strict=True) if (c := _tag_condition(t, chosen))]
    if not items:
        return None
    flat: list[Rule] = []
    for item in items:
        flat += item.items if isinstance(item, And) else [item]
    return flat[0] if len(flat) == 1 else And(items=flat)


def group_rule(tags: Sequence[TagValues], cells: Sequence[tuple[int, ...]]) -> str:
    """The rule text of a set of cells (an OR of conjunctions, as few as :func:`cover`
    finds); empty text when they hold every user."""
    rules = [box_rule(tags, b) for b in cover(cells)]
    if any(r is None for r in rules):
        return ""
    kept = [r for r in rules if r is not None]
    return print_rule(kept[0] if len(kept) == 1 else Or(items=kept))


# -- the cube ---------------------------------------------------------------------------------
def cube(
    tags: Sequence[TagValues],
    universe: AbstractBitMap,
    metric: Metric,
    *,
    groups: int = 8,
    highlight_share: float = 0.05,
    highlight_lift: float = 1.5,
    max_cells: int = MAX_CELLS,
    release: Release | None = None,
) -> Cube:
    """The cells of the tags' combinations within ``universe``, their metric, lift, corrected
    significance and highlights, and ``groups`` merged groups (see the module docstring).

    ``release``: how a caller under disclosure control sees counts (the size of each member
    set, None when suppressed). Then every number is computed from released counts: a rate's
    cell users and positives, a mean's cell users (its mean only where they are released);
    nothing computed from a suppressed count is shown."""
    if not 2 <= len(tags) <= 4:
        raise InputError(
            f"a cube combines 2 to 4 tags, not {len(tags)}", where="--tags", hint="name 2–4 tags"
        )
    if not 1 <= groups <= 50:
        raise InputError("--groups must be between 1 and 50", where="--groups")
    check_size(tags, max_cells)
    if not universe:
        raise InputError("the universe has no users", where="--baseline")
    found = combine(tags, universe)
    members = [m for _, m in found]
    stats, whole = _measure(members, metric), _measure([universe], metric)
    size_all: float = len(universe)
    if release is not None:
        stats, whole, size_all = _released(members, universe, metric, stats, whole, release)
    n_all, total_all, squares_all = (
        float(whole.n[0]),
        float(whole.total[0]),
        float(whole.squares[0]),
    )
    overall = total_all / n_all if n_all and not math.isnan(total_all) else None
    values = _values(stats, metric.kind)
    p = _p_values(stats, (n_all, total_all, squares_all), metric.kind)
    p_adj = adjust(p, "bh")
    shown_all = None if math.isnan(size_all) else int(size_all)
    result = Cube([t.tag for t in tags], metric.name, metric.kind, shown_all or 0, overall)
    users = stats.n if metric.kind == "rate" else _sizes(members, release)
    for (at, _), n_i, value, p_i, q_i in zip(
        found, users.tolist(), values.tolist(), p, p_adj, strict=True
    ):
        share = n_i / size_all if size_all and not math.isnan(n_i) else math.nan
        lift = value / overall if overall and not math.isnan(value) else None
        significant = q_i is not None and q_i < ALPHA
        result.cells.append(
            {
                "values": {t.tag: t.cells[i].value for t, i in zip(tags, at, strict=True)},
                "label": " and ".join(t.cells[i].label for t, i in zip(tags, at, strict=True)),
                "users": None if math.isnan(n_i) else int(n_i),
                "share": None if math.isnan(share) else share,
                "metric": None if math.isnan(value) else value,
                "lift": lift,
                "p_value": p_i,
                "p_adjusted": q_i,
                "significant": significant,
                "highlight": bool(
                    significant
                    and not math.isnan(share)
                    and share <= highlight_share
                    and lift is not None
                    and lift >= highlight_lift
                ),
                "rule": print_rule(_cell_rule(tags, at)),
                "_at": at,
            }
        )
    result.groups = _merge(tags, found, result.cells, metric, overall, groups, universe, release)
    for c in result.cells:
        del c["_at"]
    result.cells.sort(key=lambda c: (-(c["lift"] or 0), -(c["users"] or 0)))
    return result


def _released(
    members: Sequence[AbstractBitMap],
    universe: AbstractBitMap,
    metric: Metric,
    stats: _Stats,
    whole: _Stats,
    release: Release,
) -> tuple[_Stats, _Stats, float]:
    """The cells' and the universe's statistics from released counts (NaN: suppressed)."""

    def counts(sets: Sequence[AbstractBitMap]) -> npt.NDArray[np.float64]:
        return np.array([math.nan if v is None else v for v in release(sets)], dtype=np.float64)

    sizes = counts([*members, universe])
    if metric.kind == "rate":
        assert metric.target is not None
        target = metric.target
        positives = counts([m & target for m in members] + [universe & target])
        cells = _Stats(sizes[:-1], positives[:-1], positives[:-1])
        return cells, _Stats(sizes[-1:], positives[-1:], positives[-1:]), float(sizes[-1])
    hidden = np.isnan(sizes[:-1])
    nan = np.where(hidden, np.nan, 1.0)
    cells = _Stats(stats.n * nan, stats.total * nan, stats.squares * nan)
    return cells, whole, float(sizes[-1])


def _sizes(members: Sequence[AbstractBitMap], release: Release | None) -> npt.NDArray[np.float64]:
    if release is None:
        return np.array([len(m) for m in members], dtype=np.float64)
    return np.array([math.nan if v is None else v for v in release(members)], dtype=np.float64)


def _cell_rule(tags: Sequence[TagValues], at: tuple[int, ...]) -> Rule:
    items: list[Rule] = []
    for t, i in zip(tags, at, strict=True):
        condition = t.cells[i].condition
        items += condition.items if isinstance(condition, And) else [condition]
    return And(items=items) if len(items) > 1 else items[0]


def _merge(
    tags: Sequence[TagValues],
    found: Sequence[tuple[tuple[int, ...], AbstractBitMap]],
    cells: Sequence[dict[str, Any]],
    metric: Metric,
    overall: float | None,
    target_groups: int,
    universe: AbstractBitMap,
    release: Release | None,
) -> list[dict[str, Any]]:
    """Ward's agglomeration of the cells on their metric (neighbours in metric order); cells
    without a metric (no users with a value, or suppressed) are left out."""
    groups = [
        {"cells": [at], "n": float(c["users"]), "m": c["metric"]}
        for (at, _), c in zip(found, cells, strict=True)
        if c["metric"] is not None and c["users"]
    ]
    groups.sort(key=lambda g: g["m"])
    while len(groups) > target_groups:
        costs = [
            a["n"] * b["n"] / (a["n"] + b["n"]) * (a["m"] - b["m"]) ** 2
            for a, b in itertools.pairwise(groups)
        ]
        i = int(np.argmin(costs))
        a, b = groups[i], groups[i + 1]
        n = a["n"] + b["n"]
        groups[i : i + 2] = [
            {"cells": a["cells"] + b["cells"], "n": n, "m": (a["n"] * a["m"] + b["n"] * b["m"]) / n}
        ]
    by_at = dict(found)
    groups.sort(key=lambda g: -g["m"])
    members = [BitMap.union(*[by_at[at] for at in g["cells"]]) for g in groups]
    stats, whole = _measure(members, metric), _measure([universe], metric)
    size_all: float = len(universe)
    if release is not None:
        stats, whole, size_all = _released(members, universe, metric, stats, whole, release)
    values = _values(stats, metric.kind)
    users = stats.n if metric.kind == "rate" else _sizes(members, release)
    out = []
    for g, n_i, value in zip(groups, users.tolist(), values.tolist(), strict=True):
        known = not math.isnan(n_i)
        out.append(
            {
                "cells": len(g["cells"]),
                "users": int(n_i) if known else None,
                "share": n_i / size_all if known and size_all else None,
                "metric": None if math.isnan(value) else value,
                "lift": value / overall if overall and not math.isnan(value) else None,
                "rule": group_rule(tags, g["cells"]),
                "labels": [
                    " and ".join(t.cells[i].label for t, i in zip(tags, at, strict=True))
                    for at in g["cells"][:5]
                ],
            }
        )
    return out
