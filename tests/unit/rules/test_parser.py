"""The rule parser: text → model, and errors with positions (syntax, malformed conditions, depth,
window and length limits, escapes) that quote at most about 200 characters of a rule."""

from __future__ import annotations

import pytest

from portrait.errors import RuleValidationError
from portrait.model.rules import And, BehaviourCondition, Not, SegmentRef, TagCondition, Window
from portrait.rules import RuleSyntaxError, parse_rule, print_rule
from portrait.rules.validate import validate_rule
from tests.unit.rules.samples import ISSUE_EXAMPLE, TYPES


def test_issue_example_parses_to_the_model() -> None:
    rule = parse_rule(ISSUE_EXAMPLE)
    assert rule == And(
        items=[
            TagCondition(tag="city", op="in", value=["北京", "上海"]),
            TagCondition(tag="age", op=">=", value=25),
            Not(item=SegmentRef(name="churned")),
            BehaviourCondition(
                measure="count", event="search", window=Window(last=7), op=">", value=3
            ),
            BehaviourCondition(
                measure="active_days", window=Window(last=30), op="between", value=[8, 10]
            ),
        ]
    )
    assert print_rule(rule) == ISSUE_EXAMPLE


@pytest.mark.parametrize(
    ("text", "line", "column", "words"),
    [
        ("city ==", 1, 7, ["a number", '"string"']),
        ("age between 1", 1, 13, ["and"]),
        ("a = 1 or (b = 2", 1, 15, [")"]),
        ('city = "北京"\n  and age >>= 3', 2, 12, []),
    ],
)
def test_syntax_errors_point_at_the_problem(
    text: str, line: int, column: int, words: list[str]
) -> None:
    with pytest.raises(RuleSyntaxError) as info:
        parse_rule(text)
    err = info.value
    assert (err.line, err.column) == (line, column)
    assert "^" in str(err)
    for word in words:
        assert word in str(err)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "empty"),
        ('events("x") > 3', "needs a window"),
        ('events("x", last="soon") > 3', "7d"),
        ('events("x", last="7d", last="8d") > 3', "twice"),
        ('sum("order", last="7d") > 3', "sum"),
        ('events("x", start="2026-10-31", end="2026-10-01") > 1', "starts after"),
    ],
)
def test_malformed_conditions(text: str, needle: str) -> None:
    with pytest.raises(RuleSyntaxError, match=needle):
        parse_rule(text)


def test_rules_nested_too_deep_are_refused_not_crashed() -> None:
    """Hundreds of nested ``not``s would exhaust the stack somewhere recursive; they are a
    syntax error instead. Brackets that add no level, and long flat rules, are fine."""
    from portrait.errors import RuleSyntaxError
    from portrait.rules.parser import MAX_DEPTH, parse_rule

    for text in ("not " * 3000 + "age > 3", "not " * (MAX_DEPTH + 1) + "age > 3"):
        with pytest.raises(RuleSyntaxError, match="nests deeper than"):
            parse_rule(text)
    assert parse_rule("(" * 500 + "age > 3" + ")" * 500) == parse_rule("age > 3")
    flat = " and ".join(['city not in ("北京")'] * 500)
    assert len(parse_rule(flat).items) == 500  # type: ignore[union-attr]


def test_a_window_longer_than_100_years_is_a_rule_error_naming_it() -> None:
    """It used to overflow the date arithmetic (OverflowError) when the rule was evaluated."""
    from portrait.rules import MAX_WINDOW_DAYS

    assert MAX_WINDOW_DAYS == 36_525
    for text, written in (
        ('events("search", last="99999999d") >= 1', 'last="99999999d"'),
        ('events("search", last=99999999) >= 1', "last=99999999"),
        ('active_days(last="5300w") > 1', 'last="5300w"'),
    ):
        with pytest.raises(RuleSyntaxError) as info:
            parse_rule(text)
        message = str(info.value)
        assert written in message and "at most 36,525 days (100 years)" in message
        assert (info.value.line, info.value.column) == (1, 1)
    assert parse_rule('events("search", last="36525d") >= 1') == parse_rule(
        'events("search", last=36525) >= 1'
    )
    with pytest.raises(RuleSyntaxError, match=r'last="0d" is empty'):
        parse_rule('events("search", last="0d") >= 1')


@pytest.mark.parametrize(
    ("text", "escape", "column"),
    [
        ('city = "a\\x"', "\\x", 10),
        ('city = "北京" or note = "\\u12"', "\\u12", 24),  # columns count characters
        ('note = "ok \\q and more"', "\\q", 12),
    ],
)
def test_a_bad_escape_is_a_syntax_error_at_it(text: str, escape: str, column: int) -> None:
    """Strings use JSON's escapes; a bad one used to surface as the JSON decoder's message
    ("Invalid \\escape: line 1 column 3 (char 2)"), positioned in the string, not the rule."""
    with pytest.raises(RuleSyntaxError) as info:
        parse_rule(text)
    err = info.value
    assert (err.line, err.column) == (1, column)
    assert err.message.startswith(f"bad escape {escape} in a string")
    assert "char" not in str(err) and "Invalid" not in str(err)
    assert err.hint is not None and "\\\\ for a backslash" in err.hint
    source, caret = err.message.splitlines()[1:]
    assert source == text and caret.endswith("^")


def test_a_bad_escape_on_a_later_line_points_there() -> None:
    with pytest.raises(RuleSyntaxError) as info:
        parse_rule('city = "北京"\n  and note = "a\\x"')
    assert (info.value.line, info.value.column) == (2, 16)


def test_rule_text_is_at_most_max_rule_length_characters() -> None:
    from portrait.rules import MAX_RULE_LENGTH

    assert MAX_RULE_LENGTH == 20_000
    fits = " or ".join(['city = "北京"'] * 1000)
    assert len(fits) < MAX_RULE_LENGTH
    parse_rule(fits)
    long = 'city = "' + "x" * MAX_RULE_LENGTH + '"'
    with pytest.raises(RuleSyntaxError) as info:
        parse_rule(long)
    assert "20,009 characters long; rules are at most 20,000 characters" in str(info.value)
    assert len(str(info.value)) < 400  # the rule is not echoed


def test_errors_quote_at_most_about_200_characters_of_a_rule() -> None:
    long_value = "y" * 5000
    with pytest.raises(RuleSyntaxError) as syntax:
        parse_rule(f'city = "{long_value}" and (')
    lines = str(syntax.value).splitlines()
    assert all(len(line) <= 260 for line in lines), [len(line) for line in lines]
    source, caret = lines[1], lines[2]
    assert source.startswith("…") and source.endswith("and (")
    assert len(caret) == len(source)  # the caret is still under the rule's last character
    with pytest.raises(RuleValidationError) as checked:
        validate_rule(parse_rule(f'city = "{long_value}"'), TYPES, tag_values={"city": ["北京"]})
    assert len(str(checked.value)) < 600 and "…" in str(checked.value)
    with pytest.raises(RuleValidationError) as unknown:
        validate_rule(parse_rule("x" * 5000 + " = 1"), TYPES)
    assert len(str(unknown.value)) < 300
