"""Counting an audience's members per tag value, for insight (:mod:`portrait.analysis.insight`).

What insight reports: a row per value of a categorical tag, at most :data:`NUMERIC_BINS` bins
of a numeric one, each with its label. The counts come from the tag index's counting plan
(:class:`portrait.index.counting.CountingPlan`), built on first use and kept while its index
is loaded.
"""

from __future__ import annotations

import datetime as dt
import weakref
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from pyroaring import AbstractBitMap

from portrait.index.counting import CountingPlan, MemberCounts, Shape
from portrait.index.ranges import RangeIndex
from portrait.index.values import ValueIndex

NUMERIC_BINS = 12
"""Numeric tags are reported in at most this many bins (merged breakpoints of the index)."""
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


def readable_label(label: str, value_type: str) -> str:
    """A bin label for people: ``(5, 1731]`` of an int tag reads ``6–1731`` (``6`` when the
    bin holds one value), of a date ``2026-01-02 – 2026-02-01``; of other numbers ``over 5,
    up to 1731``. Single values, ``≤ x`` and labels of categorical tags are kept."""
    if not (label.startswith("(") and label.endswith("]") and ", " in label):
        return label
    low, high = label[1:-1].split(", ", 1)
    try:
        if value_type == "int":
            first = int(low) + 1
            return str(first) if first == int(high) else f"{first}–{high}"
        if value_type == "date":
            first_day = dt.date.fromisoformat(low) + dt.timedelta(days=1)
            return high if first_day.isoformat() == high else f"{first_day} – {high}"
    except ValueError:
        return label
    return f"over {low}, up to {high}"


def bin_bounds(
    index: RangeIndex, value_type: str, label: str
) -> tuple[float | str | None, float | str]:
    """The bin of a numeric tag that insight labelled ``label`` (:func:`range_labels`), as
    ``(low, high)``: its values ``x`` are ``low < x <= high`` (no lower bound when ``low`` is
    None; one value when ``low == high``). Bounds are the index's own breakpoints (numbers for
    int and float tags, ISO text for dates and timestamps), not the rounded label.

    Raises KeyError for a label the tag's report does not have."""
    chosen = _chosen_breakpoints(index)
    labels = range_labels(index, value_type, chosen)
    at = labels.index(label) if label in labels else -1
    if at < 0:
        raise KeyError(label)

    def bound(k: int) -> float | str:
        raw = index.breakpoints[k]
        if value_type == "timestamp":  # to the microsecond: the label stops at seconds
            moment = dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=int(raw))
            return moment.isoformat(sep=" ")
        if value_type == "date":
            return _label(float(raw), value_type)
        return int(raw) if value_type == "int" else float(raw)

    k = chosen[at]
    previous = chosen[at - 1] if at else -1
    if index.exact and k == previous + 1:
        return bound(k), bound(k)
    return (None if at == 0 else bound(previous)), bound(k)


class TagCounter:
    """Counts audiences on one tag: the row labels insight shows and the index's counting
    plan for those rows. Built once per loaded index (:func:`tag_counter`)."""

    def __init__(self, index: ValueIndex | RangeIndex, value_type: str) -> None:
        if isinstance(index, ValueIndex):
            self.plan = CountingPlan(index)
            self.labels = index.values
        else:
            chosen = _chosen_breakpoints(index)
            self.labels = range_labels(index, value_type, chosen)
            self.plan = CountingPlan(index, chosen)
        self.everyone = self._labelled(self.plan.everyone)

    def _labelled(self, found: MemberCounts) -> TagCounts:
        return TagCounts(self.labels, found.counts, found.known, found.missing)

    def count(self, members: AbstractBitMap, shape: Shape) -> TagCounts:
        """How many of ``members`` (of container mix ``shape``) hold each value."""
        return self._labelled(self.plan.count(members, shape))


_COUNTERS: weakref.WeakKeyDictionary[ValueIndex | RangeIndex, TagCounter] = (
    weakref.WeakKeyDictionary()
)


def tag_counter(index: ValueIndex | RangeIndex, value_type: str) -> TagCounter:
    """The counter of a loaded tag index: built on first use, kept as long as the index is."""
    counter: TagCounter | None = _COUNTERS.get(index)
    if counter is None:
        counter = _COUNTERS[index] = TagCounter(index, value_type)
    return counter


def tag_counts(
    index: ValueIndex | RangeIndex,
    value_type: str,
    members: AbstractBitMap,
    *,
    everyone: bool = False,
) -> TagCounts:
    """How many of ``members`` hold each value of a tag, from intersection cardinalities (the
    index's own bitmap sizes when ``members`` is every user)."""
    counter = tag_counter(index, value_type)
    if everyone:
        return counter.everyone
    return counter.count(members, Shape.of(members))
