"""Rules and a tag catalog that the rule tests share."""

from __future__ import annotations

ISSUE_EXAMPLE = (
    'city in ("北京", "上海") and age >= 25 and not segment("churned") and '
    'events("search", last="7d") > 3 and active_days(last="30d") between 8 and 10'
)

TYPES = {
    "city": "string",
    "age": "int",
    "vip": "bool",
    "brands": "list<string>",
    "last_seen": "timestamp",
}
