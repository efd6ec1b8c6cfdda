"""A small workspace ingested and built on the engine: the tag build gives the known values,
and rules computed as SQL on the engine select the users the bitmap index selects."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlglot

import portrait
from portrait.analysis.baskets import read_baskets
from portrait.engine import Engine
from portrait.workspace import Workspace
from tests.conftest import EVENTS_CSV, TAGS_YAML, USERS_CSV

ORDERS_CSV = """order_id,user_id,ts,amount,items
o1,u1,2026-10-01 10:00:00,100,牙膏|牙刷
o2,u2,2026-10-02 10:00:00,50,牙膏
o3,u1,2026-10-03 10:00:00,20,
"""

TAG_RULES = [
    'city in ("北京", "上海")',
    "age >= 30",
    "age is null",
    'age_band != "30-40"',  # three-valued: a missing age is neither
    'gender = "女" and busy = false',
    'cars contains any ("宝马", "大众")',
    'cars contains all ("宝马", "奥迪")',
    "views_30d > 0 or searches_7d >= 2",
    'last_seen >= "2026-10-31 02:00:00"',
    "days_since_active between 0 and 30",
]
BEHAVIOUR_RULES = [
    'events("view", last="30d") >= 1',
    'active_days(last="90d") >= 3',
    'events(line="new_house", last="7d") >= 2',
    'not events("view", car_brand="大众", last="90d") = 0',  # a property filter: raw events
    'sum(of="car_price", last="400d") > 40 and city = "北京"',
]


@pytest.fixture(scope="module")
def built(engine_type: str, tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """Four users, ten events, three orders and thirteen tags, ingested and built with the
    engine (``engine.type``)."""
    root = tmp_path_factory.mktemp(engine_type) / "ws"
    portrait.init(root)
    ws = portrait.open(root, overrides={"engine.type": engine_type})
    (root / "tags" / "basic.yaml").write_text(TAGS_YAML, encoding="utf-8")
    for table, text in (("users", USERS_CSV), ("events", EVENTS_CSV), ("orders", ORDERS_CSV)):
        (root / f"{table}.csv").write_text(text, encoding="utf-8")
        ws.ingest(table, root / f"{table}.csv")
    ws.build()
    return ws


def test_the_build_computes_the_known_values(built: Workspace) -> None:
    rows = {r["user_id"]: r for r in built.profile().to_pylist()}
    assert list(rows) == ["u1", "u2", "u3", "u4"]  # row = dense id
    u1, u2, u3, u4 = rows["u1"], rows["u2"], rows["u3"], rows["u4"]
    assert (u1["age"], u1["age_band"], u3["age_band"], u4["age_band"]) == (34, "30-40", None, "60+")
    assert (u1["searches_7d"], u2["searches_7d"], u3["searches_7d"]) == (2, 0, 0)
    assert u1["active_days_90d"] == 5 and u2["active_days_90d"] == 3
    assert u2["last_seen"] == dt.datetime(2026, 10, 31, 2, 0)  # +08:00 converted to UTC
    assert u4["days_since_active"] == (dt.date(2026, 10, 31) - dt.date(2025, 1, 1)).days
    assert (u1["cars"], u2["cars"], u3["cars"]) == (["宝马", "奥迪"], ["大众", "丰田"], None)
    assert (u1["busy"], u2["busy"], u3["busy"]) == (True, False, False)


def test_some_rules_select_the_known_users(built: Workspace) -> None:
    """The comparisons below are not vacuous: the rules select some users, not all."""
    assert list(built.select_sql('city in ("北京", "上海")').bitmap) == [0, 1, 2]
    assert list(built.select_sql('age_band != "30-40"').bitmap) == [1, 3]
    assert list(built.select_sql('events("view", car_brand="大众", last="90d") >= 1').bitmap) == [1]


@pytest.mark.parametrize("rule", TAG_RULES + BEHAVIOUR_RULES)
def test_rules_as_sql_select_what_the_bitmaps_select(built: Workspace, rule: str) -> None:
    expected = list(built.select(rule).bitmap)
    assert list(built.select_sql(rule).bitmap) == expected
    assert list(built.select_sql(rule, behaviour_source="events").bitmap) == expected


@pytest.mark.parametrize("rule", TAG_RULES)
def test_the_printed_rule_sql_runs_on_the_engine(
    built: Workspace, engine: Engine, rule: str
) -> None:
    """``ws.rule_sql`` in the engine's dialect, run by the engine over the built profile."""
    engine.register_parquet("profile", [built.built.profile_file])
    query = sqlglot.parse_one(built.rule_sql(rule, dialect=engine.dialect), read=engine.dialect)
    result = engine.to_arrow(query)
    assert sorted(result.column(0).to_pylist()) == list(built.select(rule).bitmap)


def test_baskets_are_read_through_the_engine(built: Workspace, engine: Engine) -> None:
    warehouse = built.built_warehouse()
    orders = read_baskets(warehouse, "orders", None, [], engine=engine)
    assert sorted(map(sorted, orders)) == sorted(map(sorted, [["牙膏", "牙刷"], ["牙膏"]]))
    views = read_baskets(warehouse, "events:view", "car_brand", ["view"], engine=engine)
    assert sorted(map(sorted, views)) == sorted(map(sorted, [["宝马", "奥迪"], ["大众", "丰田"]]))


def test_the_engine_reads_what_ingest_wrote(built: Workspace, engine: Engine) -> None:
    engine.register_parquet("orders", built.warehouse.files("orders"))
    assert engine.columns("orders") == {
        "order_id": "string",
        "user_id": "string",
        "ts": "timestamp",
        "amount": "float",
        "items": "list<string>",
    }
    query = sqlglot.parse_one("SELECT order_id, items FROM orders ORDER BY order_id")
    assert engine.to_arrow(query).to_pylist() == [
        {"order_id": "o1", "items": ["牙膏", "牙刷"]},
        {"order_id": "o2", "items": ["牙膏"]},
        {"order_id": "o3", "items": None},
    ]
