"""Tag definition files parsed into the model: every kind, schema errors that name the file,
line, tag and field, fingerprints, categories."""

from __future__ import annotations

import pytest

from portrait.compile import validate_tags
from portrait.errors import TagDefinitionError
from portrait.model.tags import BucketTag, MetricTag
from tests.unit.tag_files import SCHEMA, parse


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


def test_tag_category_overrides_file_category() -> None:
    tags = parse(
        "category: basic\ntags:\n  - {name: a, kind: attribute}\n"
        "  - {name: b, kind: attribute, category: special}\n"
    )
    assert tags["a"].category == "basic" and tags["b"].category == "special"
