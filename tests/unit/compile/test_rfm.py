"""rfm: a relation per tag, picking its column of the shared scores query."""

from __future__ import annotations

import datetime as dt

from portrait.compile import validate_tags
from portrait.compile.parts import BuildContext, TagRelation
from portrait.compile.rfm import rfm_parts, rfm_query
from portrait.model.tags import RfmTag
from tests.unit.tag_files import parse

AS_OF = dt.date(2026, 10, 31)
SCHEMA = {
    "users": {"user_id": "string"},
    "orders": {"user_id": "string", "ts": "timestamp", "amount": "float"},
}
TAGS = validate_tags(
    parse(
        "tags:\n"
        "  - {name: rfm_r, kind: rfm, score: r}\n"
        "  - {name: rfm_segment, kind: rfm, score: segment}\n"
    ),
    SCHEMA,
)


def test_one_relation_per_tag() -> None:
    tags = [t for t in TAGS.values() if isinstance(t, RfmTag)]
    parts = rfm_parts(tags, BuildContext(TAGS, AS_OF, SCHEMA))
    relations = [p for p in parts if isinstance(p, TagRelation)]
    assert [(r.key, r.label) for r in relations] == [
        ("rfm_r", "rfm:rfm_r"),
        ("rfm_segment", "rfm:rfm_segment"),
    ]
    assert relations[1].query.sql() == rfm_query(tags[1], AS_OF).sql()
    assert relations[0].query.sql("duckdb").startswith('SELECT user_id, r AS "rfm_r"')
    assert relations[1].query.sql("duckdb").startswith('SELECT user_id, segment AS "rfm_segment"')
