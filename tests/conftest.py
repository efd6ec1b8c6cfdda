"""Shared fixtures: small real workspaces (real DuckDB, real files) and PostgreSQL databases."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

import portrait
from portrait.workspace import Workspace, create_demo
from tests import postgres

USERS_CSV = """user_id,gender,age,city,registered_at
u1,男,34,北京,2024-01-05 10:00:00
u2,女,28,上海,2025-03-01 08:00:00
u3,女,,北京,2026-01-01 00:00:00
u4,男,61,广州,2023-07-07 07:07:07
"""

EVENTS_CSV = """user_id,ts,event,business_line,car_brand,car_price
u1,2026-10-30 20:00:00,search,new_house,,
u1,2026-10-31 21:00:00,view,used_car,宝马,45.5
u1,2026-10-01 21:00:00,view,used_car,奥迪,38
u1,2026-10-25 00:00:00,search,new_house,,
u1,2026-10-24 23:59:59,search,new_house,,
u2,2026-10-31T10:00:00+08:00,view,used_car,大众,12
u2,2026-09-01 10:00:00,view,used_car,大众,11
u2,2026-09-02 10:00:00,view,used_car,丰田,9
u4,2025-01-01 10:00:00,view,rent,,
u9,2026-10-31 10:00:00,view,rent,,
"""

TAGS_YAML = """
category: basic
tags:
  - {name: gender, kind: attribute, title: 性别}
  - {name: age, kind: attribute, type: int}
  - {name: city, kind: attribute}
  - {name: age_band, kind: bucket, source: age, bins: [20, 30, 40, 60]}
  - {name: searches_7d, kind: metric, from: events, where: {event: search}, agg: count, window: 7d}
  - {name: views_30d, kind: metric, from: events, where: {event: view}, agg: count, window: 30d}
  - {name: active_days_90d, kind: metric, from: events, agg: distinct_days, window: 90d}
  - {name: last_seen, kind: metric, from: events, agg: last_time}
  - {name: days_since_active, kind: metric, from: events, agg: days_since_last}
  - {name: car_price_max, kind: metric, from: events, agg: max, of: car_price, window: 365d}
  - {name: cars, kind: preference, from: events, property: car_brand, top: 2, window: 90d}
  - {name: busy, kind: derived, expr: "views_30d + searches_7d >= 2", type: bool}
  - {name: price_band, kind: bucket, source: car_price_max, bins: [20, 40]}
"""


def make_small(root: Path) -> Workspace:
    ws = portrait.init(root)
    (root / "tags" / "basic.yaml").write_text(TAGS_YAML, encoding="utf-8")
    (root / "users.csv").write_text(USERS_CSV, encoding="utf-8")
    (root / "events.csv").write_text(EVENTS_CSV, encoding="utf-8")
    ws.ingest("users", root / "users.csv")
    ws.ingest("events", root / "events.csv")
    return ws


@pytest.fixture
def small_ws(tmp_path: Path) -> Workspace:
    """Four users, ten events, thirteen tags of every kind (not built yet)."""
    return make_small(tmp_path / "ws")


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A built 3,000-user demo workspace, made once per session; copy it before changing it."""
    root = tmp_path_factory.mktemp("demo") / "ws"
    create_demo(root, users=3000, seed=11)
    return root


@pytest.fixture
def demo_ws(demo_template: Path, tmp_path: Path) -> Workspace:
    root = tmp_path / "demo"
    shutil.copytree(demo_template, root, symlinks=True)
    return portrait.open(root)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A PostgreSQL server for this test process (see tests/postgres.py)."""
    yield from postgres.server_url()


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """The URL of an empty PostgreSQL database of this test's own, dropped afterwards."""
    yield from postgres.fresh_database(postgres_server)
