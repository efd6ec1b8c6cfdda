"""Behaviour conditions and references: the bitmap path (event rollup, segments, ID lists) agrees
with SQL over the raw events and with SQL over the rollup table, on random rules."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import portrait
import portrait.compile.rollup as compile_rollup
import portrait.index.rollup as index_rollup
from portrait.compile.rollup import rollup_view
from portrait.compile.rules import RuleSQL, rule_query
from portrait.errors import InputError
from portrait.model.rules import (
    And,
    BehaviourCondition,
    IdListRef,
    Not,
    Or,
    Rule,
    SegmentRef,
    TagCondition,
    Window,
)
from portrait.rules import parse_rule, print_rule
from portrait.workspace import Workspace

LINES_NONE = [None, "beauty_shop", "new_house", "used_car", "no_such_line"]


@pytest.fixture(scope="module")
def setup(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("behaviour") / "ws"
    shutil.copytree(demo_template, root, symlinks=True)
    ws = portrait.open(root)
    # Blocks of 256 users instead of 2^20, so the 3,000 demo users span 12 blocks and the
    # block-by-block counting is exercised.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(compile_rollup, "ROLLUP_BLOCK_BITS", 8)
        patch.setattr(index_rollup, "BLOCK_BITS", 8)
        patch.setattr(index_rollup, "BLOCK", 256)
        ws.build(full=True)
    assert ws.selector().profile.rollup is not None
    assert ws.selector().profile.rollup.offsets.shape[1] == 12
    ws.segments.create("women", 'gender = "女"')
    ws.segments.create("buyers", "orders_365d >= 1", mode="static")
    ids_file = root / "vip.txt"
    users = ws.profile([]).column("user_id").to_pylist()
    ids_file.write_text("\n".join(users[::7]) + "\nnobody\n", encoding="utf-8")
    ws.segments.upload_ids("vip", ids_file)
    snap = ws.built
    rollup = ws.selector().profile.rollup
    assert rollup is not None and snap.rollup_file is not None
    warehouse = ws.warehouse
    con = duckdb.connect()
    con.execute(f"CREATE TABLE profile AS SELECT * FROM read_parquet('{snap.profile_file}')")
    events = warehouse.tables["events"].paths(warehouse.path)  # type: ignore[arg-type]
    files = ", ".join(f"'{p}'" for p in events)
    con.execute(f"CREATE TABLE events AS SELECT * FROM read_parquet([{files}])")
    con.execute(f"CREATE TABLE rollup_rows AS SELECT * FROM read_parquet('{snap.rollup_file}')")
    groups = snap.rollup_file.with_name("rollup_groups.parquet")
    con.execute(f"CREATE TABLE rollup_groups AS SELECT * FROM read_parquet('{groups}')")
    con.execute(
        "CREATE VIEW rollup AS "
        + rollup_view("rollup_rows", "rollup_groups", ["car_price"]).sql("duckdb")
    )
    selector = ws.selector()
    members = {
        "segment": {n: selector.segment_members(n) for n in ("women", "buyers")},
        "list": {"vip": selector.id_list_members("vip")},
    }
    for table, key in (("segment_members", "segment"), ("id_list_members", "list")):
        names, uids = [], []
        for name, bitmap in members[key].items():
            names += [name] * len(bitmap)
            uids += list(bitmap)
        con.register(table, pa.table({key: names, "uid": np.asarray(uids, dtype=np.int64)}))
    types = {n: str(m["type"]) for n, m in snap.tags.items()}
    as_of = dt.date.fromisoformat(snap.manifest["as_of"])
    return {
        "ws": ws,
        "con": con,
        "types": types,
        "as_of": as_of,
        "events": rollup.events,
        "first_day": rollup.first_day,
    }


def sql_uids(setup: dict[str, Any], rule: Rule, source: str) -> list[int]:
    ctx = RuleSQL(setup["types"], setup["as_of"], behaviour_source=source)  # type: ignore[arg-type]
    return [r[0] for r in setup["con"].execute(rule_query(rule, ctx).sql("duckdb")).fetchall()]


@st.composite
def behaviour(draw: st.DrawFn, events: list[str], as_of: dt.date) -> BehaviourCondition:
    measure = draw(st.sampled_from(["count", "sum", "active_days"]))
    event = draw(st.sampled_from([None, *events]))
    line = draw(st.sampled_from(LINES_NONE[:4]))
    if draw(st.booleans()):
        window = Window(last=draw(st.sampled_from([1, 7, 30, 90, 400])))
    else:
        start = as_of - dt.timedelta(days=draw(st.integers(0, 420)))
        end = start + dt.timedelta(days=draw(st.integers(0, 60)))
        window = Window(start=start, end=end)
    op = draw(st.sampled_from(["=", "!=", "<", "<=", ">", ">=", "between"]))
    top = {"count": 12, "sum": 300, "active_days": 8}[measure]
    numbers = st.integers(0, top).map(float)
    value: float | list[float] = (
        sorted(draw(st.lists(numbers, min_size=2, max_size=2)))
        if op == "between"
        else draw(numbers)
    )
    return BehaviourCondition(
        measure=measure,
        event=event,
        business_line=line,
        of="car_price" if measure == "sum" else None,
        window=window,
        op=op,
        value=value,
    )


@st.composite
def leaves(draw: st.DrawFn, events: list[str], as_of: dt.date) -> Rule:
    kind = draw(st.sampled_from(["behaviour", "behaviour", "tag", "segment", "ids"]))
    if kind == "behaviour":
        return draw(behaviour(events, as_of))
    if kind == "segment":
        return SegmentRef(name=draw(st.sampled_from(["women", "buyers"])))
    if kind == "ids":
        return IdListRef(name="vip")
    tag = draw(st.sampled_from(["city", "second_hand_intent", "age"]))
    if tag == "age":
        return TagCondition(tag="age", op=">=", value=draw(st.integers(18, 60)))
    value = draw(st.sampled_from(["北京", "上海", "高", "低"]))
    return TagCondition(tag=tag, op="=", value=value)


def rules(events: list[str], as_of: dt.date) -> st.SearchStrategy[Rule]:
    return st.recursive(
        leaves(events, as_of),
        lambda children: st.one_of(
            st.builds(And, items=st.lists(children, min_size=2, max_size=3)),
            st.builds(Or, items=st.lists(children, min_size=2, max_size=3)),
            st.builds(Not, item=children),
        ),
        max_leaves=5,
    )


def test_bitmaps_agree_with_sql_over_raw_events_and_rollup(setup: dict[str, Any]) -> None:
    ws: Workspace = setup["ws"]
    selector = ws.selector()

    @settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(rules(setup["events"], setup["as_of"]))
    def check(rule: Rule) -> None:
        bitmap = list(selector.evaluate(rule))
        assert bitmap == sql_uids(setup, rule, "events"), print_rule(rule)
        assert bitmap == sql_uids(setup, rule, "rollup"), print_rule(rule)

    check()


@pytest.mark.parametrize(
    "text",
    [
        'events("view", last="30d") > 3',
        'events("view", last="30d") = 0',
        'active_days(last="30d") between 8 and 10',
        'active_days("view", last="30d") >= 2',
        'active_days(line="beauty_shop", last="90d") >= 2',
        'events(line="new_house", last="7d") >= 1',
        'sum(of="car_price", last="400d") > 100',
        'events("view", start="2026-10-01", end="2026-10-07") >= 1',
        'events("view", last="3000d") > 40',
        'events("view", item_category="lipstick", last="90d") >= 1',
        'not events("view", car_brand="宝马", last="400d") = 0 and city = "北京"',
    ],
)
def test_examples_through_the_facade(setup: dict[str, Any], text: str) -> None:
    ws: Workspace = setup["ws"]
    rule = parse_rule(text)
    expected = sql_uids(setup, rule, "events")
    assert list(ws.select(text).bitmap) == expected
    assert list(ws.select_sql(text, behaviour_source="events").bitmap) == expected
    assert list(ws.select_sql(text).bitmap) == expected


def test_zero_count_selects_users_without_events(setup: dict[str, Any]) -> None:
    ws: Workspace = setup["ws"]
    active = ws.select('events(last="30d") >= 1')
    idle = ws.select('events(last="30d") = 0')
    assert len(active) + len(idle) == active.population
    assert len(active & idle) == 0


def test_windows_outside_the_data_select_nobody_or_everybody(setup: dict[str, Any]) -> None:
    ws: Workspace = setup["ws"]
    future = 'events("view", start="2030-01-01", end="2030-12-31") >= 1'
    assert len(ws.select(future)) == 0
    assert len(ws.select(future.replace(">= 1", "= 0"))) == ws.select(future).population


def test_bad_behaviour_conditions_are_named(setup: dict[str, Any]) -> None:
    ws: Workspace = setup["ws"]
    with pytest.raises(InputError, match="did you mean 'view'"):
        ws.count('events("veiw", last="7d") > 1')
    with pytest.raises(InputError, match="no business line named 'beauty'"):
        ws.count('events("view", line="beauty", last="7d") > 1')
    with pytest.raises(InputError, match="no property 'colour'"):
        ws.count('events("view", colour="red", last="7d") > 1')
    with pytest.raises(InputError, match="numeric"):
        ws.count('sum(of="car_brand", last="7d") > 1')


def test_results_are_cached_per_data_version(setup: dict[str, Any]) -> None:
    ws: Workspace = setup["ws"]
    rule = 'events("view", last="30d") > 3 and segment("women")'
    first = ws.select(rule)
    second = ws.select(rule)
    assert first.bitmap is second.bitmap  # the cache answered
    ws.segments.create("women", 'gender = "男"', replace=True)
    third = ws.select(rule)
    assert third.bitmap is not first.bitmap
    assert len(third & first) == 0  # the changed segment is seen at once
    ws.segments.create("women", 'gender = "女"', replace=True)


def test_rollup_is_taken_over_when_events_do_not_change(demo_ws: Workspace) -> None:
    before = demo_ws.built
    assert before.rollup_dir is not None
    report = demo_ws.build(tags=["age"])
    after = demo_ws.built
    assert report.profile_version != before.version
    assert after.rollup_dir is not None and after.rollup_dir != before.rollup_dir
    assert after.manifest["rollup"]["seconds"] == 0.0
    for item in before.rollup_dir.iterdir():
        assert (after.rollup_dir / item.name).read_bytes() == item.read_bytes()
    assert after.manifest["rollup"]["rows"] == before.manifest["rollup"]["rows"]


def test_property_filters_read_the_events_the_profile_was_built_from(
    demo_ws: Workspace, tmp_path: Path
) -> None:
    """Events loaded after the build are not seen until the next build, with or without a
    property filter (both kinds of behaviour condition see the same data)."""
    rule = 'events("view", item_category="lipstick", last="30d") >= 1'
    plain = 'events("view", last="30d") >= 1'
    before, before_plain = len(demo_ws.select(rule)), len(demo_ws.select(plain))
    idle = [u for u, n in zip(*_users_and_views(demo_ws), strict=True) if n == 0][:5]
    assert idle
    lines = ["user_id,ts,event,business_line,item_category"]
    lines += [f"{u},2026-10-30T10:00:00Z,view,beauty_shop,lipstick" for u in idle]
    (tmp_path / "more.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    demo_ws.ingest("events", tmp_path / "more.csv")
    assert len(demo_ws.select(rule, cache=False)) == before
    assert len(demo_ws.select(plain, cache=False)) == before_plain
    demo_ws.build()
    assert len(demo_ws.select(rule)) == before + len(idle)
    assert len(demo_ws.select(plain)) == before_plain + len(idle)


def _users_and_views(ws: Workspace) -> tuple[list[str], list[float]]:
    profile = ws.selector().profile
    assert profile.rollup is not None and profile.as_of is not None
    views = profile.rollup.measure(
        "count",
        profile.as_of - dt.timedelta(days=29),
        profile.as_of,
        profile.population,
        event="view",
    )
    users = ws.profile([]).column("user_id").to_pylist()
    return [str(u) for u in users], views.tolist()
