"""Counting plans: how many of an audience's members hold each value of a tag index.

Every count is an intersection cardinality, fewer than one per value: a plan picks, once per
loaded index, which bitmaps to count on (a value's own bitmap or its complement, a numeric
tag's cumulative bitmaps or its bins) and which count to derive from the others. The caller
keeps the plan as long as it keeps the index (:func:`portrait.analysis.counting.tag_counter`).

Example::

    plan = CountingPlan(index)  # a ValueIndex: one row per value, in value order
    found = plan.count(members)
    found.counts, found.known, found.missing
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import numpy.typing as npt
from pyroaring import AbstractBitMap, FrozenBitMap

from portrait.errors import InputError
from portrait.index.ranges import RangeIndex
from portrait.index.values import ValueIndex


@dataclass(frozen=True)
class MemberCounts:
    """Members per row of a plan (a value, or a bin of a numeric tag); plus members with a
    value and without."""

    counts: npt.NDArray[np.int64]
    known: int
    missing: int


# -- the cost of an intersection -----------------------------------------------------------
#
# One insight reads every bitmap of every tag once (~200 MB for the 36 demo tags at 10M
# users), more than the caches hold: the cost is mostly memory traffic. CRoaring works chunk by
# chunk (65,536 ids); per chunk, measured over such a sweep at 10M users on the 2-core machine
# of bench/README.md (~7.5 GB/s from memory):
#
# - a bitset container (8 KiB, 128 cache lines) costs ~1.1 µs as it streams in, against a
#   bitset or an array of more than ~128 values (each a bit test on a line of it);
# - an array container ∩ a bitset costs ~1.5 ns per array value (a bit test each);
# - array ∩ array ~0.7 ns per value on either side (a merge).
#
# So a value held by 2-6% of users (array containers of 1,300-4,096 values) costs up to 5x a
# dense one against a large audience. Its complement within all users is a dense bitset, and
# |members ∩ B| = |members ∩ all| - |members ∩ complement(B)|.

_DENSE_NS = 1100.0
_PROBE_NS = 1.5
_MERGE_NS = 0.7
_LINES = 128  # cache lines of a bitset container
COMPLEMENT_GAIN = 2.0
"""A complement is built and counted on instead of a bitmap only when that is estimated at
least this many times cheaper: each complement kept costs ~n_users/8 bytes (1.2 MiB at 10M
users) for as long as its index is loaded."""
BINS_GAIN = 0.75
"""A numeric tag is counted on its bins rather than its cumulative bitmaps when that is
estimated to cost at most this share (the bins are extra bitmaps, held while loaded)."""


@dataclass(frozen=True)
class Shape:
    """The container mix of a bitmap, which sets what an intersection with it costs."""

    containers: int
    dense: float  # share of bitset and run containers
    array_size: float  # mean values per array container

    @classmethod
    def of(cls, bitmap: AbstractBitMap) -> Shape:
        stats = bitmap.get_statistics()
        containers, arrays = stats["n_containers"], stats["n_array_containers"]
        return cls(
            containers,
            1 - arrays / containers if containers else 0.0,
            stats["n_values_array_containers"] / arrays if arrays else 0.0,
        )

    @classmethod
    def spread(cls, size: int, n_users: int) -> Shape:
        """A bitmap of ``size`` users spread evenly over ``n_users`` ids (an estimate); with
        ``size == n_users`` the shape of a complement, or of a large audience."""
        chunks = -(-n_users // 65536)
        per_chunk = size / chunks if chunks else 0.0
        if per_chunk > 4096:  # CRoaring's array containers hold at most 4,096 values
            return cls(chunks, 1.0, 0.0)
        return cls(chunks if size else 0, 0.0, per_chunk)


def _cost(target: Shape, bitmap: Shape) -> float:
    """Estimated nanoseconds of ``bitmap.intersection_cardinality(target)`` in a sweep: per
    chunk both hold, the cost of each pair of container kinds weighted by how often it occurs."""
    t, b = target.dense, bitmap.dense
    per_chunk = (
        t * b * _DENSE_NS
        + t * (1 - b) * bitmap.array_size * _PROBE_NS
        + (1 - t) * b * _DENSE_NS * min(1.0, target.array_size / _LINES)
        + (1 - t) * (1 - b) * (target.array_size + bitmap.array_size) * _MERGE_NS
    )
    return min(target.containers, bitmap.containers) * per_chunk


def _choose(target: Shape, bitmap: Shape, complement: Shape) -> tuple[float, bool]:
    """(estimated cost, whether to count on the complement) of a bitmap for members of shape
    ``target``."""
    direct = _cost(target, bitmap)
    flipped = _cost(target, complement)
    if direct > COMPLEMENT_GAIN * flipped:
        return flipped, True
    return direct, False


def _plan_cost(shapes: Sequence[Shape], n_users: int, derive_one: bool) -> float:
    """Estimated cost of counting a large audience (bitsets in every chunk) on bitmaps of
    these shapes, less the costliest one when it is derived."""
    dense = Shape.spread(n_users, n_users)
    costs = [_choose(dense, shape, dense)[0] for shape in shapes]
    return sum(costs) - (max(costs) if derive_one and costs else 0.0)


# -- plans ---------------------------------------------------------------------------------


class _Term:
    """A bitmap that audiences are counted on, with its complement within all users (built the
    first time counting on it is the cheaper way, then kept)."""

    def __init__(self, bitmap: AbstractBitMap, n_users: int) -> None:
        self.bitmap = bitmap
        self.size = len(bitmap)
        self.n_users = n_users
        self.shape = Shape.of(bitmap)
        self.complement_shape = Shape.spread(n_users, n_users)
        self._complement: AbstractBitMap | None = None

    def plan(self, target: Shape) -> tuple[float, bool]:
        """(estimated cost, whether to count on the complement) for members of this shape."""
        return _choose(target, self.shape, self.complement_shape)

    def count(self, members: AbstractBitMap, flipped: bool, in_all: int) -> int:
        """Members in the bitmap; ``in_all``: how many members are users at all."""
        if not flipped:
            return self.bitmap.intersection_cardinality(members)
        if self._complement is None:
            self._complement = FrozenBitMap(range(self.n_users)) - self.bitmap
        return in_all - self._complement.intersection_cardinality(members)


class CountingPlan:
    """Counts audiences on one tag index: the bitmaps it needs (``missing`` first) as terms
    and the counts of every user. Build it once per loaded index and keep it: complements and
    bins are built on the way and kept in it. It holds the index's bitmaps, not the index.

    The rows are the values of a :class:`ValueIndex` (in value order), or for a
    :class:`RangeIndex` the bins between ``chosen`` breakpoint positions (ascending, ending
    with the last breakpoint; every breakpoint when not given): the first bin holds the values
    up to its breakpoint, the next ones (previous, breakpoint].

    Counts that follow from others are derived rather than intersected. When the terms
    partition the users (``missing`` and the values of a single-valued tag,
    :attr:`ValueIndex.partitions_users`; ``missing`` and the bins of a numeric tag), the
    costliest one holds the members the others leave over. A numeric tag's present users are
    all users but its missing ones, so its members with a value are the members less the
    missing ones; a cumulative bitmap stored as a complement leaves, of those, the ones with a
    value up to its breakpoint.

    A numeric tag is counted on its bins (differences of consecutive cumulative bitmaps, built
    once) instead of its cumulative bitmaps when that is much cheaper: when few users have a
    value, every cumulative bitmap is sparse yet large, while the bins hold each user once.
    """

    def __init__(self, index: ValueIndex | RangeIndex, chosen: Sequence[int] | None = None):
        self.n_users = n = index.n_users
        self.cumulative = False
        self.complemented = np.zeros(0, dtype=np.bool_)
        if isinstance(index, ValueIndex):
            if chosen is not None:
                raise ValueError("breakpoints are chosen for a range index only")
            if index.sparse:
                raise InputError(
                    f"tag has {index.distinct:,} distinct values, too many to compare one by one",
                    hint="compare a bucket or band of it instead",
                )
            self.terms = [_Term(b, n) for b in (index.missing, *(b for _, b in index.items()))]
            self.derive_one = index.partitions_users
        else:
            chosen = _checked(index, chosen)
            missing = _Term(index.missing, n)
            stored = [_Term(index.stored[k], n) for k in chosen]
            if chosen and self._bins_pay(index, chosen, missing, stored):
                self.terms = [missing, *(_Term(b, n) for b in index.bins(chosen))]
                self.derive_one = True
            else:
                self.terms = [missing, *stored]
                self.derive_one = False
                self.cumulative = True
                self.complemented = np.asarray(index.complemented[chosen], dtype=np.bool_)
        sizes_all = np.array([term.size for term in self.terms], dtype=np.int64)
        self.everyone = self._combine(sizes_all, n, n)
        """The counts of every user (from the bitmap sizes alone)."""

    @staticmethod
    def _bins_pay(
        index: RangeIndex, chosen: list[int], missing: _Term, stored: list[_Term]
    ) -> bool:
        """Whether the bins of the chosen breakpoints are estimated to cost at most
        :data:`BINS_GAIN` of the cumulative bitmaps (their sizes from the index's counts per
        breakpoint, spread evenly), before building them."""
        n = index.n_users
        sizes = np.add.reduceat(index.counts, [0, *(k + 1 for k in chosen[:-1])])
        bins = [Shape.spread(int(size), n) for size in sizes]
        by_bins = _plan_cost([missing.shape, *bins], n, derive_one=True)
        by_cumulative = _plan_cost([missing.shape, *(t.shape for t in stored)], n, False)
        return by_bins < BINS_GAIN * by_cumulative

    def _combine(self, found: npt.NDArray[np.int64], in_all: int, size: int) -> MemberCounts:
        """MemberCounts from the members found in each term (``found[0]``: missing) of an
        audience of ``size`` members, ``in_all`` of them users (all of them, in practice)."""
        missing = int(found[0])
        counts = found[1:]
        if self.cumulative:
            in_present = in_all - missing
            cumulative = np.where(self.complemented, in_present - counts, counts)
            counts = np.diff(cumulative, prepend=0)
        return MemberCounts(counts, size - missing, missing)

    def count(self, members: AbstractBitMap, shape: Shape | None = None) -> MemberCounts:
        """How many of ``members`` hold each value; ``shape``: their :meth:`Shape.of`, when
        the caller counts the same members on several plans."""
        if shape is None:
            shape = Shape.of(members)
        in_all = members.range_cardinality(0, self.n_users)
        plans = [term.plan(shape) for term in self.terms]
        skip = max(range(len(plans)), key=lambda i: plans[i][0]) if self.derive_one else -1
        found = [
            0 if i == skip else term.count(members, flipped, in_all)
            for i, (term, (_, flipped)) in enumerate(zip(self.terms, plans, strict=True))
        ]
        if skip >= 0:
            found[skip] = in_all - sum(found)
        return self._combine(np.array(found, dtype=np.int64), in_all, len(members))


def _checked(index: RangeIndex, chosen: Sequence[int] | None) -> list[int]:
    """The chosen breakpoint positions as a list: every one when None; else ascending and
    ending with the last breakpoint, so that the bins and ``missing`` partition the users."""
    k = index.breakpoints.size
    if chosen is None:
        return list(range(k))
    positions = [int(p) for p in chosen]
    ascending = all(a < b for a, b in pairwise(positions))
    if k and (not positions or not ascending or positions[0] < 0 or positions[-1] != k - 1):
        raise ValueError(f"chosen breakpoints must ascend and end at {k - 1}: {positions}")
    if not k and positions:
        raise ValueError("the index has no breakpoints to choose")
    return positions
