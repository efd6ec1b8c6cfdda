"""Baskets for association rules, read from the built warehouse.

- ``orders``: each order is a basket of the values of an orders column (default ``items``,
  a list of items; a plain column makes one-item baskets).
- ``events:<event>``: each user's events of that name are a basket of the distinct values of
  an event property, e.g. ``events:view`` with ``--item item_category``: the categories a
  user viewed ("who viewed lipstick also viewed lip balm").

Both are engine queries over the warehouse's Parquet files.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sqlglot import exp

from portrait.engine import Engine, default_settings, open_engine
from portrait.errors import InputError, suggest
from portrait.store.warehouse import WarehouseSnapshot


def parse_basket(basket: str) -> tuple[str, str | None]:
    """``orders`` → ("orders", None); ``events:view`` → ("events", "view")."""
    source, _, event = basket.partition(":")
    if source == "orders" and not event:
        return "orders", None
    if source == "events" and event.strip():
        return "events", event.strip()
    raise InputError(
        f"unknown basket source '{basket}'",
        where="--basket",
        hint="orders, or events:<event name> such as events:view",
    )


def order_baskets(engine: Engine, paths: Sequence[Path], item: str) -> list[list[str]]:
    engine.register_parquet("basket_orders", list(paths))
    query = exp.select(exp.column(item, quoted=True)).from_("basket_orders")
    column = engine.to_arrow(query).column(0).to_pylist()
    return [
        [str(v) for v in (value if isinstance(value, list) else [value]) if v is not None]
        for value in column
        if value is not None
    ]


def event_baskets(engine: Engine, paths: Sequence[Path], event: str, item: str) -> list[list[str]]:
    """Per user with events named ``event``: the distinct values of ``item``."""
    engine.register_parquet("basket_events", list(paths))
    user, value = exp.column("user_id", quoted=True), exp.column(item, quoted=True)
    query = (
        exp.select(user, exp.ArrayAgg(this=exp.Distinct(expressions=[value])).as_("items"))
        .from_("basket_events")
        .where(exp.column("event", quoted=True).eq(exp.Literal.string(event)))
        .where(exp.not_(value.copy().is_(exp.null())))
        .group_by(user.copy())
        .order_by(user.copy())
    )
    return [[str(v) for v in values] for values in engine.to_arrow(query).column(1).to_pylist()]


def read_baskets(
    warehouse: WarehouseSnapshot,
    basket: str,
    item: str | None,
    events: Sequence[str],
    engine: Engine | None = None,
) -> list[list[str]]:
    """The baskets ``basket`` names (``orders`` or ``events:<event>``) over ``item`` (default
    ``items`` for orders; events need the property named), read from ``warehouse`` by
    ``engine`` (default: a session of the default engine). Each problem names the option to
    change; ``events`` (the built event names) feed the hint for an event without baskets."""
    source, event = parse_basket(basket)
    table = warehouse.tables.get(source)
    if table is None or warehouse.path is None:
        raise InputError(f"no {source} have been loaded", hint=f"portrait ingest {source} FILE")
    if item is None:
        if source == "events":
            raise InputError(
                "name the event property that holds the items",
                where="--item",
                hint="e.g. --item item_category",
            )
        item = "items"
    if item not in table.columns:
        raise InputError(
            f"{source} have no column '{item}'",
            where="--item",
            hint=suggest(item, table.columns) or "columns: " + ", ".join(table.columns),
        )
    paths = warehouse.files(source)
    if engine is None:
        session = open_engine(default_settings())
        try:
            return _read(session, paths, event, item, events)
        finally:
            session.close()
    return _read(engine, paths, event, item, events)


def _read(
    engine: Engine, paths: list[Path], event: str | None, item: str, events: Sequence[str]
) -> list[list[str]]:
    if event is None:
        return order_baskets(engine, paths, item)
    baskets = event_baskets(engine, paths, event, item)
    if not baskets:
        raise InputError(
            f"no '{event}' events with a {item}",
            where="--basket",
            hint=suggest(event, events) or None,
        )
    return baskets
