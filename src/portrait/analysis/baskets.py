"""Baskets for association rules, read from the built warehouse.

- ``orders``: each order is a basket of the values of an orders column (default ``items``,
  a list of items; a plain column makes one-item baskets).
- ``events:<event>``: each user's events of that name are a basket of the distinct values of
  an event property, e.g. ``events:view`` with ``--item item_category``: the categories a
  user viewed ("who viewed lipstick also viewed lip balm").
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pyarrow.dataset as ds
import pyarrow.parquet as pq

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


def order_baskets(paths: Sequence[Path], item: str) -> list[list[str]]:
    baskets: list[list[str]] = []
    for path in paths:
        column = pq.read_table(path, columns=[item]).column(0).to_pylist()
        baskets.extend(
            [str(v) for v in (value if isinstance(value, list) else [value]) if v is not None]
            for value in column
            if value is not None
        )
    return baskets


def event_baskets(paths: Sequence[Path], event: str, item: str) -> list[list[str]]:
    """Per user with events named ``event``: the distinct values of ``item``."""
    data = ds.dataset([str(p) for p in paths], format="parquet")
    table = data.to_table(
        columns=["user_id", item],
        filter=(ds.field("event") == event) & ds.field(item).is_valid(),
    )
    if table.num_rows == 0:
        return []
    grouped = table.group_by("user_id").aggregate([(item, "distinct")])
    return [[str(v) for v in values] for values in grouped.column(f"{item}_distinct").to_pylist()]


def read_baskets(
    warehouse: WarehouseSnapshot, basket: str, item: str | None, events: Sequence[str]
) -> list[list[str]]:
    """The baskets ``basket`` names (``orders`` or ``events:<event>``) over ``item`` (default
    ``items`` for orders; events need the property named), read from ``warehouse``. Each
    problem names the option to change; ``events`` (the built event names) feed the hint
    for an event without baskets."""
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
    if event is None:
        return order_baskets(paths, item)
    baskets = event_baskets(paths, event, item)
    if not baskets:
        raise InputError(
            f"no '{event}' events with a {item}",
            where="--basket",
            hint=suggest(event, events) or None,
        )
    return baskets
