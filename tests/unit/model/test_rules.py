"""The rule model: its JSON document, comparisons of expressions, as-of values and windows."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

from portrait.model.expressions import Arithmetic, AsOf, Size, TagRef
from portrait.model.rules import Comparison, RuleDocument, TagCondition, Window
from portrait.rules import parse_rule
from tests.unit.rules.samples import ISSUE_EXAMPLE


def test_document_is_versioned_json() -> None:
    doc = RuleDocument(rule=parse_rule(ISSUE_EXAMPLE))
    text = doc.model_dump_json()
    assert '"version":1' in text
    assert RuleDocument.model_validate_json(text) == doc


def test_comparisons_name_a_tag_and_take_a_pair_for_between() -> None:
    cond = Comparison(
        left=Arithmetic(op="/", left=TagRef(tag="a"), right=Size(tag="l")),
        op="between",
        right=[1, TagRef(tag="b")],
    )
    assert cond.sides == [cond.left, 1, TagRef(tag="b")]
    assert cond.tags == {"a", "l", "b"}
    for bad in (
        {"left": 1, "op": ">", "right": AsOf()},  # names no tag
        {"left": TagRef(tag="a"), "op": "between", "right": 1},
        {"left": TagRef(tag="a"), "op": "between", "right": [1, 2, 3]},
        {"left": TagRef(tag="a"), "op": ">", "right": [1, 2]},
    ):
        with pytest.raises(ValidationError):
            Comparison(**bad)  # type: ignore[arg-type]


def test_tag_conditions_take_as_of_values_and_no_value_for_empty_tests() -> None:
    moved = TagCondition(tag="d", op="between", value=[AsOf(offset=-2, unit="w"), AsOf()])
    assert moved.value == [AsOf(offset=-2, unit="w"), AsOf(offset=0)]
    assert TagCondition(tag="l", op="is empty").value is None
    for op in ("is empty", "is not empty"):
        with pytest.raises(ValidationError, match="takes no value"):
            TagCondition(tag="l", op=op, value="a")


def test_windows_relative_to_the_as_of_date() -> None:
    window = Window(start=AsOf(offset=-59), end=AsOf(offset=-30))
    assert window.relative
    assert window.days(dt.date(2026, 6, 30)) == (dt.date(2026, 5, 2), dt.date(2026, 5, 31))
    with pytest.raises(ValueError, match="needs the as-of date"):
        window.days(None)
    mixed = Window(start=dt.date(2026, 1, 1), end=AsOf(offset=-1, unit="w"))
    assert mixed.relative
    assert mixed.days(dt.date(2026, 1, 10)) == (dt.date(2026, 1, 1), dt.date(2026, 1, 3))
    with pytest.raises(ValueError, match=r"starts \(2026-01-01\) after it ends \(2025-12-25\)"):
        mixed.days(dt.date(2026, 1, 1))  # only known once the as-of date is
    assert not Window(start=dt.date(2026, 1, 1), end=dt.date(2026, 1, 2)).relative
    with pytest.raises(ValidationError, match="starts after it ends"):
        Window(start=AsOf(offset=-1, unit="w"), end=AsOf(offset=-8))  # -7 days > -8 days
    assert Window(start=AsOf(offset=-8), end=AsOf(offset=-1, unit="w")).days(
        dt.date(2026, 6, 30)
    ) == (dt.date(2026, 6, 22), dt.date(2026, 6, 23))
