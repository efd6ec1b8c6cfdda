"""The SQL kinds' computers: the tables a tag reads, whether it is windowed, and its parts from
portrait.compile."""

from __future__ import annotations

import datetime as dt

from portrait.compile import validate_tags
from portrait.compile.parts import BuildContext, TagRelation
from portrait.compile.tags import sql_parts
from portrait.profile.computers import computer_for
from tests.unit.tag_files import parse

SCHEMA = {
    "users": {"user_id": "string", "age": "int", "city": "string"},
    "events": {"user_id": "string", "ts": "timestamp", "event": "string"},
    "orders": {"user_id": "string", "ts": "timestamp", "amount": "float"},
}
TAGS = validate_tags(
    parse(
        "tags:\n"
        "  - {name: city, kind: attribute}\n"
        "  - {name: age_band, kind: bucket, source: age, bins: [30]}\n"
        "  - {name: views, kind: metric, from: events, agg: count}\n"
        "  - {name: top_events, kind: preference, from: events, property: event}\n"
        "  - {name: rfm_r, kind: rfm, score: r}\n"
        '  - {name: busy, kind: derived, type: bool, expr: "views > 3"}\n'
    ),
    SCHEMA,
)
CONTEXT = BuildContext(TAGS, dt.date(2026, 10, 31), SCHEMA)


def test_tables_and_windows() -> None:
    reads = {n: (computer_for(t).tables(t), computer_for(t).windowed(t)) for n, t in TAGS.items()}
    assert reads == {
        "city": (("users",), False),
        "age_band": (("users",), False),
        "views": (("users", "events"), True),
        "top_events": (("users", "events"), True),
        "rfm_r": (("users", "orders"), True),
        "busy": (("users",), False),
    }


def test_parts_are_the_compilers() -> None:
    for name, tag in TAGS.items():
        made = computer_for(tag).parts([tag], CONTEXT)
        expected = sql_parts(TAGS, [name], CONTEXT)
        assert [type(p) for p in made] == [type(p) for p in expected]
        for got, want in zip(made, expected, strict=True):
            if isinstance(got, TagRelation) and isinstance(want, TagRelation):
                assert (got.name, got.query.sql()) == (want.name, want.query.sql())
            else:
                assert got == want
