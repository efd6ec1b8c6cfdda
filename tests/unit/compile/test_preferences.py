"""preference: a ranked query per tag; the property's type decides list handling."""

from __future__ import annotations

import datetime as dt

from portrait.compile import validate_tags
from portrait.compile.parts import BuildContext, TagRelation
from portrait.compile.preferences import preference_parts, preference_query, property_type
from portrait.model.tags import PreferenceTag
from tests.unit.tag_files import parse

AS_OF = dt.date(2026, 10, 31)
SCHEMA = {
    "users": {"user_id": "string"},
    "events": {"user_id": "string", "ts": "timestamp", "event": "string"},
    "orders": {"user_id": "string", "ts": "timestamp", "items": "list<string>"},
}
TAGS = validate_tags(
    parse(
        "tags:\n"
        "  - {name: events_top, kind: preference, from: events, property: event}\n"
        "  - {name: items_top, kind: preference, from: orders, property: items, top: 2}\n"
        "  - {name: daypart_top, kind: preference, from: events, property: daypart, top: 1}\n"
    ),
    SCHEMA,
)


def preference(name: str) -> PreferenceTag:
    tag = TAGS[name]
    assert isinstance(tag, PreferenceTag)
    return tag


def test_property_types() -> None:
    assert property_type(SCHEMA, preference("events_top")) == "string"
    assert property_type(SCHEMA, preference("items_top")) == "list<string>"
    assert property_type(SCHEMA, preference("daypart_top")) == "string"  # virtual


def test_one_relation_per_tag() -> None:
    tags = [preference(n) for n in TAGS]
    parts = preference_parts(tags, BuildContext(TAGS, AS_OF, SCHEMA))
    relations = [p for p in parts if isinstance(p, TagRelation)]
    assert [(r.key, r.shared, r.label) for r in relations] == [
        ("events_top", False, "preference:events_top"),
        ("items_top", False, "preference:items_top"),
        ("daypart_top", False, "preference:daypart_top"),
    ]
    items = preference_query(preference("items_top"), AS_OF, "list<string>", "UTC", {"items"})
    assert relations[1].query.sql() == items.sql()
    assert "UNNEST" in items.sql("duckdb")
