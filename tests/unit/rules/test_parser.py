"""The rule parser: text → model, and errors with positions (syntax, malformed conditions, depth,
window and length limits, escapes) that quote at most about 200 characters of a rule."""

from __future__ import annotations

import datetime as dt

import pytest

from portrait.errors import RuleValidationError
from portrait.model.expressions import Arithmetic, AsOf, Duration, Expression, Size, TagRef
from portrait.model.rules import (
    And,
    BehaviourCondition,
    Comparison,
    Not,
    Or,
    SegmentRef,
    TagCondition,
    Window,
)
from portrait.rules import RuleSyntaxError, parse_rule, print_rule
from portrait.rules.parser import locate
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


# -- expressions: size(), is empty, comparisons of tags, arithmetic, as_of ----------------


def _tag(name: str) -> TagRef:
    return TagRef(tag=name)


def _arith(left: Expression, op: str, right: Expression) -> Arithmetic:
    return Arithmetic(op=op, left=left, right=right)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "model"),
    [
        # a tag against a value is a tag condition, on either side (the operator mirrored)
        ("300 < spend", TagCondition(tag="spend", op=">", value=300)),
        ("300 >= spend", TagCondition(tag="spend", op="<=", value=300)),
        ('"北京" = city', TagCondition(tag="city", op="=", value="北京")),
        ("1.5 != spend", TagCondition(tag="spend", op="!=", value=1.5)),
        ("(spend) > (300)", TagCondition(tag="spend", op=">", value=300)),
        ("spend > -3", TagCondition(tag="spend", op=">", value=-3)),
        # as_of ± N folds into one value, kept as written
        ("joined >= as_of - 90d", TagCondition(tag="joined", op=">=", value=AsOf(offset=-90))),
        ("joined < as_of + 2W", TagCondition(tag="joined", op="<", value=AsOf(offset=2, unit="w"))),
        ("joined = AS_OF", TagCondition(tag="joined", op="=", value=AsOf())),
        ("as_of - 3d < joined", TagCondition(tag="joined", op=">", value=AsOf(offset=-3))),
        (
            "joined between as_of - 2w and as_of",
            TagCondition(tag="joined", op="between", value=[AsOf(offset=-2, unit="w"), AsOf()]),
        ),
        (
            "joined in (as_of, as_of - 1d, as_of + 1w)",
            TagCondition(
                tag="joined",
                op="in",
                value=[AsOf(), AsOf(offset=-1), AsOf(offset=1, unit="w")],
            ),
        ),
        # only as_of itself folds: a second step stays arithmetic
        (
            "joined >= as_of - 1w - 3d",
            Comparison(
                left=_tag("joined"),
                op=">=",
                right=_arith(AsOf(offset=-1, unit="w"), "-", Duration(amount=3)),
            ),
        ),
        (
            "joined >= 30d + as_of",
            Comparison(
                left=_tag("joined"), op=">=", right=_arith(Duration(amount=30), "+", AsOf())
            ),
        ),
        (
            "seen > 2 * (as_of - 3d)",  # parses; validation refuses the type
            Comparison(left=_tag("seen"), op=">", right=_arith(2, "*", AsOf(offset=-3))),
        ),
        # empty lists and sizes
        ("items is empty", TagCondition(tag="items", op="is empty")),
        ("items IS NOT EMPTY", TagCondition(tag="items", op="is not empty")),
        ("items is null", TagCondition(tag="items", op="is null")),
        (
            "size(items) between 1 and 3",
            Comparison(left=Size(tag="items"), op="between", right=[1, 3]),
        ),
        ("size (items) >= 2", Comparison(left=Size(tag="items"), op=">=", right=2)),
        ("0 = size(items)", Comparison(left=0, op="=", right=Size(tag="items"))),
        (
            "size(items) > size(labels)",
            Comparison(left=Size(tag="items"), op=">", right=Size(tag="labels")),
        ),
        # tag against tag, arithmetic
        ("spend > limit_", Comparison(left=_tag("spend"), op=">", right=_tag("limit_"))),
        ("city != home", Comparison(left=_tag("city"), op="!=", right=_tag("home"))),
        (
            "spend / orders > 300",
            Comparison(left=_arith(_tag("spend"), "/", _tag("orders")), op=">", right=300),
        ),
        (
            "last_active >= joined + 30d",
            Comparison(
                left=_tag("last_active"),
                op=">=",
                right=_arith(_tag("joined"), "+", Duration(amount=30)),
            ),
        ),
        (
            "spend - -3 > 1e3",
            Comparison(left=_arith(_tag("spend"), "-", -3), op=">", right=1000.0),
        ),
        (
            "age between 18 + work and limit_",
            Comparison(
                left=_tag("age"),
                op="between",
                right=[_arith(18, "+", _tag("work")), _tag("limit_")],
            ),
        ),
        (
            "3 between low and high",
            Comparison(left=3, op="between", right=[_tag("low"), _tag("high")]),
        ),
    ],
)
def test_expressions_parse_to_the_model(text: str, model: object) -> None:
    assert parse_rule(text) == model


@pytest.mark.parametrize(
    ("text", "left"),
    [
        # * and / bind tighter than + and -; both are left-associative
        ("a + b * c > 1", _arith(_tag("a"), "+", _arith(_tag("b"), "*", _tag("c")))),
        ("a * b + c > 1", _arith(_arith(_tag("a"), "*", _tag("b")), "+", _tag("c"))),
        ("a - b - c > 1", _arith(_arith(_tag("a"), "-", _tag("b")), "-", _tag("c"))),
        ("a / b * c > 1", _arith(_arith(_tag("a"), "/", _tag("b")), "*", _tag("c"))),
        ("a - b + c > 1", _arith(_arith(_tag("a"), "-", _tag("b")), "+", _tag("c"))),
        # parentheses group
        ("(a + b) * c > 1", _arith(_arith(_tag("a"), "+", _tag("b")), "*", _tag("c"))),
        ("a - (b - c) > 1", _arith(_tag("a"), "-", _arith(_tag("b"), "-", _tag("c")))),
        ("a / (b * c) > 1", _arith(_tag("a"), "/", _arith(_tag("b"), "*", _tag("c")))),
        ("((a)) - 3 > 1", _arith(_tag("a"), "-", 3)),
        ("a-3 > 1", _arith(_tag("a"), "-", 3)),
    ],
)
def test_arithmetic_precedence_and_parentheses(text: str, left: Expression) -> None:
    assert parse_rule(text) == Comparison(left=left, op=">", right=1)


def test_comparisons_combine_with_and_or_not() -> None:
    rule = parse_rule("not size(items) = 0 and (spend > limit_ or items is empty)")
    assert rule == And(
        items=[
            Not(item=Comparison(left=Size(tag="items"), op="=", right=0)),
            Or(
                items=[
                    Comparison(left=_tag("spend"), op=">", right=_tag("limit_")),
                    TagCondition(tag="items", op="is empty"),
                ]
            ),
        ]
    )


def test_windows_relative_to_the_as_of_date_parse() -> None:
    rule = parse_rule('events("view", start=as_of - 60d, end=as_of - 2w) > 3')
    assert rule == BehaviourCondition(
        measure="count",
        event="view",
        window=Window(start=AsOf(offset=-60), end=AsOf(offset=-2, unit="w")),
        op=">",
        value=3,
    )
    mixed = parse_rule('active_days(start="2026-01-01", end=as_of) >= 2')
    assert isinstance(mixed, BehaviourCondition)
    assert mixed.window == Window(start=dt.date(2026, 1, 1), end=AsOf())
    with pytest.raises(RuleSyntaxError, match="starts after it ends"):
        parse_rule('events("view", start=as_of - 10d, end=as_of - 20d) > 3')


@pytest.mark.parametrize(
    ("text", "line", "column", "needle"),
    [
        # the duration itself is pointed at
        ("joined >= as_of - 9999999d", 1, 19, "9999999d is 9,999,999 days"),
        ("x >= as_of + 36526d", 1, 14, "36526d is 36,526 days"),
        ("x >= as_of - 5218w", 1, 14, "5218w is 36,526 days"),  # weeks count as 7 days
        ("a = 1 or\n  x + 99999999d > y", 2, 7, "99,999,999 days"),
        ('events("v", start=as_of - 99999d, end=as_of) > 1', 1, 27, "99,999 days"),
        ("x in (as_of - 40000d)", 1, 15, "40,000 days"),
    ],
)
def test_offsets_over_100_years_are_syntax_errors(
    text: str, line: int, column: int, needle: str
) -> None:
    with pytest.raises(RuleSyntaxError) as info:
        parse_rule(text)
    err = info.value
    assert (err.line, err.column) == (line, column)
    assert f"line {line}, column {column}" in (err.where or "")
    assert needle in err.message
    assert "at most 36,525 days (100 years)" in err.message
    assert err.hint
    caret = err.message.splitlines()[-1]
    assert caret == " " * (column - 1) + "^"


def test_the_largest_offset_parses() -> None:
    assert parse_rule("x >= as_of - 36525d") == TagCondition(
        tag="x", op=">=", value=AsOf(offset=-36_525)
    )
    assert parse_rule("x >= as_of - 5217w") == TagCondition(
        tag="x", op=">=", value=AsOf(offset=-5217, unit="w")
    )


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        ("1 > 2", 1, 1),
        ("as_of > 3", 1, 1),
        ('as_of - 3d < "2026-01-01"', 1, 1),
        ("3d > as_of", 1, 1),
        ("1 between 0 and 2", 1, 1),
        ("2 * as_of > 3", 1, 1),
        ('city = "a" and\n  1 + 1 = 2', 2, 3),
    ],
)
def test_a_comparison_without_a_tag_is_a_syntax_error(text: str, line: int, column: int) -> None:
    with pytest.raises(RuleSyntaxError, match="names no tag") as info:
        parse_rule(text)
    assert (info.value.line, info.value.column) == (line, column)
    assert "^" in info.value.message


@pytest.mark.parametrize(
    ("text", "line", "column", "words"),
    [
        ("size(items > 1", 1, 12, [")"]),
        ("size() > 1", 1, 6, ["a tag name"]),
        ("items is empt", 1, 10, ["empty", "null"]),
        ("spend + > 1", 1, 9, []),
        ("joined >= as_of -", 1, 17, ["a number of days or weeks"]),  # at its end: the last token
    ],
)
def test_malformed_expressions_point_at_the_problem(
    text: str, line: int, column: int, words: list[str]
) -> None:
    with pytest.raises(RuleSyntaxError) as info:
        parse_rule(text)
    assert (info.value.line, info.value.column) == (line, column)
    for word in words:
        assert word in (info.value.hint or "")


def test_locate_finds_the_condition_that_parses_to_a_leaf() -> None:
    text = 'city = "a" and\n   joined >= as_of - 90d or\n\tspend / orders > 3'
    assert locate(text, TagCondition(tag="city", op="=", value="a")) == (1, 1)
    assert locate(text, TagCondition(tag="joined", op=">=", value=AsOf(offset=-90))) == (2, 4)
    division = Comparison(left=_arith(_tag("spend"), "/", _tag("orders")), op=">", right=3)
    assert locate(text, division) == (3, 2)
    # a leaf written differently is still the same leaf; the first one wins
    assert locate("x > 1 or 1 < x", TagCondition(tag="x", op=">", value=1)) == (1, 1)
    assert locate("a = 1 or 300 < spend", TagCondition(tag="spend", op=">", value=300)) == (1, 10)
    # not there, or text that does not parse
    assert locate(text, TagCondition(tag="joined", op=">=", value=AsOf(offset=-91))) is None
    assert locate("city = ", TagCondition(tag="city", op="=", value="a")) is None
    # a condition that cannot be built (here: names no tag) is skipped, not raised
    assert locate("1 > 2 or x > 1", TagCondition(tag="x", op=">", value=1)) == (1, 10)
