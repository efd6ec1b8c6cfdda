"""The cells of a tag: each value (the insight bins of a number; optionally its missing value)
with a label for people, the rule condition selecting it and its members as a bitmap. What
subgroup discovery takes as candidate conditions and niche groups combine.

The cells of one single-valued tag, missing included, partition the users; those of a
multi-valued tag (``contains any``) overlap.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyroaring import AbstractBitMap, FrozenBitMap

from portrait.analysis.counting import (
    _chosen_breakpoints,
    bin_bounds,
    range_labels,
    readable_label,
)
from portrait.analysis.insight import MISSING
from portrait.index.ranges import RangeIndex
from portrait.index.values import ValueIndex
from portrait.model.rules import And, Rule, TagCondition

OTHER = "(other)"


@dataclass(frozen=True)
class Cell:
    """One value (or bin) of one tag."""

    tag: str
    value: str
    """The value as insight reports it (a bin: ``(5, 10]``; the missing value: ``(missing)``)."""
    label: str
    """For people: ``city = 北京``, ``age 26–30``, ``city is missing``."""
    condition: Rule
    members: AbstractBitMap

    @property
    def missing(self) -> bool:
        return self.value == MISSING


def _typed(value: str, value_type: str) -> str | bool:
    return value == "true" if value_type == "bool" else value


def tag_cells(
    tag: str,
    index: ValueIndex | RangeIndex,
    value_type: str,
    *,
    max_values: int | None = None,
    include_missing: bool = False,
    other: bool = False,
    min_size: int = 1,
) -> list[Cell]:
    """The cells of ``tag`` holding at least ``min_size`` users: its values (the
    ``max_values`` most common of a categorical tag when given), or its insight bins, then
    with ``other`` the rest of a single-valued tag's values as one cell ``(other)``, and its
    missing value with ``include_missing``."""
    cells: list[Cell] = []
    multi = value_type.startswith("list")
    if isinstance(index, ValueIndex):
        counted = index.top_counts(max_values) if max_values else index.counts()
        for value, size in counted:
            if size < min_size:
                continue
            condition: Rule = (
                TagCondition(tag=tag, op="contains any", value=[value])
                if multi
                else TagCondition(tag=tag, op="=", value=_typed(value, value_type))
            )
            op = "has" if multi else "="
            cells.append(Cell(tag, value, f"{tag} {op} {value}", condition, index.get(value)))
        shown = [c.value for c in cells]
        if other and not multi and len(shown) < index.distinct:
            rest = index.present_users - FrozenBitMap.union(*[c.members for c in cells])
            if len(rest) >= min_size:
                values = [_typed(v, value_type) for v in shown]
                condition = TagCondition(tag=tag, op="not in", value=values)  # type: ignore[arg-type]
                cells.append(Cell(tag, OTHER, f"{tag} other", condition, rest))
    else:
        chosen = _chosen_breakpoints(index)
        labels = range_labels(index, value_type, chosen)
        for label, members in zip(labels, index.bins(chosen), strict=True):
            if len(members) < min_size:
                continue
            low, high = bin_bounds(index, value_type, label)
            upper = TagCondition(tag=tag, op="<=", value=high)
            if low == high:
                condition = TagCondition(tag=tag, op="=", value=high)
            elif low is None:
                condition = upper
            else:
                condition = And(items=[TagCondition(tag=tag, op=">", value=low), upper])
            readable = readable_label(label, value_type)
            cells.append(Cell(tag, label, f"{tag} {readable}", condition, members))
    if include_missing:
        missing = index.missing
        if len(missing) >= min_size:
            cells.append(
                Cell(
                    tag,
                    MISSING,
                    f"{tag} is missing",
                    TagCondition(tag=tag, op="is null"),
                    missing,
                )
            )
    return cells
