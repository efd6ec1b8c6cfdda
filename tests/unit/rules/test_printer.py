"""The rule printer: text ⇄ model round trips (canonical text; any model; the docs' first
example)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portrait.model.rules import (
    And,
    BehaviourCondition,
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
