"""Golden SQL per tag kind. Regenerate after an intended change with
``PORTRAIT_UPDATE_GOLDEN=1 pytest tests/unit/compile/test_tags.py`` and review the diff."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from portrait.compile import plan_queries, tag_sql, validate_tags
from portrait.model.tags import TagSet, parse_tag_file

GOLDEN = Path(__file__).parent.parent.parent / "golden" / "compile"
AS_OF = dt.date(2026, 10, 31)
SCHEMA = {
    "users": {"user_id": "string", "age": "int", "city": "string", "phone": "string"},
    "events": {
        "user_id": "string",
        "ts": "timestamp",
        "event": "string",
        "business_line": "string",
        "car_brand": "string",
        "car_price": "float",
    },
    "orders": {
        "order_id": "string",
        "user_id": "string",
        "ts": "timestamp",
        "amount": "float",
        "items": "list<string>",
    },
}
TAGS = """
tags:
  - {name: city, kind: attribute}
  - {name: age_band, kind: bucket, source: age, bins: [20, 30, 40]}
  - {name: searches_7d, kind: metric, from: events, where: {event: search}, agg: count, window: 7d}
  - name: luxury_views_30d
    kind: metric
    from: events
    where: {business_line: used_car, car_price: {">=": 30}, car_brand: {not_in: [大众, "O'Neil"]}}
    agg: count
    window: 30d
  - {name: active_days_90d, kind: metric, from: events, agg: distinct_days, window: 90d}
  - {name: brands_30d, kind: metric, from: events, agg: count_distinct, of: car_brand, window: 30d}
  - {name: days_since_active, kind: metric, from: events, agg: days_since_last}
  - {name: spend_365d, kind: metric, from: orders, agg: sum, of: amount, window: 365d}
  - {name: cars, kind: preference, from: events, property: car_brand, top: 3, window: 180d}
  - {name: items, kind: preference, from: orders, property: items, top: 2, by: recency}
  - {name: daypart, kind: preference, from: events, property: daypart, top: 1, window: 90d}
  - {name: busy, kind: derived, type: bool, expr: "searches_7d + active_days_90d > 3"}
  - {name: spend_band, kind: bucket, source: spend_365d, bins: [1, 1000]}
"""


def tags() -> TagSet:
    return validate_tags(TagSet(parse_tag_file(TAGS, "golden.yaml", "golden")), SCHEMA)


def queries() -> dict[str, str]:
    ts = tags()
    plan = plan_queries(ts, set(ts), AS_OF, SCHEMA, timezone="Asia/Shanghai")
    out = {"users": plan.users.sql("duckdb", pretty=True)}
    out |= {f"aggregate_{t}": q.sql("duckdb", pretty=True) for t, q in plan.aggregates.items()}
    out |= {f"per_tag_{t}": q.sql("duckdb", pretty=True) for t, q in plan.per_tag.items()}
    assert plan.assemble is not None
    out["assemble"] = plan.assemble.sql("duckdb", pretty=True)
    for name in ("busy", "spend_band", "searches_7d"):
        out[f"standalone_{name}"] = tag_sql(ts, name, AS_OF, SCHEMA, timezone="Asia/Shanghai")
    out["standalone_searches_7d_spark"] = tag_sql(ts, "searches_7d", AS_OF, SCHEMA, "spark")
    return out


@pytest.mark.parametrize("name", sorted(queries()))
def test_golden_sql(name: str) -> None:
    sql = queries()[name] + "\n"
    path = GOLDEN / f"{name}.sql"
    if os.environ.get("PORTRAIT_UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(sql, encoding="utf-8")
    assert path.exists(), f"no golden file {path}; run with PORTRAIT_UPDATE_GOLDEN=1"
    assert sql == path.read_text(encoding="utf-8")


def test_values_are_literals_not_text() -> None:
    sql = queries()["aggregate_events"]
    assert "'O''Neil'" in sql  # quoted and escaped by SQLGlot


def test_reused_tags_come_from_previous_profile() -> None:
    ts = tags()
    plan = plan_queries(ts, {"searches_7d", "busy"}, AS_OF, SCHEMA, reuse_relation="prev_profile")
    assert "active_days_90d" not in plan.per_tag
    assert list(plan.aggregates) == ["events"]
    assert plan.kinds["agg_events"] == ["searches_7d"]
    assert plan.per_tag == {}
    assert plan.assemble is not None
    assemble = plan.assemble.sql("duckdb")
    assert "prev_profile" in assemble
    assert '"prev"."city"' in assemble
