"""Rule expressions: the type of every node kind and why an expression has none, which types
compare, what dates are compared as, the as-of date moved by days or weeks, durations, the
100-year bound on offsets, and the tags an expression reads."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

from portrait.model.expressions import (
    MAX_OFFSET_DAYS,
    Arithmetic,
    AsOf,
    Duration,
    Expression,
    ExpressionTypeError,
    Size,
    TagRef,
    comparable,
    expression_type,
    tag_names,
    temporal_kind,
)
from portrait.model.rules import Comparison

TYPES = {
    "n": "int",
    "f": "float",
    "d": "date",
    "d2": "date",
    "ts": "timestamp",
    "s": "string",
    "b": "bool",
    "l": "list<string>",
}


def tag(name: str) -> TagRef:
    return TagRef(tag=name)


def arith(left: Expression, op: str, right: Expression) -> Arithmetic:
    return Arithmetic(op=op, left=left, right=right)  # type: ignore[arg-type]


def days(n: int, unit: str = "d") -> Duration:
    return Duration(amount=n, unit=unit)  # type: ignore[arg-type]


# -- the type of each node kind -----------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        (tag("n"), "number"),
        (tag("f"), "number"),
        (tag("d"), "date"),
        (tag("ts"), "timestamp"),
        (tag("s"), "text"),
        (tag("b"), "bool"),
        (tag("l"), "list"),
        (Size(tag="l"), "number"),
        (AsOf(), "date"),
        (AsOf(offset=-3, unit="w"), "date"),
        (days(30), "duration"),
        (days(2, "w"), "duration"),
        (True, "bool"),  # a bool is an int in Python: it must still be a boolean
        (False, "bool"),
        (0, "number"),
        (2.5, "number"),
        ("2026-10-01", "text"),  # a text literal; only a comparison reads it as a date
        (arith(tag("n"), "+", tag("f")), "number"),
        (arith(tag("n"), "-", 1), "number"),
        (arith(Size(tag="l"), "*", 2.5), "number"),
        (arith(tag("f"), "/", tag("n")), "number"),
        (arith(tag("d"), "+", days(30)), "date"),
        (arith(tag("d"), "-", days(2, "w")), "date"),
        (arith(tag("ts"), "-", days(1)), "timestamp"),
        (arith(tag("ts"), "+", days(1)), "timestamp"),
        (arith(days(30), "+", tag("d")), "date"),
        (arith(days(30), "+", tag("ts")), "timestamp"),
        (arith(AsOf(offset=-1, unit="w"), "-", days(3)), "date"),
        (arith(arith(tag("d"), "+", days(1)), "-", days(2)), "date"),
        (arith(arith(tag("n"), "*", 2), "/", arith(tag("f"), "-", Size(tag="l"))), "number"),
    ],
)
def test_expression_type_of_every_node_kind(expression: Expression, expected: str) -> None:
    assert expression_type(expression, TYPES) == expected


def test_a_tag_of_an_unlisted_value_type_is_text() -> None:
    assert expression_type(tag("x"), {"x": "string"}) == "text"


@pytest.mark.parametrize(
    ("expression", "message", "hint"),
    [
        (
            Size(tag="n"),
            "size() counts the values of a multi-valued tag; 'n' holds one value (int)",
            "test it with 'n is null'",
        ),
        (Size(tag="s"), "'s' holds one value (string)", "compare s itself"),
        (
            arith(tag("s"), "+", 1),
            "arithmetic (+) works on numbers, and on dates ± days; 's' (string) is text",
            "use numeric tags and numbers",
        ),
        (  # the bad side is named wherever it stands
            arith(1, "*", tag("s")),
            "arithmetic (*) works on numbers, and on dates ± days; 's' (string) is text",
            "use numeric tags and numbers",
        ),
        (arith(tag("b"), "-", 1), "'b' (bool) is a boolean", "use numeric tags and numbers"),
        (arith(1, "/", True), "true is a boolean", "use numeric tags and numbers"),
        (arith(tag("n"), "+", "7"), '"7" is text', "use numeric tags and numbers"),
        (
            arith(tag("l"), "+", 1),
            "'l' (list<string>) is a list (several values)",
            "size(l) counts a list's values",
        ),
        (arith(tag("d"), "-", tag("d2")), "dates cannot be subtracted", "a >= b + 30d"),
        (arith(tag("ts"), "-", tag("d")), "dates cannot be subtracted", "a >= b + 30d"),
        (arith(AsOf(), "-", tag("d")), "dates cannot be subtracted", "a >= b + 30d"),
        (arith(tag("d"), "+", tag("d2")), "+ does not apply to a date and a date", None),
        (arith(tag("d"), "*", 2), "* does not apply to a date and a number", None),
        (arith(2, "+", tag("ts")), "+ does not apply to a number and a timestamp", None),
        (arith(days(3), "*", 2), "not used with * on a number", "registered_at + 30d"),
        (arith(2, "*", days(3)), "not used with * on a number", "registered_at + 30d"),
        (arith(days(3), "/", days(1)), "not used with / on a duration", "as_of - 90d"),
        (arith(tag("d"), "*", days(3)), "not used with * on a date", None),
        (arith(tag("ts"), "/", days(3)), "not used with / on a timestamp", None),
        (arith(days(3), "-", tag("d")), "not used with - on a date", None),
        (arith(tag("n"), "+", days(3)), "not used with + on a number", None),
        (arith(days(1), "+", days(2)), "not used with + on a duration", None),
        # an error deep inside is the expression's error
        (arith(arith(Size(tag="f"), "+", 1), "*", 2), "'f' holds one value (float)", None),
    ],
)
def test_expressions_without_a_type(expression: Expression, message: str, hint: str | None) -> None:
    with pytest.raises(ExpressionTypeError) as caught:
        expression_type(expression, TYPES)
    assert message in str(caught.value)
    assert isinstance(caught.value, ValueError)
    assert caught.value.hint  # every error says what to do
    if hint is not None:
        assert hint in caught.value.hint


def test_a_duration_with_a_text_side_is_reported_as_text() -> None:
    """Text, booleans and lists are named before a misplaced duration."""
    with pytest.raises(ExpressionTypeError, match=r"'s' \(string\) is text"):
        expression_type(arith(tag("s"), "+", days(3)), TYPES)


# -- which types compare ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("left", "right", "op"),
    [
        ("number", "number", "<"),
        ("number", "number", "="),
        ("date", "date", ">="),
        ("date", "timestamp", "<"),  # a date is its midnight next to a timestamp
        ("timestamp", "date", "!="),
        ("timestamp", "timestamp", ">"),
        ("text", "text", "="),
        ("text", "text", "!="),
        ("bool", "bool", "="),
        ("bool", "bool", "!="),
    ],
)
def test_comparable_pairs(left: str, right: str, op: str) -> None:
    assert comparable(left, right, op) is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("left", "right", "op", "message"),
    [
        ("list", "number", ">", "a multi-valued tag is compared with 'contains any'"),
        ("number", "list", "=", "through size()"),
        ("list", "list", "=", "'is empty'"),
        ("list", "duration", "=", "multi-valued"),  # the list is named first
        ("duration", "date", "<", "a duration such as 30d is added to a date"),
        ("date", "duration", "=", "not compared"),
        ("text", "text", "<", "text is compared with = and != only, not <"),
        ("bool", "bool", ">=", "a boolean is compared with = and != only, not >="),
        ("number", "text", "=", "a number cannot be compared with text"),
        ("date", "number", "<", "a date cannot be compared with a number"),
        ("text", "bool", "=", "text cannot be compared with a boolean"),
        ("timestamp", "text", "=", "a timestamp cannot be compared with text"),
    ],
)
def test_incomparable_pairs_say_why(left: str, right: str, op: str, message: str) -> None:
    assert message in (comparable(left, right, op) or "")  # type: ignore[arg-type]


# -- what dates are compared as -----------------------------------------------------------


@pytest.mark.parametrize(
    ("sides", "expected"),
    [
        ([tag("d"), AsOf()], "date"),
        ([tag("ts"), AsOf(offset=-30)], "timestamp"),
        ([tag("d"), tag("ts")], "timestamp"),
        ([tag("d"), arith(tag("ts"), "-", days(1))], "timestamp"),
        ([AsOf(), arith(tag("d"), "+", days(1))], "date"),
        ([tag("d"), "2026-10-01"], "date"),
        ([tag("ts"), "2026-10-01", AsOf()], "timestamp"),  # between: three sides
        ([tag("n"), 3], None),
        ([tag("s"), tag("s")], None),
        ([Size(tag="l"), tag("f")], None),
    ],
)
def test_temporal_kind(sides: list[Expression], expected: str | None) -> None:
    assert temporal_kind(sides, TYPES) == expected


def test_temporal_kind_raises_for_a_side_without_a_type() -> None:
    with pytest.raises(ExpressionTypeError, match="size"):
        temporal_kind([Size(tag="d"), AsOf()], TYPES)


# -- as_of and durations ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("as_of", "expected_days", "as_of_date", "expected"),
    [
        (AsOf(), 0, dt.date(2026, 6, 30), dt.date(2026, 6, 30)),
        (AsOf(offset=-90), -90, dt.date(2026, 6, 30), dt.date(2026, 4, 1)),
        (AsOf(offset=-2, unit="w"), -14, dt.date(2026, 6, 30), dt.date(2026, 6, 16)),
        (AsOf(offset=3), 3, dt.date(2026, 12, 30), dt.date(2027, 1, 2)),
        (AsOf(offset=1, unit="w"), 7, dt.date(2024, 2, 25), dt.date(2024, 3, 3)),
        (AsOf(offset=-1), -1, dt.date(2024, 3, 1), dt.date(2024, 2, 29)),  # a leap day
        (AsOf(offset=-MAX_OFFSET_DAYS), -36_525, dt.date(2026, 1, 1), dt.date(1926, 1, 1)),
    ],
)
def test_as_of_moves_the_as_of_date(
    as_of: AsOf, expected_days: int, as_of_date: dt.date, expected: dt.date
) -> None:
    assert as_of.days == expected_days
    assert as_of.date(as_of_date) == expected


@pytest.mark.parametrize(
    ("duration", "expected"),
    [(days(0), 0), (days(30), 30), (days(1, "w"), 7), (days(2, "w"), 14), (days(36_525), 36_525)],
)
def test_duration_days(duration: Duration, expected: int) -> None:
    assert duration.days == expected


def test_offsets_and_durations_are_at_most_100_years() -> None:
    assert MAX_OFFSET_DAYS == 36_525
    assert AsOf(offset=36_525).days == 36_525
    assert AsOf(offset=-36_525).days == -36_525
    for offset in (36_526, -36_526, 10**7):
        with pytest.raises(ValidationError):
            AsOf(offset=offset)
    for amount in (36_526, -1):
        with pytest.raises(ValidationError):
            Duration(amount=amount)


@pytest.mark.parametrize(
    "make",
    [
        lambda: AsOf(offset=-5_218, unit="w"),
        lambda: AsOf(offset=36_525, unit="w"),
        lambda: Duration(amount=5_218, unit="w"),
    ],
    ids=["as_of-5218w", "as_of+36525w", "5218w"],
)
def test_offsets_in_weeks_are_bounded_in_days(make) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError):
        make()


def test_nodes_are_strict_and_frozen() -> None:
    with pytest.raises(ValidationError):
        AsOf(offset=1, unit="m")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        TagRef(tag="x", extra=1)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        Arithmetic(op="%", left=1, right=tag("n"))  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        tag("x").tag = "y"


def test_expressions_read_from_their_json_form() -> None:
    """The documented JSON form: nodes told apart by ``kind``, literals as themselves."""
    document = {
        "left": {
            "kind": "arith",
            "op": "/",
            "left": {"kind": "tag", "tag": "spend"},
            "right": {"kind": "size", "tag": "items"},
        },
        "op": "between",
        "right": [
            {"kind": "arith", "op": "+", "left": 2, "right": {"kind": "tag", "tag": "low"}},
            True,
        ],
    }
    cond = Comparison.model_validate(document)
    assert cond.left == arith(tag("spend"), "/", Size(tag="items"))
    assert cond.right == [arith(2, "+", tag("low")), True]
    assert isinstance(cond.right[1], bool)  # not read as the number 1
    moved = Comparison.model_validate(
        {
            "left": {"kind": "tag", "tag": "d"},
            "op": ">=",
            "right": {
                "kind": "arith",
                "op": "-",
                "left": {"kind": "as_of", "offset": -1, "unit": "w"},
                "right": {"kind": "duration", "amount": 3, "unit": "d"},
            },
        }
    )
    assert moved.right == arith(AsOf(offset=-1, unit="w"), "-", days(3))
    assert Comparison.model_validate_json(moved.model_dump_json()) == moved


# -- the tags an expression reads ---------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        (tag("a"), ["a"]),
        (Size(tag="l"), ["l"]),
        (AsOf(offset=-3), []),
        (days(3), []),
        (3, []),
        ("a", []),  # a text literal is no tag
        (True, []),
        (arith(tag("a"), "/", tag("b")), ["a", "b"]),
        (arith(tag("a"), "+", arith(Size(tag="l"), "*", tag("a"))), ["a", "l", "a"]),
        (arith(arith(1, "-", AsOf()), "+", days(2)), []),
    ],
)
def test_tag_names(expression: Expression, expected: list[str]) -> None:
    assert list(tag_names(expression)) == expected
