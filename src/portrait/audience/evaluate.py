"""Rule → Roaring bitmap of dense user ids, with SQL's three-valued logic.

Every node evaluates to a pair (true, unknown) of bitmaps; false is everyone else. A condition
on a user without a value is unknown; ``not`` swaps true and false and keeps unknown; ``and`` is
false as soon as one side is false, ``or`` true as soon as one side is true. Only true users are
selected, so ``not city = "北京"`` leaves out users whose city is unknown and
``city is null`` selects them — exactly what SQL's WHERE does.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import reduce

import numpy as np
from pyroaring import AbstractBitMap, BitMap, FrozenBitMap

from portrait.audience.comparisons import comparison_truth
from portrait.errors import UnsupportedLeafError
from portrait.index.profile_index import ProfileIndex
from portrait.index.ranges import RangeIndex
from portrait.index.rollup import RollupIndex, compare
from portrait.index.values import ValueIndex
from portrait.model.expressions import AsOf
from portrait.model.rules import (
    And,
    BehaviourCondition,
    CampaignRef,
    Comparison,
    IdListRef,
    Not,
    Or,
    Rule,
    SegmentRef,
    TagCondition,
)
from portrait.model.schema import Scalar, temporal_value

Truth = tuple[AbstractBitMap, AbstractBitMap]  # (true, unknown)


def _no_source(kind: str) -> Callable[..., AbstractBitMap]:
    def refuse(name: str, *_: str) -> AbstractBitMap:
        raise UnsupportedLeafError(f"{kind}('{name}') cannot be evaluated here")

    return refuse


@dataclass
class Sources:
    """What leaves other than tag conditions read.

    ``rollup``: the event rollup index (behaviour conditions); ``as_of``: the date windows end
    on; ``segment`` / ``id_list``: members of a saved segment / uploaded list by name;
    ``campaign``: users of a campaign with an outcome (``campaign("NAME", "clicked")``);
    ``events_sql``: behaviour conditions with property filters, which the rollup does not
    keep, answered over the raw events.
    """

    rollup: RollupIndex | None = None
    as_of: dt.date | None = None
    segment: Callable[[str], AbstractBitMap] = field(default_factory=lambda: _no_source("segment"))
    id_list: Callable[[str], AbstractBitMap] = field(default_factory=lambda: _no_source("ids"))
    campaign: Callable[[str, str], AbstractBitMap] = field(
        default_factory=lambda: _no_source("campaign")
    )
    events_sql: Callable[[BehaviourCondition], AbstractBitMap] | None = None


def behaviour_bitmap(cond: BehaviourCondition, sources: Sources, n_users: int) -> AbstractBitMap:
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


def _number(value: Scalar | dt.date, value_type: str) -> float:
    """A rule value in the unit of the range index (days for dates, microseconds for times)."""
    if value_type in ("date", "timestamp"):
        moment = temporal_value(
            value.isoformat() if isinstance(value, dt.date) else value, value_type
        )
        if isinstance(moment, dt.datetime):
            return float(np.datetime64(moment, "us").astype(np.int64))
        return float((moment - dt.date(1970, 1, 1)).days)
    assert not isinstance(value, dt.date)
    return float(value)


def _text(value: Scalar | dt.date) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _union(sets: list[AbstractBitMap]) -> AbstractBitMap:
    if not sets:
        return FrozenBitMap()
    return sets[0] if len(sets) == 1 else FrozenBitMap.union(*sets)


def _resolved(value: Scalar | AsOf, as_of: dt.date | None) -> Scalar | dt.date:
    if not isinstance(value, AsOf):
        return value
    if as_of is None:
        raise UnsupportedLeafError(
            "as_of needs the workspace's as-of date",
            hint="load events, or set profile.as_of in portrait.toml",
        )
    return value.date(as_of)


def _emptiness(cond: TagCondition, index: ValueIndex | RangeIndex, value_type: str) -> Truth:
    """``is [not] null`` and ``is [not] empty``: never unknown. A list tag's NULL and empty
    list are told apart (both are missing for the other operators)."""
    empty: AbstractBitMap = FrozenBitMap()
    if value_type == "list<string>":
        assert isinstance(index, ValueIndex)
        if index.empty is None:
            raise UnsupportedLeafError(
                f"the index of '{cond.tag}' was built before empty lists were told from "
                "missing ones",
                hint="run 'portrait build' to rebuild the profile",
            )
        empty = index.empty
    null = index.missing - empty if empty else index.missing
    everyone = FrozenBitMap(range(index.n_users))
    true = {
        "is null": null,
        "is not null": everyone - null,
        "is empty": empty,
        "is not empty": index.present_users,
    }[cond.op]
    return true, BitMap()


def _tag(
    cond: TagCondition, index: ValueIndex | RangeIndex, value_type: str, as_of: dt.date | None
) -> Truth:
    missing = index.missing
    op = cond.op
    if op in ("is null", "is not null", "is empty", "is not empty"):
        return _emptiness(cond, index, value_type)
    written = cond.value if isinstance(cond.value, list) else [cond.value]
    values = [_resolved(v, as_of) for v in written if v is not None]
    if isinstance(index, ValueIndex):
        sets = [index.get(_text(v)) for v in values if v is not None]
        if op in ("=", "in", "contains any"):
            true = _union(sets)
        elif op in ("!=", "not in"):
            true = index.present_users - _union(sets)
        elif op == "contains all":
            true = reduce(operator.and_, sorted(sets, key=len))
        else:
            raise UnsupportedLeafError(f"'{op}' does not apply to tag '{cond.tag}'")
        return true, missing
    numbers = [_number(v, value_type) for v in values if v is not None]
    if op in ("=", "in"):
        true = _union([index.equal(n) for n in numbers])
    elif op in ("!=", "not in"):
        true = index.present_users - _union([index.equal(n) for n in numbers])
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


def _evaluate(rule: Rule, index: ProfileIndex, everyone: AbstractBitMap, sources: Sources) -> Truth:
    if isinstance(rule, TagCondition):
        return _tag(rule, index.tag(rule.tag), index.types[rule.tag], sources.as_of)
    if isinstance(rule, Comparison):
        plain = rule.as_condition()  # a tag against values, given as a comparison (JSON)
        if plain is not None:
            return _tag(plain, index.tag(plain.tag), index.types[plain.tag], sources.as_of)
        return comparison_truth(rule, index, sources.as_of)
    if isinstance(rule, BehaviourCondition):
        return behaviour_bitmap(rule, sources, index.n_users), BitMap()
    # Dense ids never shrink (users are only added), so members of a segment or list saved
    # earlier are all below the population.
    if isinstance(rule, SegmentRef):
        return sources.segment(rule.name), BitMap()
    if isinstance(rule, IdListRef):
        return sources.id_list(rule.name), BitMap()
    if isinstance(rule, CampaignRef):
        return sources.campaign(rule.name, rule.outcome), BitMap()
    if isinstance(rule, Not):
        true, unknown = _evaluate(rule.item, index, everyone, sources)
        return (everyone - true - unknown if unknown else everyone - true), unknown
    if isinstance(rule, And):
        return _and(rule, index, everyone, sources)
    if isinstance(rule, Or):
        parts = [_evaluate(i, index, everyone, sources) for i in rule.items]
        true = BitMap.union(*(t for t, _ in parts))
        unknowns = [u for _, u in parts if u]
        return true, (BitMap.union(*unknowns) - true if unknowns else BitMap())
    raise UnsupportedLeafError(f"unknown rule node {rule!r}")


def _and_items(
    rule: And, index: ProfileIndex, everyone: AbstractBitMap, sources: Sources
) -> tuple[list[Truth], list[Truth]]:
    """The (true, unknown) of the positive items and of X for each negated item ``not X``."""
    positives: list[Truth] = []
    negatives: list[Truth] = []
    for item in rule.items:
        if isinstance(item, Not):
            negatives.append(_evaluate(item.item, index, everyone, sources))
        else:
            positives.append(_evaluate(item, index, everyone, sources))
    return positives, negatives


def _intersection(positives: list[Truth], everyone: AbstractBitMap) -> AbstractBitMap:
    # pairwise operators: pyroaring's many-argument intersection/difference are slower
    sets = sorted((t for t, _ in positives), key=len)
    return reduce(operator.and_, sets) if sets else everyone


def _and(rule: And, index: ProfileIndex, everyone: AbstractBitMap, sources: Sources) -> Truth:
    """``and``: intersect the positive items smallest first and subtract the negated ones
    (``a and not b`` is ``a − b``, never the dense complement of ``b``). Unknown users are
    tracked only when some item has any."""
    positives, negatives = _and_items(rule, index, everyone, sources)
    if not any(u for _, u in positives + negatives):  # two-valued: the fast path
        true = _intersection(positives, everyone)
        for t, _ in negatives:
            true = true - t
        return true, BitMap()
    parts = positives + [(everyone - t - u, u) for t, u in negatives]
    parts.sort(key=lambda p: len(p[0]))
    true = reduce(operator.and_, (t for t, _ in parts))
    maybe = reduce(operator.and_, (t | u for t, u in parts))
    return true, maybe - true


def count_rule(rule: Rule, index: ProfileIndex, sources: Sources | None = None) -> int:
    """How many users ``rule`` selects: ``len(evaluate_rule(...))``, but a rule ``… and not
    X`` is counted without building its last difference (``|A| − |A ∩ X|``): when about 4,000
    users per 2**16 remain, that difference turns every container into a list of users."""
    sources = sources or Sources()
    everyone = FrozenBitMap(range(index.n_users))
    if isinstance(rule, And):
        positives, negatives = _and_items(rule, index, everyone, sources)
        if negatives and not any(u for _, u in positives + negatives):
            base = _intersection(positives, everyone)
            for t, _ in negatives[:-1]:
                base = base - t
            return len(base) - base.intersection_cardinality(negatives[-1][0])
    true, _ = _evaluate(rule, index, everyone, sources)
    return len(true)


def evaluate_rule(
    rule: Rule, index: ProfileIndex, sources: Sources | None = None
) -> AbstractBitMap:
    """The users (dense ids) for whom ``rule`` is true."""
    everyone = FrozenBitMap(range(index.n_users))
    true, _ = _evaluate(rule, index, everyone, sources or Sources())
    return true
