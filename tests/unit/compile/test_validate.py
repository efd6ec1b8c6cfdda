"""Tag definitions checked against the ingested tables and each other: errors name the file,
line, tag and field, with suggestions; derived expressions and dependency cycles."""

from __future__ import annotations

import pytest

from portrait.compile import validate_tags
from portrait.errors import DependencyCycleError, TagDefinitionError
from tests.unit.tag_files import SCHEMA, parse


def error_of(text: str, schema: dict[str, dict[str, str]] | None = None) -> str:
    with pytest.raises(TagDefinitionError) as info:
        validate_tags(parse(text), schema or SCHEMA)
    return str(info.value)


def test_unknown_column_suggests_near_name() -> None:
    message = error_of("tags:\n  - {name: c, kind: attribute, column: cty}\n")
    assert "tag 'c', field 'column'" in message
    assert "did you mean 'city'" in message


def test_unknown_where_column_and_missing_table() -> None:
    text = "tags:\n  - {name: m, kind: metric, from: events, where: {evnt: x}, agg: count}\n"
    assert "field 'where.evnt'" in error_of(text)
    missing = error_of(text, {"users": SCHEMA["users"]})
    assert "no events have been ingested" in missing


def test_bucket_of_text_column_is_rejected() -> None:
    assert "buckets need a number" in error_of(
        "tags:\n  - {name: b, kind: bucket, source: city, bins: [1]}\n"
    )


@pytest.mark.parametrize(
    ("expr", "needle"),
    [
        ("(SELECT 1)", "not allowed"),
        ("sum(age2)", "not allowed"),
        ("read_csv('x')", "not allowed"),
        ("age2 +", "cannot parse"),
        ("agee > 1", "unknown tag 'agee'"),
    ],
)
def test_derived_expressions_are_checked(expr: str, needle: str) -> None:
    text = (
        "tags:\n  - {name: age2, kind: attribute, column: age, type: int}\n"
        f'  - {{name: d, kind: derived, type: int, expr: "{expr}"}}\n'
    )
    assert needle in error_of(text)


def test_cycle_is_named() -> None:
    text = (
        "tags:\n"
        '  - {name: a, kind: derived, type: int, expr: "b + 1"}\n'
        '  - {name: b, kind: derived, type: int, expr: "c + 1"}\n'
        '  - {name: c, kind: derived, type: int, expr: "a + 1"}\n'
    )
    with pytest.raises(DependencyCycleError) as info:
        validate_tags(parse(text), SCHEMA)
    message = str(info.value)
    assert "cycle" in message
    for name in ("a", "b", "c"):
        assert name in message.split(":", 1)[1]


def test_metric_on_a_table_never_ingested() -> None:
    text = "tags:\n  - {name: n, kind: metric, from: orders, agg: count}\n"
    message = error_of(text)
    assert "field 'from'" in message and "no orders have been ingested" in message


def test_unknown_function_is_named() -> None:
    text = (
        "tags:\n  - {name: age2, kind: attribute, column: age, type: int}\n"
        '  - {name: d, kind: derived, type: int, expr: "frobnicate(age2)"}\n'
    )
    assert "function 'frobnicate'" in error_of(text)
    ok = text.replace("frobnicate(age2)", "lpad(CAST(age2 AS VARCHAR), 3, '0')").replace(
        "type: int, expr", "type: string, expr"
    )
    assert validate_tags(parse(ok), SCHEMA)["d"].dependencies() == {"age2"}
