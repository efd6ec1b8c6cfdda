"""Rule validation against the catalog: tags, values, types, events and properties, with
suggestions; windows too long in a rule given as a model."""

from __future__ import annotations

import pytest

from portrait.errors import RuleValidationError
from portrait.model.rules import BehaviourCondition, Window
from portrait.rules import parse_rule
from portrait.rules.validate import validate_rule
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
