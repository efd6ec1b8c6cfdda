"""The rule model: one canonical, JSON-serialisable form of an audience rule.

A rule is a tree of ``and`` / ``or`` / ``not`` nodes over four kinds of leaves: a tag
condition, a behaviour condition (an aggregate of events over a window, compared to a number),
a reference to a saved segment, and a reference to an uploaded ID list. The text form
(``city in ("北京", "上海") and not segment("churned")``) is parsed into and printed from this
model by :mod:`portrait.rules`.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, model_validator

from portrait.model.expressions import AsOf, Expression, TagRef, tag_names
from portrait.model.schema import Scalar

RULE_VERSION: Literal[1] = 1

TagOp = Literal[
    "=",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "in",
    "not in",
    "between",
    "is null",
    "is not null",
    "contains any",
    "contains all",
    "is empty",
    "is not empty",
]
CompareOp = Literal["=", "!=", "<", "<=", ">", ">=", "between"]
LIST_OPS = frozenset({"in", "not in", "contains any", "contains all"})
NULL_OPS = frozenset({"is null", "is not null", "is empty", "is not empty"})
"""The operators that take no value (``is empty`` / ``is not empty``: multi-valued tags)."""

Value = Scalar | AsOf
"""A value in a tag condition: a literal, or the as-of date moved by days (``as_of - 90d``)."""


class _Node(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TagCondition(_Node):
    """``tag op value``: ``value`` is a list for in / not in / contains, a pair for between,
    absent for the null and empty tests."""

    kind: Literal["tag"] = "tag"
    tag: str
    op: TagOp
    value: Value | list[Value] | None = None

    @model_validator(mode="after")
    def _check_value(self) -> TagCondition:
        if self.op in NULL_OPS:
            if self.value is not None:
                raise ValueError(f"'{self.op}' takes no value")
        elif self.op in LIST_OPS:
            if not isinstance(self.value, list) or not self.value:
                raise ValueError(f"'{self.op}' takes a non-empty list of values")
        elif self.op == "between":
            if not isinstance(self.value, list) or len(self.value) != 2:
                raise ValueError("'between' takes two values")
        elif self.value is None or isinstance(self.value, list):
            raise ValueError(f"'{self.op}' takes one value")
        return self


class Window(_Node):
    """``last`` days up to and including the as-of date, or the dates ``start``..``end``."""

    last: int | None = Field(default=None, ge=1)
    start: dt.date | AsOf | None = None
    end: dt.date | AsOf | None = None

    @model_validator(mode="after")
    def _check(self) -> Window:
        if (self.last is None) == (self.start is None or self.end is None):
            raise ValueError("a window is either last=N days or start and end dates")
        start, end = self.start, self.end
        if isinstance(start, AsOf) and isinstance(end, AsOf):
            if start.days > end.days:
                raise ValueError("the window starts after it ends")
        elif isinstance(start, dt.date) and isinstance(end, dt.date) and start > end:
            raise ValueError("the window starts after it ends")
        return self

    @property
    def relative(self) -> bool:
        """Whether the window moves with the as-of date."""
        return self.last is not None or isinstance(self.start, AsOf) or isinstance(self.end, AsOf)

    def days(self, as_of: dt.date | None) -> tuple[dt.date, dt.date]:
        """First and last day (inclusive); ``last=N`` ends on the as-of date, ``as_of - Nd``
        bounds are taken from it."""
        if self.relative and as_of is None:
            raise ValueError("a window relative to the as-of date needs the as-of date")
        if self.last is not None:
            assert as_of is not None
            return as_of - dt.timedelta(days=self.last - 1), as_of
        if self.start is None or self.end is None:
            raise ValueError("a window needs last=N or start and end")
        start, end = _resolve(self.start, as_of), _resolve(self.end, as_of)
        if start > end:
            raise ValueError(f"the window starts ({start}) after it ends ({end})")
        return start, end


def _resolve(day: dt.date | AsOf, as_of: dt.date | None) -> dt.date:
    if isinstance(day, AsOf):
        assert as_of is not None
        return day.date(as_of)
    return day


class BehaviourCondition(_Node):
    """An aggregate of events in a window, compared to a number.

    ``measure``: ``count`` of events, ``sum`` of a numeric property (``of``), or ``active_days``
    (distinct days with a matching event). ``event`` (None: any event), ``business_line`` and
    ``where`` (property equality) filter the events.
    """

    kind: Literal["behaviour"] = "behaviour"
    measure: Literal["count", "sum", "active_days"]
    event: str | None = None
    business_line: str | None = None
    where: dict[str, Scalar] = Field(default_factory=dict)
    of: str | None = None
    window: Window
    op: CompareOp
    value: float | list[float]

    @model_validator(mode="after")
    def _check(self) -> BehaviourCondition:
        if (self.measure == "sum") != (self.of is not None):
            raise ValueError("'sum' needs the property to add up (of=...), the others take none")
        if self.op == "between":
            if not isinstance(self.value, list) or len(self.value) != 2:
                raise ValueError("'between' takes two numbers")
        elif isinstance(self.value, list):
            raise ValueError(f"'{self.op}' takes one number")
        return self


MIRRORED: dict[str, CompareOp] = {"=": "=", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


def is_value(expression: Expression | list[Expression]) -> bool:
    """A literal or an as-of date: what a plain tag condition compares with."""
    return isinstance(expression, str | int | float | bool | AsOf)


class Comparison(_Node):
    """``left op right`` over expressions: tag against tag (``spend_365d > spend_band_limit``),
    arithmetic (``spend_365d / orders_365d > 300``), list sizes (``size(interests) >= 3``),
    dates moved by days (``last_active_at >= registered_at + 30d``). ``right`` is a pair for
    ``between``. A plain ``tag op literal`` is a :class:`TagCondition` instead."""

    kind: Literal["compare"] = "compare"
    left: Expression
    op: CompareOp
    right: Expression | list[Expression]

    @model_validator(mode="after")
    def _check(self) -> Comparison:
        if self.op == "between":
            if not isinstance(self.right, list) or len(self.right) != 2:
                raise ValueError("'between' takes two values")
        elif isinstance(self.right, list):
            raise ValueError(f"'{self.op}' takes one value")
        if not any(True for side in self.sides for _ in tag_names(side)):
            raise ValueError("the comparison names no tag")
        return self

    def as_condition(self) -> TagCondition | None:
        """The equivalent :class:`TagCondition` when this only sets a tag against values
        (``{"left": {"kind": "tag", "tag": "city"}, "op": "=", "right": "北京"}`` from JSON,
        or ``300 < spend``), else None: evaluated and printed as that condition."""
        bounds = self.right if isinstance(self.right, list) else [self.right]
        if isinstance(self.left, TagRef) and all(is_value(b) for b in bounds):
            value = cast(list[Value], bounds) if self.op == "between" else cast(Value, bounds[0])
            return TagCondition(tag=self.left.tag, op=self.op, value=value)
        if self.op != "between" and is_value(self.left) and isinstance(self.right, TagRef):
            mirrored = MIRRORED[self.op]
            return TagCondition(tag=self.right.tag, op=mirrored, value=cast(Value, self.left))
        return None

    @property
    def sides(self) -> list[Expression]:
        """The left side, then the right one (both bounds for ``between``)."""
        return [self.left, *(self.right if isinstance(self.right, list) else [self.right])]

    @property
    def tags(self) -> set[str]:
        return {name for side in self.sides for name in tag_names(side)}


class SegmentRef(_Node):
    kind: Literal["segment"] = "segment"
    name: str


class IdListRef(_Node):
    kind: Literal["ids"] = "ids"
    name: str


#: what happened to a user in a campaign, for ``campaign("NAME", "clicked")``
CAMPAIGN_OUTCOMES = (
    "targeted",
    "control",
    "sent",
    "delivered",
    "opened",
    "clicked",
    "converted",
    "not_converted",
)
CampaignOutcome = Literal[
    "targeted", "control", "sent", "delivered", "opened", "clicked", "converted", "not_converted"
]


class CampaignRef(_Node):
    """The users of a campaign (all its runs) with an outcome: ``targeted`` (assigned, control
    included), ``control``, ``sent``, a response (``delivered``, ``opened``, ``clicked``,
    ``converted``), or ``not_converted`` (sent, no conversion response)."""

    kind: Literal["campaign"] = "campaign"
    name: str
    outcome: CampaignOutcome


class And(_Node):
    kind: Literal["and"] = "and"
    items: list[Rule] = Field(min_length=2)


class Or(_Node):
    kind: Literal["or"] = "or"
    items: list[Rule] = Field(min_length=2)


class Not(_Node):
    kind: Literal["not"] = "not"
    item: Rule


Rule = Annotated[
    TagCondition
    | Comparison
    | BehaviourCondition
    | SegmentRef
    | IdListRef
    | CampaignRef
    | And
    | Or
    | Not,
    Field(discriminator="kind"),
]
Leaf = TagCondition | Comparison | BehaviourCondition | SegmentRef | IdListRef | CampaignRef

And.model_rebuild()
Or.model_rebuild()
Not.model_rebuild()


class RuleDocument(_Node):
    """A rule as stored and exchanged: ``{"version": 1, "rule": {...}}``."""

    version: Literal[1] = RULE_VERSION
    rule: Rule


class RuleSize(_Node):
    """What evaluating a rule costs, roughly: its leaves, the behaviour conditions with
    property filters (each one a scan of the raw events) and the values in its lists."""

    conditions: int
    property_filters: int
    list_values: int


def rule_size(rule: Rule) -> RuleSize:
    """Count a rule's leaves, property-filtered behaviour conditions and list values."""
    conditions = filters = values = 0
    stack: list[Rule] = [rule]
    while stack:
        node = stack.pop()
        if isinstance(node, And | Or):
            stack.extend(node.items)
        elif isinstance(node, Not):
            stack.append(node.item)
        else:
            conditions += 1
            if isinstance(node, BehaviourCondition) and node.where:
                filters += 1
            if isinstance(node, TagCondition) and isinstance(node.value, list):
                values += len(node.value)
    return RuleSize(conditions=conditions, property_filters=filters, list_values=values)
