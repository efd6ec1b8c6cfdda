"""derived: the checked expression, cast to the tag's type, computed in the assembly."""

from __future__ import annotations

import datetime as dt

import pytest

from portrait.compile import validate_tags
from portrait.compile.derived import derived_parts, derived_value
from portrait.compile.parts import BuildContext, TagExpression
from portrait.errors import TagDefinitionError
from portrait.model.tags import DerivedTag, TagSet
from tests.unit.tag_files import SCHEMA, parse

TAGS = validate_tags(
    parse(
        "tags:\n"
        "  - {name: age, kind: attribute, type: int}\n"
        "  - {name: adult, kind: derived, type: bool, expr: age >= 18}\n"
    ),
    SCHEMA,
)


def test_expression_cast_to_type() -> None:
    adult = TAGS["adult"]
    assert isinstance(adult, DerivedTag)
    (part,) = derived_parts([adult], BuildContext(TAGS, dt.date(2026, 10, 31), SCHEMA))
    assert isinstance(part, TagExpression) and part.tag is adult
    assert part.value.sql("duckdb") == "CAST(age >= 18 AS BOOLEAN)"


def test_expression_checked_against_the_tags() -> None:
    bad = DerivedTag(name="bad", expr="agee + 1", type="int")
    with pytest.raises(TagDefinitionError, match="unknown tag 'agee'"):
        derived_value(bad, TagSet([*TAGS.values(), bad]))
