"""Rule validation against the catalog: tags, values, types, events and properties, with
suggestions; windows too long in a rule given as a model; comparisons of expressions, with
and without the rule's text to point into."""

from __future__ import annotations

import pytest

from portrait.errors import RuleValidationError
from portrait.model.rules import BehaviourCondition, Window
from portrait.rules import parse_rule, print_rule
from portrait.rules.validate import rule_tags, validate_rule
from tests.unit.rules.samples import TYPES


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('cty = "北京"', "did you mean 'city'"),
        ("city > 3", "city' is string"),
        ('city > "a"', "compares numbers"),
        ('age = "30"', "quote text values"),
        ('city contains any ("北京")', "'contains' is for multi-valued"),
        ('brands = "宝马"', "contains any"),
        ("vip = 1", "vip' is bool"),
        ('city = "北经"', "did you mean '北京'"),
        ('events("serch", last="7d") > 1', "did you mean 'search'"),
        ('sum("order", of="brand", last="7d") > 1', "numeric property"),
        ('events("view", colour="red", last="7d") > 1', "no property 'colour'"),
    ],
)
def test_validation_against_the_catalog(text: str, needle: str) -> None:
    with pytest.raises(RuleValidationError, match=needle):
        validate_rule(
            parse_rule(text),
            TYPES,
            tag_values={"city": ["北京", "上海"], "brands": ["宝马"]},
            events=["search", "view", "order"],
            properties={"amount": "float", "brand": "string"},
        )


def test_valid_rule_passes() -> None:
    rule = parse_rule(
        'city in ("北京") and age between 20 and 30 and vip = true and brands contains any '
        '("宝马") and last_seen >= "2026-10-01" and not segment("x") and '
        'sum("order", of="amount", last="30d") > 1'
    )
    validate_rule(rule, TYPES, events=["order"], properties={"amount": "float"})


def test_a_window_too_long_in_a_rule_model_is_refused_by_validation() -> None:
    """Rules given as a model (JSON documents, Python) do not pass through the parser."""
    rule = BehaviourCondition(
        measure="count", event="search", window=Window(last=10**8), op=">=", value=1
    )
    with pytest.raises(RuleValidationError, match=r"100,000,000 days long; windows are at most"):
        validate_rule(rule, {}, events=["search"])


# -- expressions ----------------------------------------------------------------------------

EXPRESSION_TYPES = {
    **TYPES,
    "home": "string",
    "member": "bool",
    "spend": "float",
    "orders": "int",
    "joined": "date",
}

BAD_EXPRESSIONS = [
    # (text, message, hint, line and column of the failing condition: the text's last one)
    (
        "size(age) > 3",
        "size() counts the values of a multi-valued tag; 'age' holds one value (int)",
        "test it with 'age is null'",
        1,
        1,
    ),
    (
        "age > 1 and\n  city * 2 > 3",
        "arithmetic (*) works on numbers, and on dates ± days; 'city' (string) is text",
        "use numeric tags and numbers",
        2,
        3,
    ),
    ("vip + 1 > 2", "'vip' (bool) is a boolean", "use numeric tags and numbers", 1, 1),
    ("brands + 1 > 2", "'brands' (list<string>) is a list", "size(brands) counts", 1, 1),
    ("joined - last_seen > 3", "dates cannot be subtracted", "a >= b + 30d", 1, 1),
    ("orders * 3d > 1", "not used with * on a number", "registered_at + 30d", 1, 1),
    ("joined * 2 > as_of", "* does not apply to a date and a number", "add days to dates", 1, 1),
    (
        "spend > 1 or joined + 3d > 3",
        "the arithmetic and 3: a date cannot be compared with a number",
        "compare numbers with numbers",
        1,
        14,
    ),
    ("age > joined", "'age' (int) and 'joined' (date): a number cannot be compared", None, 1, 1),
    ("joined > 3d", "and 3d: a duration such as 30d is added to a date", None, 1, 1),
    (
        "city > home",
        "'city' (string) and 'home' (string): text is compared with = and != only, not >",
        None,
        1,
        1,
    ),
    ("vip < member", "a boolean is compared with = and != only, not <", None, 1, 1),
    ("city = vip", "text cannot be compared with a boolean", None, 1, 1),
    ("size(brands) > brands", "a multi-valued tag is compared with 'contains any'", None, 1, 1),
    ("age + 1 between city and 3", "a number cannot be compared with text", None, 1, 1),
    (
        'joined + 3d > "2026-13-01"',
        "'2026-13-01' is not a date",
        'write dates as "2026-10-01"',
        1,
        1,
    ),
    ("brands > 2", "'brands' holds several values", "size(brands) >= 2", 1, 1),
    (
        "age is empty",
        "'age' holds one value (int); 'is empty' is for multi-valued",
        "age is null",
        1,
        1,
    ),
    ("city is not empty", "'is not empty' is for multi-valued", "city is not null", 1, 1),
    ("age >= as_of - 30d", "as_of is a date, and 'age' is int", "registered_at >= as_of", 1, 1),
    ("city in (as_of)", "as_of is a date, and 'city' is string", None, 1, 1),
    ("cty > age", "unknown tag 'cty'", "did you mean 'city'?", 1, 1),
    ("size(brandz) > 1", "unknown tag 'brandz'", "did you mean 'brands'?", 1, 1),
    ("age > 1 and\n    spend / ordrs > 1", "unknown tag 'ordrs'", "did you mean 'orders'", 2, 5),
]


@pytest.mark.parametrize(("text", "message", "hint", "line", "column"), BAD_EXPRESSIONS)
def test_expression_errors_name_the_condition_without_text(
    text: str, message: str, hint: str | None, line: int, column: int
) -> None:
    rule = parse_rule(text)
    with pytest.raises(RuleValidationError) as caught:
        validate_rule(rule, EXPRESSION_TYPES)
    err = caught.value
    assert message in err.message
    assert "^" not in err.message  # no text to point into
    assert err.line is None and err.column is None
    # the failing condition is the last one of each text, starting at (line, column)
    condition = text.splitlines()[line - 1][column - 1 :]
    assert err.where == print_rule(parse_rule(condition))  # named as printed
    assert err.hint
    if hint is not None:
        assert hint in err.hint


@pytest.mark.parametrize(("text", "message", "hint", "line", "column"), BAD_EXPRESSIONS)
def test_expression_errors_point_at_line_and_column_with_text(
    text: str, message: str, hint: str | None, line: int, column: int
) -> None:
    with pytest.raises(RuleValidationError) as caught:
        validate_rule(parse_rule(text), EXPRESSION_TYPES, text=text)
    err = caught.value
    assert (err.line, err.column) == (line, column)
    assert err.where == f"rule, line {line}, column {column}"
    first, source, caret = err.message.splitlines()
    assert message in first
    assert source == text.splitlines()[line - 1]
    assert caret == " " * (column - 1) + "^"
    assert err.extra == {"line": line, "column": column}
    if hint is not None:
        assert hint in (err.hint or "")


def test_the_caret_is_placed_by_display_width() -> None:
    text = 'city = "北京" and\n  city = "上海" or size(age) > 1'
    with pytest.raises(RuleValidationError) as caught:
        validate_rule(parse_rule(text), EXPRESSION_TYPES, text=text)
    assert (caught.value.line, caught.value.column) == (2, 18)  # columns count characters
    assert caught.value.message.splitlines()[-1] == " " * 19 + "^"  # 上 and 海 take two cells


@pytest.mark.parametrize(
    "text",
    [
        "size(brands) between 1 and 3",
        "size(brands) = 0 or brands is empty or brands is not empty or brands is null",
        "spend / orders > 300 and spend > 5 * age",
        "age - orders between 18 and spend",
        "city = home and vip != member",
        "joined + 30d <= last_seen",
        "last_seen >= as_of - 1w - 3d",
        "3d + joined > last_seen - 2w",
        'joined between "2026-01-01" and last_seen',
        'last_seen > "2026-01-01T08:00:00+08:00"',
        "joined in (as_of, as_of - 1d) and last_seen >= as_of - 90d",
        'events("search", start=as_of - 59d, end=as_of - 30d) > 3',
    ],
)
def test_valid_expressions_pass(text: str) -> None:
    validate_rule(parse_rule(text), EXPRESSION_TYPES, events=["search"], text=text)


def test_a_rule_model_error_falls_back_to_the_condition_when_text_lacks_it() -> None:
    """The text given is not the rule's: no position to point at, the condition is named."""
    with pytest.raises(RuleValidationError) as caught:
        validate_rule(parse_rule("size(age) > 1"), EXPRESSION_TYPES, text="age > 1")
    assert caught.value.line is None
    assert caught.value.where == "size(age) > 1"


def test_rule_tags_include_comparisons_and_sizes() -> None:
    rule = parse_rule(
        "spend / orders > 1 and size(brands) >= 2 and not city = home "
        "or joined >= as_of - 1d or age between low + 1 and high "
        'or segment("s") or events("search", last="7d") > 1 or vip is null'
    )
    assert rule_tags(rule) == {
        "spend",
        "orders",
        "brands",
        "city",
        "home",
        "joined",
        "age",
        "low",
        "high",
        "vip",
    }
    assert rule_tags(parse_rule("3 between size(a) and size(b)")) == {"a", "b"}
    assert rule_tags(parse_rule('segment("s")')) == set()
