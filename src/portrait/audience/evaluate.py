"""Rule → Roaring bitmap of dense user ids, with SQL's three-valued logic.

Every node evaluates to a pair (true, unknown) of bitmaps; false is everyone else. A condition
on a user without a value is unknown; ``not`` swaps true and false and keeps unknown; ``and`` is
false as soon as one side is false, ``or`` true as soon as one side is true. Only true users are
selected, so ``not city = "北京"`` leaves out users whose city is unknown and
``city is null`` selects them — exactly what SQL's WHERE does.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import reduce

import numpy as np
from pyroaring import BitMap

from portrait.errors import InputError
from portrait.index.profile_index import ProfileIndex
from portrait.index.ranges import RangeIndex
from portrait.index.rollup import RollupIndex, compare
from portrait.index.values import ValueIndex
from portrait.model.rules import (
    And,
    BehaviourCondition,
    IdListRef,
    Not,
    Or,
    Rule,
    SegmentRef,
    TagCondition,
)
from portrait.model.schema import Scalar, temporal_value

Truth = tuple[BitMap, BitMap]  # (true, unknown)


class UnsupportedLeafError(InputError):
    """A leaf the evaluator cannot answer with the data at hand."""

    code = "unsupported_rule"


def _no_source(kind: str) -> Callable[[str], BitMap]:
    def refuse(name: str) -> BitMap:
        raise UnsupportedLeafError(f"{kind}('{name}') cannot be evaluated here")

    return refuse


@dataclass
class Sources:
    """What leaves other than tag conditions read.

    ``rollup``: the event rollup index (behaviour conditions); ``as_of``: the date windows end
    on; ``segment`` / ``id_list``: members of a saved segment / uploaded list by name;
    ``events_sql``: behaviour conditions with property filters, which the rollup does not
    keep, answered over the raw events.
    """

    rollup: RollupIndex | None = None
    as_of: dt.date | None = None
    segment: Callable[[str], BitMap] = field(default_factory=lambda: _no_source("segment"))
    id_list: Callable[[str], BitMap] = field(default_factory=lambda: _no_source("ids"))
    events_sql: Callable[[BehaviourCondition], BitMap] | None = None


def behaviour_bitmap(cond: BehaviourCondition, sources: Sources, n_users: int) -> BitMap:
    """Users for whom the measure over the window satisfies the comparison (users without
    matching events count 0, so ``events("x", last="30d") = 0`` selects them)."""
    if cond.where:
        if sources.events_sql is None:
            raise UnsupportedLeafError("behaviour conditions with property filters need the events")
        return sources.events_sql(cond)
    if sources.rollup is None or sources.as_of is None:
        raise UnsupportedLeafError(
            "behaviour conditions need the event rollup",
            hint="load events and run 'portrait build'",
        )
    start, end = cond.window.days(sources.as_of)
    values = sources.rollup.measure(
        cond.measure,
        start,
        end,
        n_users,
        event=cond.event,
        business_line=cond.business_line,
        of=cond.of,
    )
    return compare(values, cond.op, cond.value)


def _number(value: Scalar, value_type: str) -> float:
    """A rule value in the unit of the range index (days for dates, microseconds for times)."""
    if value_type in ("date", "timestamp"):
        moment = temporal_value(value, value_type)
        if isinstance(moment, dt.datetime):
            return float(np.datetime64(moment, "us").astype(np.int64))
        return float((moment - dt.date(1970, 1, 1)).days)
    return float(value)


def _text(value: Scalar) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _tag(
    cond: TagCondition, index: ValueIndex | RangeIndex, everyone: BitMap, value_type: str
) -> Truth:
    missing = index.missing
    present = everyone - missing
    op = cond.op
    if op == "is null":
        return missing, BitMap()
    if op == "is not null":
        return present, BitMap()
    values = cond.value if isinstance(cond.value, list) else [cond.value]
    if isinstance(index, ValueIndex):
        sets = [index.get(_text(v)) for v in values if v is not None]
        if op in ("=", "in", "contains any"):
            true = reduce(BitMap.union, sets, BitMap()) if len(sets) != 1 else sets[0]
        elif op in ("!=", "not in"):
            true = present - reduce(BitMap.union, sets, BitMap())
        elif op == "contains all":
            true = reduce(BitMap.intersection, sorted(sets, key=len))
        else:
            raise UnsupportedLeafError(f"'{op}' does not apply to tag '{cond.tag}'")
        return true, missing
    numbers = [_number(v, value_type) for v in values if v is not None]
    if op in ("=", "in"):
        true = reduce(BitMap.union, (index.equal(n) for n in numbers), BitMap())
    elif op in ("!=", "not in"):
        true = present - reduce(BitMap.union, (index.equal(n) for n in numbers), BitMap())
    elif op == "<":
        true = index.range(None, numbers[0], high_inclusive=False)
    elif op == "<=":
        true = index.range(None, numbers[0])
    elif op == ">":
        true = index.range(numbers[0], None, low_inclusive=False)
    elif op == ">=":
        true = index.range(numbers[0], None)
    elif op == "between":
        true = index.range(numbers[0], numbers[1])
    else:
        raise UnsupportedLeafError(f"'{op}' does not apply to tag '{cond.tag}'")
    return true, missing


def _evaluate(rule: Rule, index: ProfileIndex, everyone: BitMap, sources: Sources) -> Truth:
    if isinstance(rule, TagCondition):
        return _tag(rule, index.tag(rule.tag), everyone, index.types[rule.tag])
    if isinstance(rule, BehaviourCondition):
        return behaviour_bitmap(rule, sources, index.n_users), BitMap()
    if isinstance(rule, SegmentRef):
        return sources.segment(rule.name) & everyone, BitMap()
    if isinstance(rule, IdListRef):
        return sources.id_list(rule.name) & everyone, BitMap()
    if isinstance(rule, Not):
        true, unknown = _evaluate(rule.item, index, everyone, sources)
        return everyone - true - unknown, unknown
    if isinstance(rule, And):
        parts = sorted(
            (_evaluate(i, index, everyone, sources) for i in rule.items), key=lambda p: len(p[0])
        )
        true = reduce(BitMap.intersection, (t for t, _ in parts))  # smallest first
        maybe = reduce(BitMap.intersection, (t | u for t, u in parts))
        return true, maybe - true
    if isinstance(rule, Or):
        parts = [_evaluate(i, index, everyone, sources) for i in rule.items]
        true = reduce(BitMap.union, (t for t, _ in parts))
        unknown = reduce(BitMap.union, (u for _, u in parts)) - true
        return true, unknown
    raise UnsupportedLeafError(f"unknown rule node {rule!r}")


def evaluate_rule(rule: Rule, index: ProfileIndex, sources: Sources | None = None) -> BitMap:
    """The users (dense ids) for whom ``rule`` is true."""
    everyone = BitMap(range(index.n_users))
    true, _ = _evaluate(rule, index, everyone, sources or Sources())
    return true
