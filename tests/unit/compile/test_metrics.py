"""metric: one shared scan per table in the order of its first tag; distinct counts alone."""

from __future__ import annotations

import datetime as dt

from portrait.compile import validate_tags
from portrait.compile.metrics import aggregate_query, distinct_count_query, metric_parts
from portrait.compile.parts import BuildContext, TagRelation
from portrait.model.tags import MetricTag, TagSet
from tests.unit.tag_files import parse

AS_OF = dt.date(2026, 10, 31)
SCHEMA = {
    "users": {"user_id": "string"},
    "events": {"user_id": "string", "ts": "timestamp", "event": "string"},
    "orders": {"user_id": "string", "ts": "timestamp", "amount": "float"},
}


def metrics() -> list[MetricTag]:
    tags = validate_tags(
        parse(
            "tags:\n"
            "  - {name: spend, kind: metric, from: orders, agg: sum, of: amount}\n"
            "  - {name: days, kind: metric, from: events, agg: distinct_days, window: 30d}\n"
            "  - {name: views, kind: metric, from: events, agg: count, where: {event: view}}\n"
            "  - {name: orders_7d, kind: metric, from: orders, agg: count, window: 7d}\n"
        ),
        SCHEMA,
    )
    return [t for t in tags.values() if isinstance(t, MetricTag)]


def test_shared_scans_then_distinct_counts() -> None:
    tags = metrics()
    context = BuildContext(TagSet(list(tags)), AS_OF, SCHEMA, "Asia/Shanghai")
    parts = metric_parts(tags, context)
    assert all(isinstance(p, TagRelation) for p in parts)
    relations = [p for p in parts if isinstance(p, TagRelation)]
    assert [(r.key, r.shared, [t.name for t in r.tags]) for r in relations] == [
        ("orders", True, ["spend", "orders_7d"]),
        ("events", True, ["views"]),
        ("days", False, ["days"]),
    ]
    orders = [t for t in tags if t.from_ == "orders"]
    expected = aggregate_query("orders", orders, AS_OF, "Asia/Shanghai", set(SCHEMA["orders"]))
    assert relations[0].query.sql() == expected.sql()
    own = distinct_count_query(tags[1], AS_OF, "Asia/Shanghai", set(SCHEMA["events"]))
    assert relations[2].query.sql() == own.sql()
    assert [r.label for r in relations] == ["metric:orders", "metric:events", "metric:days"]
