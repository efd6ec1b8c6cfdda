"""The rule printer: text ⇄ model round trips (canonical text; any model; the docs' first
example; expressions printed back as written, with brackets only where the tree needs them)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from portrait.model.expressions import Arithmetic, AsOf, Duration, Expression, Size, TagRef
from portrait.model.rules import (
    And,
    BehaviourCondition,
    Comparison,
    IdListRef,
    Not,
    Or,
    Rule,
    SegmentRef,
    TagCondition,
    Window,
)
from portrait.rules import parse_rule, print_rule


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

    page = Path(__file__).parents[3] / "docs" / "rules.md"
    text = page.read_text(encoding="utf-8")
    example = re.findall(r"```text\n(.*?)```", text, re.DOTALL)[0]
    assert print_rule(parse_rule(example)) == " ".join(example.split())


# -- expressions ----------------------------------------------------------------------------

WRITTEN = [
    "size(interests) >= 2",
    "size(interests) between 1 and 3",
    "size(interests) > size(labels)",
    "interests is empty",
    "interests is not empty or interests is null",
    "spend_365d / orders_365d > 300",
    "spend_365d > 5 * avg_order_value",
    "age - work_years between 18 and 22",
    "a + b * c > 1",
    "(a + b) * c > 1",
    "a - (b - c) > 1",
    "a - b - c > 1",
    "a / (b * c) > 1",
    "a / b * c > 1",
    "a * (b / c) > 1",
    "a - -3 > 1.5",
    "city = home_city and vip != member",
    "last_active_at >= registered_at + 30d",
    "registered_at >= as_of - 90d",
    "registered_at >= as_of - 2w",
    "registered_at < as_of + 1w",
    "registered_at >= as_of - 1w - 3d",
    "registered_at >= 30d + as_of",
    "seen > registered_at - (as_of - 3d)",
    "seen > 2 * (as_of - 3d)",
    "joined between as_of - 2w and as_of",
    "joined in (as_of, as_of - 1d)",
    "as_of - 2w between joined and seen",
    "3 between low and high",
    "0 = size(items)",
    "not (spend > limit_ or size(items) = 0) and joined >= as_of - 30d",
    'events("view", start=as_of - 59d, end=as_of - 30d) > 3',
    'events("view", start="2026-01-01", end=as_of) > 3',
]


@pytest.mark.parametrize("text", WRITTEN)
def test_expressions_print_back_as_written(text: str) -> None:
    rule = parse_rule(text)
    assert print_rule(rule) == text
    assert parse_rule(print_rule(rule)) == rule


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("300 < spend", "spend > 300"),  # a tag against a value: the tag condition
        ('"2026-01-01" <= joined', 'joined >= "2026-01-01"'),
        ("as_of - 3d < joined", "joined > as_of - 3d"),
        ("SIZE(items)>=2", "size(items) >= 2"),
        ("((a + b)) * (c) > 1", "(a + b) * c > 1"),
        ("(a * b) + c > 1", "a * b + c > 1"),
        ("a-3>1", "a - 3 > 1"),
        ("joined >= AS_OF - 90D", "joined >= as_of - 90d"),
        ("joined >= (as_of - 1w) - 3d", "joined >= as_of - 1w - 3d"),
        ("x >= as_of + 0d", "x >= as_of"),
        ("items IS NOT EMPTY", "items is not empty"),
    ],
)
def test_expressions_print_canonically(text: str, canonical: str) -> None:
    rule = parse_rule(text)
    assert print_rule(rule) == canonical
    assert parse_rule(canonical) == rule


def test_a_compare_node_of_a_tag_and_a_value_prints_as_the_tag_condition() -> None:
    """The JSON form may hold one; it means the same as the parser's tag condition."""
    node = Comparison(left=TagRef(tag="spend"), op=">", right=300)
    assert print_rule(node) == "spend > 300"
    assert parse_rule(print_rule(node)) == TagCondition(tag="spend", op=">", value=300)
    between = Comparison(left=TagRef(tag="d"), op="between", right=[AsOf(offset=-3), AsOf()])
    assert print_rule(between) == "d between as_of - 3d and as_of"


def test_a_zero_offset_in_weeks_round_trips() -> None:
    rule = parse_rule("x >= as_of - 0w")
    assert parse_rule(print_rule(rule)) == rule


def _no_folding(expression: Expression) -> bool:
    """Whether no ``as_of ± duration`` stands in the tree (the parser folds it into one
    value), and no zero offset in weeks (printed as ``as_of``)."""
    if isinstance(expression, AsOf):
        return expression.offset != 0 or expression.unit == "d"
    if isinstance(expression, Arithmetic):
        folds = (
            expression.left == AsOf()
            and expression.op in "+-"
            and isinstance(expression.right, Duration)
        )
        return not folds and _no_folding(expression.left) and _no_folding(expression.right)
    return True


expression_names = st.sampled_from(["a", "b", "spend", "joined", "items", "x_1"])
expression_leaves: st.SearchStrategy[Expression] = st.one_of(
    st.builds(TagRef, tag=expression_names),
    st.builds(Size, tag=expression_names),
    st.builds(AsOf, offset=st.integers(-400, 400), unit=st.sampled_from(["d", "w"])),
    st.builds(Duration, amount=st.integers(0, 400), unit=st.sampled_from(["d", "w"])),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False, allow_infinity=False),
)
expressions: st.SearchStrategy[Expression] = st.recursive(
    expression_leaves,
    lambda children: st.builds(
        Arithmetic, op=st.sampled_from(["+", "-", "*", "/"]), left=children, right=children
    ),
    max_leaves=6,
)
computed = st.one_of(
    st.builds(Size, tag=expression_names),
    st.builds(
        Arithmetic,
        op=st.sampled_from(["+", "-", "*", "/"]),
        left=st.builds(TagRef, tag=expression_names),
        right=expressions,
    ),
    st.builds(
        Arithmetic,
        op=st.sampled_from(["+", "-", "*", "/"]),
        left=expressions,
        right=st.builds(Size, tag=expression_names),
    ),
)


@st.composite
def comparisons(draw: st.DrawFn) -> Comparison:
    """A comparison that is no plain tag condition: one side computed (size or arithmetic
    with a tag), in any order, any operator."""
    left: Expression = draw(computed)
    right: Expression = draw(expressions)
    if draw(st.booleans()):
        left, right = right, left
    if draw(st.booleans()):
        return Comparison(left=left, op="between", right=[right, draw(expressions)])
    return Comparison(
        left=left, op=draw(st.sampled_from(["=", "!=", "<", "<=", ">", ">="])), right=right
    )


@settings(max_examples=150, deadline=None)
@given(comparisons())
def test_any_comparison_of_expressions_round_trips_through_text(cond: Comparison) -> None:
    assume(all(_no_folding(side) for side in cond.sides))
    assert parse_rule(print_rule(cond)) == cond
