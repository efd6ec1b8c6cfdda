"""The rule language: text ⇄ model round trips, errors with positions, catalog checks."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portrait.errors import RuleValidationError
from portrait.model.rules import (
    And,
    BehaviourCondition,
    IdListRef,
    Not,
    Or,
    Rule,
    RuleDocument,
    SegmentRef,
    TagCondition,
    Window,
)
from portrait.rules import RuleSyntaxError, parse_rule, print_rule
from portrait.rules.validate import validate_rule

ISSUE_EXAMPLE = (
    'city in ("北京", "上海") and age >= 25 and not segment("churned") and '
    'events("search", last="7d") > 3 and active_days(last="30d") between 8 and 10'
)


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
    ("text", "canonical"),
    [
        ("A = 1 OR b = 2 AND c = 3", "A = 1 or b = 2 and c = 3"),
        ("(a = 1 or b = 2) and c = 3", "(a = 1 or b = 2) and c = 3"),
        ("not (a = 1 and b = 2)", "not (a = 1 and b = 2)"),
        ("x is not null and y is null", "x is not null and y is null"),
        ('brands contains any ("宝马", "Audi")', 'brands contains any ("宝马", "Audi")'),
        ('brands contains all ("a")', 'brands contains all ("a")'),
        ('city not in ("北京")', 'city not in ("北京")'),
        ("vip = true and score between -1.5 and 2", "vip = true and score between -1.5 and 2"),
        ('ids("upload-1") or segment("s")', 'ids("upload-1") or segment("s")'),
        (
            'sum("order", of="amount", last="4w") >= 100',
            'sum("order", of="amount", last="28d") >= 100',
        ),
        (
            'events("view", line="beauty_shop", item_category="anti_aging_cream", last="30d") = 0',
            'events("view", line="beauty_shop", item_category="anti_aging_cream", last="30d") = 0',
        ),
        (
            'events("view", start="2026-10-01", end="2026-10-31") >= 1',
            'events("view", start="2026-10-01", end="2026-10-31") >= 1',
        ),
        ('note = "say \\"hi\\""', 'note = "say \\"hi\\""'),
    ],
)
def test_text_round_trip(text: str, canonical: str) -> None:
    rule = parse_rule(text)
    assert print_rule(rule) == canonical
    assert parse_rule(canonical) == rule


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


def test_document_is_versioned_json() -> None:
    doc = RuleDocument(rule=parse_rule(ISSUE_EXAMPLE))
    text = doc.model_dump_json()
    assert '"version":1' in text
    assert RuleDocument.model_validate_json(text) == doc


TYPES = {
    "city": "string",
    "age": "int",
    "vip": "bool",
    "brands": "list<string>",
    "last_seen": "timestamp",
}


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


# -- property-based round trip ------------------------------------------------------------
names = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True).filter(
    lambda s: (
        s
        not in {
            "and",
            "or",
            "not",
            "in",
            "is",
            "null",
            "between",
            "contains",
            "any",
            "all",
            "true",
            "false",
            "events",
            "active_days",
            "sum",
            "segment",
            "ids",
        }
    )
)
texts = st.text(min_size=1, max_size=8)
scalars = st.one_of(
    texts,
    st.integers(-(10**6), 10**6),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False, width=32).map(float),
)
numbers = st.integers(0, 1000).map(float)


def tag_conditions() -> st.SearchStrategy[TagCondition]:
    return st.one_of(
        st.builds(
            TagCondition,
            tag=names,
            op=st.sampled_from(["=", "!=", "<", "<=", ">", ">="]),
            value=scalars,
        ),
        st.builds(
            TagCondition,
            tag=names,
            op=st.sampled_from(["in", "not in", "contains any", "contains all"]),
            value=st.lists(scalars, min_size=1, max_size=3),
        ),
        st.builds(
            TagCondition,
            tag=names,
            op=st.just("between"),
            value=st.lists(scalars, min_size=2, max_size=2),
        ),
        st.builds(TagCondition, tag=names, op=st.sampled_from(["is null", "is not null"])),
    )


windows = st.one_of(
    st.builds(Window, last=st.integers(1, 400)),
    st.dates(dt.date(2020, 1, 1), dt.date(2026, 12, 31)).map(
        lambda d: Window(start=d, end=d + dt.timedelta(days=3))
    ),
)


@st.composite
def behaviours(draw: st.DrawFn) -> BehaviourCondition:
    measure = draw(st.sampled_from(["count", "sum", "active_days"]))
    between = draw(st.booleans())
    low = draw(numbers)
    return BehaviourCondition(
        measure=measure,
        event=draw(texts) if measure != "active_days" or draw(st.booleans()) else None,
        business_line=draw(st.one_of(st.none(), texts)),
        where=draw(
            st.dictionaries(
                names.filter(lambda n: n not in {"line", "of", "event", "last", "start", "end"}),
                scalars,
                max_size=2,
            )
        ),
        of=draw(names) if measure == "sum" else None,
        window=draw(windows),
        op="between" if between else draw(st.sampled_from(["=", "!=", "<", "<=", ">", ">="])),
        value=[low, low + draw(numbers)] if between else low,
    )


leaves = st.one_of(
    tag_conditions(),
    behaviours(),
    st.builds(SegmentRef, name=texts),
    st.builds(IdListRef, name=texts),
)
rules: st.SearchStrategy[Rule] = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.builds(And, items=st.lists(children, min_size=2, max_size=3)),
        st.builds(Or, items=st.lists(children, min_size=2, max_size=3)),
        st.builds(Not, item=children),
    ),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(rules)
def test_any_model_round_trips_through_text(rule: Rule) -> None:
    assert parse_rule(print_rule(rule)) == rule


def test_docs_first_example_round_trips() -> None:
    """The first rule of docs/rules.md prints back as written (its Python blocks run in
    tests/test_docs.py, on a demo workspace)."""
    import re
    from pathlib import Path

    page = Path(__file__).parent.parent.parent / "docs" / "rules.md"
    text = page.read_text(encoding="utf-8")
    example = re.findall(r"```text\n(.*?)```", text, re.DOTALL)[0]
    assert print_rule(parse_rule(example)) == " ".join(example.split())


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


# -- limits and errors that quote the rule ---------------------------------------------------
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


def test_a_window_too_long_in_a_rule_model_is_refused_by_validation() -> None:
    """Rules given as a model (JSON documents, Python) do not pass through the parser."""
    rule = BehaviourCondition(
        measure="count", event="search", window=Window(last=10**8), op=">=", value=1
    )
    with pytest.raises(RuleValidationError, match=r"100,000,000 days long; windows are at most"):
        validate_rule(rule, {}, events=["search"])


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
