"""Comparisons of expressions → (true, unknown) bitmaps: tag against tag, arithmetic, list
sizes and dates moved by days, with SQL's NULL semantics.

Two ways, chosen per comparison:

- **a range query** when one side is a numeric tag or ``size(tag)`` and the other a constant
  (``size(interests) >= 3``, ``registered_at >= as_of - 1w - 3d``): the same bitmaps as a tag
  condition;
- **per-user values** otherwise: each numeric tag's values in user order come from its range
  index (:meth:`ProfileIndex.column`, memory-mapped), the expression is computed with NumPy a
  slice of users at a time, and the users with a missing tag or a division by zero are
  unknown. Text and boolean tags compared with each other (``city = home_city``) are
  intersected value by value.

Numbers are 64-bit floats (as in the SQL form, which casts to DOUBLE); dates count days and
timestamps microseconds, a date becoming its midnight when compared with a timestamp.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
from pyroaring import AbstractBitMap, BitMap, FrozenBitMap

from portrait.errors import UnsupportedLeafError
from portrait.index.bitmaps import bitmap_from_mask
from portrait.index.profile_index import ProfileIndex
from portrait.index.ranges import RangeIndex
from portrait.index.values import ValueIndex
from portrait.model.expressions import (
    Arithmetic,
    AsOf,
    Duration,
    Expression,
    Size,
    TagRef,
    expression_type,
    temporal_kind,
)
from portrait.model.rules import Comparison
from portrait.model.schema import temporal_value

Truth = tuple[AbstractBitMap, AbstractBitMap]  # (true, unknown)

MICROSECONDS_PER_DAY = 86_400_000_000
_EPOCH = dt.date(1970, 1, 1)
_COMPARE: dict[str, Any] = {
    "=": np.equal,
    "!=": np.not_equal,
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
}


def _is_constant(expression: Expression) -> bool:
    if isinstance(expression, Arithmetic):
        return _is_constant(expression.left) and _is_constant(expression.right)
    return not isinstance(expression, TagRef | Size)


CHUNK = 1 << 16
"""Users per slice: an expression is computed slice by slice, so its temporaries stay in the
CPU cache."""


class _Null(Exception):
    """A constant side has no value (``1 / 0``): the comparison is unknown for everyone."""


class _Evaluator:
    def __init__(self, cond: Comparison, index: ProfileIndex, as_of: dt.date | None):
        self.cond = cond
        self.index = index
        self.as_of = as_of
        self.kind = temporal_kind(cond.sides, index.types)
        # a day in the comparison's unit: microseconds when timestamps are compared
        self.day = MICROSECONDS_PER_DAY if self.kind == "timestamp" else 1
        self.everyone = FrozenBitMap(range(index.n_users))

    def _date(self, day: dt.date) -> float:
        return float((day - _EPOCH).days * self.day)

    def constant(self, expression: Expression) -> float | None:
        """A side without tags as a number in the comparison's unit (None: SQL NULL)."""
        if isinstance(expression, bool):
            return float(expression)
        if isinstance(expression, int | float):
            return float(expression)
        if isinstance(expression, str):  # a date or timestamp literal (validated)
            assert self.kind is not None
            moment = temporal_value(expression, self.kind)
            if isinstance(moment, dt.datetime):
                return float(np.datetime64(moment, "us").astype(np.int64))
            return self._date(moment)
        if isinstance(expression, AsOf):
            if self.as_of is None:
                raise UnsupportedLeafError(
                    "as_of needs the workspace's as-of date",
                    hint="load events, or set data.as_of in portrait.toml",
                )
            return self._date(expression.date(self.as_of))
        if isinstance(expression, Duration):
            return float(expression.days * self.day)
        assert isinstance(expression, Arithmetic)
        left, right = self.constant(expression.left), self.constant(expression.right)
        if left is None or right is None:
            return None
        if expression.op == "/":
            return None if right == 0 else left / right
        return float(_ARITHMETIC[expression.op](left, right))

    def _slice(
        self, expression: Expression, lo: int, hi: int, zeros: npt.NDArray[np.bool_] | None
    ) -> npt.NDArray[Any] | float:
        """Values of a side for users ``lo``..``hi`` (garbage where a tag is missing: those
        users are unknown anyway); users dividing by zero are marked in ``zeros``."""
        if _is_constant(expression):
            value = self.constant(expression)
            if value is None:
                raise _Null
            return value
        if isinstance(expression, TagRef):
            values = self.index.column(expression.tag)[lo:hi]
            if self.kind == "timestamp" and self.index.types[expression.tag] == "date":
                scaled: npt.NDArray[np.float64] = values * np.float64(MICROSECONDS_PER_DAY)
                return scaled
            return values
        if isinstance(expression, Size):
            return self._lengths(expression.tag).sizes()[lo:hi]
        assert isinstance(expression, Arithmetic)
        # numbers as 64-bit floats, as the SQL form's DOUBLE: no integer overflow or division
        left = np.asarray(self._slice(expression.left, lo, hi, zeros), dtype=np.float64)
        right = np.asarray(self._slice(expression.right, lo, hi, zeros), dtype=np.float64)
        if expression.op != "/":
            with np.errstate(invalid="ignore", over="ignore"):  # inf - inf, 0 * inf: NaN
                return _ARITHMETIC[expression.op](left, right)  # type: ignore[no-any-return]
        if right.ndim == 0:
            if right == 0:  # by a constant zero: NULL for everyone (caught as a constant too)
                raise _Null
        elif zeros is not None:
            np.logical_or(zeros[lo:hi], right == 0, out=zeros[lo:hi])
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.divide(left, right)

    def _lengths(self, tag: str) -> ValueIndex:
        index = self.index.values(tag)
        if index.lengths is None:
            raise UnsupportedLeafError(
                f"the index of '{tag}' was built before list sizes were kept",
                hint="run 'portrait build' to rebuild the profile",
            )
        return index

    def ranged(self, column: Expression, op: str, bound: Expression) -> Truth | None:
        """``column op constant`` as a range query, when ``column`` is a numeric tag or a
        list's size; None when the comparison needs the per-user values."""
        if not _is_constant(bound):
            return None
        if isinstance(column, Size):
            index: RangeIndex = self._lengths(column.tag).sizes_index()
        elif isinstance(column, TagRef) and isinstance(self.index.tag(column.tag), RangeIndex):
            if self.kind == "timestamp" and self.index.types[column.tag] == "date":
                return None  # a date against a timestamp: its days are not the unit
            index = self.index.range(column.tag)
        else:
            return None
        value = self.constant(bound)
        if value is None:  # compared with NULL: unknown for everyone
            return BitMap(), self.everyone
        if op == "=":
            true = index.equal(value)
        elif op == "!=":
            true = index.present_users - index.equal(value)
        elif op == "<":
            true = index.range(None, value, high_inclusive=False)
        elif op == "<=":
            true = index.range(None, value)
        elif op == ">":
            true = index.range(value, None, low_inclusive=False)
        else:
            true = index.range(value, None)
        return true, index.missing

    def truth(self) -> Truth:
        cond = self.cond
        if cond.op != "between":
            assert not isinstance(cond.right, list)
            fast = self.ranged(cond.left, cond.op, cond.right)
            if fast is None:
                fast = self.ranged(cond.right, _MIRRORED[cond.op], cond.left)
            if fast is not None:
                return fast
            if self._categorical():
                return self._categorical_truth()
            return self._compare(cond.left, cond.op, cond.right)
        assert isinstance(cond.right, list)
        low, high = cond.right
        constant = _is_constant(low) and _is_constant(high)
        if constant and self.constant(low) is not None and self.constant(high) is not None:
            return self._compare(cond.left, "between", cond.right)  # unknown when the left is
        true_low, unknown_low = self._compare(cond.left, ">=", low)
        true_high, unknown_high = self._compare(cond.left, "<=", high)
        false = (self.everyone - true_low - unknown_low) | (
            self.everyone - true_high - unknown_high
        )
        true = true_low & true_high  # SQL's AND: false when either is
        return true, self.everyone - true - false

    def _compare(self, left: Expression, op: str, right: Expression | list[Expression]) -> Truth:
        """``left op right`` slice by slice: the users for whom it holds, less the unknown
        ones (a tag missing, or a division by zero). ``between`` takes constant bounds."""
        rights = right if isinstance(right, list) else [right]
        missing = [
            self.index.tag(expression.tag).missing
            for side in (left, *rights)
            for expression in _tag_refs(side)
        ]
        n = self.index.n_users
        holds = np.empty(n, dtype=np.bool_)
        divides = any(_divides(side) for side in (left, *rights))
        zeros = np.zeros(n, dtype=np.bool_) if divides else None
        try:
            bounds = [self._slice(r, 0, 0, None) for r in rights] if op == "between" else []
            for lo in range(0, n, CHUNK):
                hi = min(n, lo + CHUNK)
                left_values = self._slice(left, lo, hi, zeros)
                with np.errstate(invalid="ignore"):
                    if op == "between":
                        np.greater_equal(left_values, bounds[0], out=holds[lo:hi])
                        holds[lo:hi] &= np.less_equal(left_values, bounds[1])
                    else:
                        right_values = self._slice(right, lo, hi, zeros)  # type: ignore[arg-type]
                        _COMPARE[op](left_values, right_values, out=holds[lo:hi])
        except _Null:
            return BitMap(), self.everyone
        unknown: AbstractBitMap = FrozenBitMap.union(*missing) if missing else BitMap()
        if zeros is not None:
            unknown = unknown | bitmap_from_mask(zeros)
        return bitmap_from_mask(holds) - unknown, unknown

    def _categorical(self) -> bool:
        kinds = {expression_type(side, self.index.types) for side in self.cond.sides}
        return kinds <= {"text", "bool"}

    def _categorical_truth(self) -> Truth:
        """``tag = tag`` / ``tag != tag`` on text or boolean tags, value by value."""
        cond = self.cond
        if not (isinstance(cond.left, TagRef) and isinstance(cond.right, TagRef)):
            raise UnsupportedLeafError("text is compared tag with tag, or tag with a value")
        left = self.index.values(cond.left.tag)
        right = self.index.values(cond.right.tag)
        same: list[AbstractBitMap] = []
        for value, users in left.items():
            if value in right:
                same.append(users & right.get(value))
        equal = FrozenBitMap.union(*same) if same else FrozenBitMap()
        unknown = left.missing | right.missing
        if cond.op == "=":
            return equal, unknown
        return self.everyone - unknown - equal, unknown


def _divides(expression: Expression) -> bool:
    if isinstance(expression, Arithmetic):
        return expression.op == "/" or _divides(expression.left) or _divides(expression.right)
    return False


def _tag_refs(expression: Expression) -> list[TagRef]:
    """The tags whose missing values make ``expression`` unknown (``size()`` never is)."""
    if isinstance(expression, TagRef):
        return [expression]
    if isinstance(expression, Arithmetic):
        return _tag_refs(expression.left) + _tag_refs(expression.right)
    return []


_ARITHMETIC: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
}
_MIRRORED = {"=": "=", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


def comparison_truth(cond: Comparison, index: ProfileIndex, as_of: dt.date | None) -> Truth:
    """The users for whom ``cond`` is true, and those for whom it is unknown."""
    for name in cond.tags:
        if name not in index:
            raise UnsupportedLeafError(f"unknown tag '{name}'")
    for side in cond.sides:
        if isinstance(side, TagRef) and index.types[side.tag] == "list<string>":
            raise UnsupportedLeafError(f"'{side.tag}' holds several values; use size()")
    return _Evaluator(cond, index, as_of).truth()
