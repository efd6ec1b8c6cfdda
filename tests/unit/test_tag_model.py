"""Tag definition files: validation errors name the file, line, tag and field."""

from __future__ import annotations

import pytest

from portrait.compile import validate_tags
from portrait.errors import DependencyCycleError, TagDefinitionError
from portrait.model.tags import BucketTag, MetricTag, TagSet, parse_tag_file

SCHEMA = {
    "users": {"user_id": "string", "age": "int", "city": "string"},
    "events": {"user_id": "string", "ts": "timestamp", "event": "string", "price": "float"},
}


def parse(text: str) -> TagSet:
    return TagSet(parse_tag_file(text, "tags/x.yaml", "x"))


def error_of(text: str, schema: dict[str, dict[str, str]] | None = None) -> str:
    with pytest.raises(TagDefinitionError) as info:
        validate_tags(parse(text), schema or SCHEMA)
    return str(info.value)


def test_valid_file_parses_every_kind() -> None:
    tags = parse(
        """
category: basic
tags:
  - {name: city, kind: attribute}
  - {name: age_band, kind: bucket, source: age, bins: [20, 30]}
  - {name: views_7d, kind: metric, from: events, where: {event: view}, agg: count, window: 7d}
  - {name: top_events, kind: preference, from: events, property: event, top: 2}
  - {name: busy, kind: derived, expr: "views_7d > 3", type: bool}
"""
    )
    assert list(tags) == ["city", "age_band", "views_7d", "top_events", "busy"]
    assert all(t.category == "basic" for t in tags.values())
    band = tags["age_band"]
    assert isinstance(band, BucketTag)
    assert band.bucket_labels() == ["<20", "20-30", "30+"]
    views = tags["views_7d"]
    assert isinstance(views, MetricTag)
    assert views.window_days == 7
    resolved = validate_tags(tags, SCHEMA)
    assert resolved.tag_dependencies("busy") == {"views_7d"}
    assert resolved.build_order().index("busy") > resolved.build_order().index("views_7d")


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        ("tags:\n  - {name: a, kind: magic}\n", ["tags/x.yaml:2", "tag 'a'", "kind", "attribute"]),
        ("tags:\n  - {name: Bad-Name, kind: attribute}\n", ["field 'name'", "lower-case"]),
        (
            "tags:\n  - {name: ok, kind: attribute}\n  - {name: b, kind: bucket, source: age, bins: [3, 1]}\n",
            ["tags/x.yaml:3", "tag 'b'", "ascending"],
        ),
        ("tags:\n  - {name: m, kind: metric, from: events, agg: sum}\n", ["tag 'm'", "needs 'of"]),
        ("tags:\n  - {name: m, kind: metric, from: events, agg: count, window: 7x}\n", ["window"]),
        (
            "tags:\n  - {name: a, kind: attribute, colour: red}\n",
            ["field 'colour'", "unknown field"],
        ),
        ("tags: [\n", ["not valid YAML", "tags/x.yaml:"]),
        ("- just a list\n", ["mapping"]),
        ("tags:\n  - {name: uid, kind: attribute}\n", ["reserved"]),
    ],
)
def test_schema_errors(text: str, needles: list[str]) -> None:
    with pytest.raises(TagDefinitionError) as info:
        parse(text)
    for needle in needles:
        assert needle in str(info.value)


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


def test_duplicate_names_rejected() -> None:
    with pytest.raises(TagDefinitionError, match="defined twice"):
        parse("tags:\n  - {name: a, kind: attribute}\n  - {name: a, kind: attribute}\n")


def test_fingerprint_ignores_documentation_fields() -> None:
    a = parse("tags:\n  - {name: a, kind: attribute, title: A, owner: x}\n")["a"]
    b = parse("tags:\n  - {name: a, kind: attribute, title: B, owner: y, description: z}\n")["a"]
    c = parse("tags:\n  - {name: a, kind: attribute, column: city}\n")["a"]
    assert a.fingerprint() == b.fingerprint()
    assert a.fingerprint() != c.fingerprint()


@pytest.mark.parametrize(
    ("where", "needle"),
    [
        ("{event: {like: x}}", "unknown operator 'like'"),
        ("{event: {between: [1]}}", "'between' takes two values, [low, high]"),
        ("{event: {in: []}}", "needs at least one value"),
        ("{event: []}", "empty list"),
        ("{event: {'>': [1, 2]}}", "takes one value"),
    ],
)
def test_where_conditions_are_checked_when_parsed(where: str, needle: str) -> None:
    text = f"tags:\n  - {{name: m, kind: metric, from: events, where: {where}, agg: count}}\n"
    with pytest.raises(TagDefinitionError) as info:
        parse(text)
    assert needle in str(info.value)
    assert "tags/x.yaml:2" in str(info.value) and "tag 'm'" in str(info.value)


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


def test_tag_category_overrides_file_category() -> None:
    tags = parse(
        "category: basic\ntags:\n  - {name: a, kind: attribute}\n"
        "  - {name: b, kind: attribute, category: special}\n"
    )
    assert tags["a"].category == "basic" and tags["b"].category == "special"
