"""Expressions inside a rule's comparisons: tag references, ``size(tag)``, the as-of date moved
by days or weeks (``as_of - 90d``), durations (``30d``) and arithmetic (``+ - * /``).

``spend_365d / orders_365d > 300`` and ``last_active_at >= registered_at + 30d`` are
:class:`~portrait.model.rules.Comparison` leaves whose sides are expressions; a literal
(number, string, boolean) stands for itself. :func:`expression_type` gives an expression's
type from the tags' value types, or says why it has none; the parser, the validation, the
bitmap evaluation and the SQL compiler all use it, so they agree on what an expression means.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from portrait.model.schema import Scalar

Unit = Literal["d", "w"]
UNIT_DAYS: dict[str, int] = {"d": 1, "w": 7}

MAX_OFFSET_DAYS = 36_525
"""``as_of ± N`` and durations are at most this many days (100 years), like windows."""


def _check_days(days: int) -> None:
    if days > MAX_OFFSET_DAYS:
        raise ValueError(
            f"{days:,} days; durations and as_of offsets are at most {MAX_OFFSET_DAYS:,} days "
            "(100 years)"
        )


class _Node(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TagRef(_Node):
    """A tag's value."""

    kind: Literal["tag"] = "tag"
    tag: str


class Size(_Node):
    """``size(tag)``: how many values a multi-valued tag holds; 0 for an empty list and for
    no value, so it is never unknown."""

    kind: Literal["size"] = "size"
    tag: str


class AsOf(_Node):
    """``as_of``, ``as_of - 90d``, ``as_of + 2w``: the workspace's as-of date moved by
    ``offset`` days or weeks, resolved whenever the rule is evaluated (so a saved segment
    follows the data). Kept as written: ``as_of - 2w`` prints as ``as_of - 2w``."""

    kind: Literal["as_of"] = "as_of"
    offset: int = 0
    unit: Unit = "d"

    @model_validator(mode="before")
    @classmethod
    def _plain(cls, data: object) -> object:
        if isinstance(data, dict) and data.get("offset", 0) == 0 and "unit" in data:
            return {**data, "unit": "d"}  # as_of itself: one form, however it was written
        return data

    @model_validator(mode="after")
    def _bounded(self) -> AsOf:
        _check_days(abs(self.days))
        return self

    @property
    def days(self) -> int:
        return self.offset * UNIT_DAYS[self.unit]

    def date(self, as_of: dt.date) -> dt.date:
        """The date this stands for when the as-of date is ``as_of``."""
        return as_of + dt.timedelta(days=self.days)


class Duration(_Node):
    """``30d``, ``2w``: a number of days, added to or taken from a date or timestamp."""

    kind: Literal["duration"] = "duration"
    amount: int = Field(ge=0)
    unit: Unit = "d"

    @model_validator(mode="after")
    def _bounded(self) -> Duration:
        _check_days(self.days)
        return self

    @property
    def days(self) -> int:
        return self.amount * UNIT_DAYS[self.unit]


ArithmeticOp = Literal["+", "-", "*", "/"]


class Arithmetic(_Node):
    """``left op right`` with SQL's NULL semantics: unknown when a side is; ``x / 0`` is
    unknown too. Numbers are computed as 64-bit floats; a date or timestamp moves by a
    duration (``registered_at + 30d``)."""

    kind: Literal["arith"] = "arith"
    op: ArithmeticOp
    left: Expression
    right: Expression


ExpressionNode = Annotated[
    TagRef | Size | AsOf | Duration | Arithmetic, Field(discriminator="kind")
]
Expression = ExpressionNode | Scalar
Arithmetic.model_rebuild()

# -- types -------------------------------------------------------------------------------------

ExpressionType = Literal["number", "date", "timestamp", "duration", "text", "bool", "list"]
TEMPORAL = frozenset({"date", "timestamp"})


class ExpressionTypeError(ValueError):
    """An expression that has no type: what is wrong, and a hint."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.hint = hint


def _tag_type(value_type: str) -> ExpressionType:
    return {
        "int": "number",
        "float": "number",
        "date": "date",
        "timestamp": "timestamp",
        "bool": "bool",
        "list<string>": "list",
    }.get(value_type, "text")  # type: ignore[return-value]


def tag_names(expression: Expression) -> Iterator[str]:
    """The tags an expression reads (``size(tag)`` included)."""
    if isinstance(expression, TagRef | Size):
        yield expression.tag
    elif isinstance(expression, Arithmetic):
        yield from tag_names(expression.left)
        yield from tag_names(expression.right)


def describe(expression: Expression, tag_types: Mapping[str, str]) -> str:
    """How an error names an expression: ``'city' (string)``, ``30d``, ``"text"``."""
    if isinstance(expression, TagRef):
        return f"'{expression.tag}' ({tag_types.get(expression.tag, '?')})"
    if isinstance(expression, Size):
        return f"size({expression.tag})"
    if isinstance(expression, AsOf):
        return "as_of"
    if isinstance(expression, Duration):
        return f"{expression.amount}{expression.unit}"
    if isinstance(expression, Arithmetic):
        return "the arithmetic"
    if isinstance(expression, bool):
        return "true" if expression else "false"
    if isinstance(expression, str):
        return f'"{expression[:40]}"'
    return repr(expression)


def expression_type(expression: Expression, tag_types: Mapping[str, str]) -> ExpressionType:
    """The type of ``expression`` (``tag_types``: tag → value type; every tag it names must be
    there). Raises :class:`ExpressionTypeError` when it has none."""
    if isinstance(expression, TagRef):
        return _tag_type(tag_types[expression.tag])
    if isinstance(expression, Size):
        value_type = tag_types[expression.tag]
        if value_type != "list<string>":
            raise ExpressionTypeError(
                f"size() counts the values of a multi-valued tag; '{expression.tag}' holds one "
                f"value ({value_type})",
                hint=f"compare {expression.tag} itself, or test it with '{expression.tag} is null'",
            )
        return "number"
    if isinstance(expression, AsOf):
        return "date"
    if isinstance(expression, Duration):
        return "duration"
    if isinstance(expression, bool):
        return "bool"
    if isinstance(expression, int | float):
        return "number"
    if isinstance(expression, str):
        return "text"
    left = expression_type(expression.left, tag_types)
    right = expression_type(expression.right, tag_types)
    op = expression.op
    if left == "number" and right == "number":
        return "number"
    if op in "+-" and left in TEMPORAL and right == "duration":
        return left
    if op == "+" and left == "duration" and right in TEMPORAL:
        return right
    if left in TEMPORAL and right in TEMPORAL and op == "-":
        raise ExpressionTypeError(
            "dates cannot be subtracted from each other here",
            hint="compare them with a duration instead: a >= b + 30d",
        )
    bad, bad_type = (
        (expression.left, left) if left in ("text", "bool", "list") else (expression.right, right)
    )
    if bad_type in ("text", "bool", "list"):
        raise ExpressionTypeError(
            f"arithmetic ({op}) works on numbers, and on dates ± days; "
            f"{describe(bad, tag_types)} is {_spoken(bad_type)}",
            hint=f"size({bad.tag}) counts a list's values"
            if bad_type == "list" and isinstance(bad, TagRef)
            else "use numeric tags and numbers",
        )
    if "duration" in (left, right):
        raise ExpressionTypeError(
            f"a duration such as 30d is added to or taken from a date or timestamp, not used "
            f"with {op} on {_spoken(left if right == 'duration' else right)}",
            hint="e.g. registered_at + 30d, as_of - 90d",
        )
    raise ExpressionTypeError(
        f"{op} does not apply to {_spoken(left)} and {_spoken(right)}",
        hint="add days to dates (registered_at + 30d); use + - * / on numbers",
    )


def _spoken(kind: str) -> str:
    return {
        "number": "a number",
        "date": "a date",
        "timestamp": "a timestamp",
        "duration": "a duration",
        "text": "text",
        "bool": "a boolean",
        "list": "a list (several values)",
    }.get(kind, kind)


def comparable(left: ExpressionType, right: ExpressionType, op: str) -> str | None:
    """Why ``left op right`` is no comparison (None when it is). A text literal facing a date
    or timestamp is read as one by the caller before it asks."""
    if "list" in (left, right):
        return (
            "a multi-valued tag is compared with 'contains any', 'contains all', 'is empty' "
            "or through size()"
        )
    if "duration" in (left, right):
        return "a duration such as 30d is added to a date (registered_at + 30d), not compared"
    if left in TEMPORAL and right in TEMPORAL:
        return None
    if left == right:
        if left in ("text", "bool") and op not in ("=", "!="):
            return f"{_spoken(left)} is compared with = and != only, not {op}"
        return None
    return f"{_spoken(left)} cannot be compared with {_spoken(right)}"


def temporal_kind(
    sides: list[Expression], tag_types: Mapping[str, str]
) -> Literal["date", "timestamp"] | None:
    """What a comparison's dates are compared as: ``timestamp`` when any side is one (a date
    is then its midnight, UTC), ``date`` when any side is a date, else None."""
    kinds = {expression_type(side, tag_types) for side in sides}
    if "timestamp" in kinds:
        return "timestamp"
    return "date" if "date" in kinds else None
