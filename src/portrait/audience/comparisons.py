"""Comparisons of expressions → (true, unknown) bitmaps: tag against tag, arithmetic, list
sizes and dates moved by days, with SQL's NULL semantics.

Two ways, chosen per comparison:

- **a range query** when one side is a numeric tag or ``size(tag)`` and the other a constant
  (``size(interests) >= 3``, ``registered_at >= as_of - 1w - 3d``): the same bitmaps as a tag
  condition;
- **per-user arrays** otherwise: each numeric tag's values come from its range index
  (:meth:`ProfileIndex.dense`, kept in memory for the next rule), the expression is computed
  with NumPy over all users, and the comparison is masked by who has every value. Text and
  boolean tags compared with each other (``city = home_city``) are intersected value by value.

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
Column = tuple[npt.NDArray[np.float64] | float, npt.NDArray[np.bool_] | bool]  # values, valid

MICROSECONDS_PER_DAY = 86_400_000_000
_EPOCH = dt.date(1970, 1, 1)
_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _is_constant(expression: Expression) -> bool:
    if isinstance(expression, Arithmetic):
        return _is_constant(expression.left) and _is_constant(expression.right)
    return not isinstance(expression, TagRef | Size)


class _Evaluator:
    def __init__(self, cond: Comparison, index: ProfileIndex, as_of: dt.date | None):
        self.cond = cond
        self.index = index
        self.as_of = as_of
        self.kind = temporal_kind(cond.sides, index.types)
        # a day in the comparison's unit: microseconds when timestamps are compared
        self.day = MICROSECONDS_PER_DAY if self.kind == "timestamp" else 1

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
                    hint="load events, or set profile.as_of in portrait.toml",
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

    def column(self, expression: Expression) -> Column:
        """Per-user values of a side, and whether each user has one."""
        if _is_constant(expression):
            value = self.constant(expression)
            return (0.0, False) if value is None else (value, True)
        if isinstance(expression, TagRef):
            values, valid = self.index.dense(expression.tag)
            if self.kind == "timestamp" and self.index.types[expression.tag] == "date":
                values = values * MICROSECONDS_PER_DAY
            return values, valid
        if isinstance(expression, Size):
            return self.index.values(expression.tag).sizes().astype(np.float64), True
        assert isinstance(expression, Arithmetic)
        left, left_valid = self.column(expression.left)
        right, right_valid = self.column(expression.right)
        valid = np.logical_and(left_valid, right_valid)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if expression.op == "/":
                valid = np.logical_and(valid, np.not_equal(right, 0))
                result = np.divide(left, right)
            else:
                result = _ARITHMETIC[expression.op](left, right)
        return result, valid

    def ranged(self, column: Expression, op: str, bound: Expression) -> Truth | None:
        """``column op constant`` as a range query, when ``column`` is a numeric tag or a
        list's size; None when the comparison needs arrays."""
        if not _is_constant(bound):
            return None
        if isinstance(column, Size):
            index: RangeIndex = self.index.values(column.tag).sizes_index()
        elif isinstance(column, TagRef) and isinstance(self.index.tag(column.tag), RangeIndex):
            if self.kind == "timestamp" and self.index.types[column.tag] == "date":
                return None  # a date against a timestamp: its days are not the unit
            index = self.index.range(column.tag)
        else:
            return None
        value = self.constant(bound)
        if value is None:  # compared with NULL: unknown for everyone
            return BitMap(), FrozenBitMap(range(self.index.n_users))
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
            true, false = self._compare(cond.left, cond.op, cond.right)
        else:
            assert isinstance(cond.right, list)
            low, high = cond.right
            true_low, false_low = self._compare(cond.left, ">=", low)
            true_high, false_high = self._compare(cond.left, "<=", high)
            true, false = true_low & true_high, false_low | false_high  # SQL's AND
        unknown = ~(true | false)
        return bitmap_from_mask(true), bitmap_from_mask(unknown)

    def _compare(
        self, left: Expression, op: str, right: Expression
    ) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
        """(true, false) masks of ``left op right`` over all users."""
        n = self.index.n_users
        left_values, left_valid = self.column(left)
        right_values, right_valid = self.column(right)
        valid = np.broadcast_to(np.logical_and(left_valid, right_valid), (n,))
        with np.errstate(invalid="ignore"):
            holds = np.broadcast_to(_COMPARE[op](left_values, right_values), (n,))
        return holds & valid, ~holds & valid

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
        everyone = FrozenBitMap(range(self.index.n_users))
        return everyone - unknown - equal, unknown


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
