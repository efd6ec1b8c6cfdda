"""The single-user 360 view (个人画像): tag values by category, segments, recent events and an
orders summary, read from the built profile and the warehouse."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlglot import exp

from portrait.engine import Engine
from portrait.model.manifests import BuiltTag


def recent_events(
    engine: Engine, events_files: list[Path], user_id: str, limit: int
) -> list[dict[str, Any]]:
    """The user's latest ``limit`` events, newest first, with their non-empty properties."""
    if not events_files or limit <= 0:
        return []
    engine.register_parquet("events", events_files)
    query = (
        exp.select("*")
        .from_("events")
        .where(exp.EQ(this=exp.column("user_id"), expression=exp.convert(user_id)))
        .order_by(exp.Ordered(this=exp.column("ts"), desc=True))
        .limit(limit)
    )
    rows = engine.to_arrow(query).to_pylist()
    return [{k: v for k, v in row.items() if v is not None and k != "user_id"} for row in rows]


def orders_summary(engine: Engine, orders_files: list[Path], user_id: str) -> dict[str, Any]:
    """Number of orders, total and average amount, first and last order time."""
    if not orders_files:
        return {}
    engine.register_parquet("orders", orders_files)
    amount = exp.column("amount")
    query = (
        exp.select(
            exp.alias_(exp.Count(this=exp.Star()), "orders"),
            exp.alias_(exp.func("coalesce", exp.Sum(this=amount), exp.convert(0)), "amount"),
            exp.alias_(exp.Avg(this=amount.copy()), "average"),
            exp.alias_(exp.Min(this=exp.column("ts")), "first"),
            exp.alias_(exp.Max(this=exp.column("ts")), "last"),
        )
        .from_("orders")
        .where(exp.EQ(this=exp.column("user_id"), expression=exp.convert(user_id)))
    )
    return dict(engine.to_arrow(query).to_pylist()[0])


def by_category(
    row: Mapping[str, Any], built: Mapping[str, BuiltTag], titles: Mapping[str, str]
) -> dict[str, list[dict[str, Any]]]:
    """A profile row's tag values grouped by the tags' categories (``other`` for none), each
    with the tag's title, in profile column order."""
    categories: dict[str, list[dict[str, Any]]] = {}
    for name, tag in built.items():
        categories.setdefault(tag.category or "other", []).append(
            {"tag": name, "title": titles.get(name, ""), "value": row[name]}
        )
    return categories
