"""Tag build: values, incremental rebuilds, atomic swaps, the bitmap index against SQL."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

import portrait
from portrait.errors import DependencyCycleError, TagDefinitionError, WorkspaceError
from portrait.index import RangeIndex, ValueIndex
from portrait.workspace import Workspace


def rows_by_user(ws: Workspace) -> dict[str, dict[str, object]]:
    return {r["user_id"]: r for r in ws.profile().to_pylist()}


def test_values_of_every_kind(small_ws: Workspace) -> None:
    report = small_ws.build()
    assert report.as_of == "2026-10-31"  # the last event date (u2's event is 02:00 UTC that day)
    assert report.users == 4
    p = rows_by_user(small_ws)
    u1, u2, u3, u4 = p["u1"], p["u2"], p["u3"], p["u4"]
    assert list(p) == ["u1", "u2", "u3", "u4"]  # row = dense id
    assert (u1["gender"], u1["age"], u1["city"], u1["age_band"]) == ("男", 34, "北京", "30-40")
    assert u3["age"] is None and u3["age_band"] is None
    assert u4["age_band"] == "60+"
    # 7-day window = 2026-10-25 00:00 .. 2026-10-31 24:00: the 10-24 23:59:59 search is outside
    assert (u1["searches_7d"], u2["searches_7d"], u3["searches_7d"]) == (2, 0, 0)
    assert (u1["views_30d"], u2["views_30d"], u4["views_30d"]) == (1, 1, 0)  # 10-01 is day 31
    assert u1["active_days_90d"] == 5 and u2["active_days_90d"] == 3
    assert u1["last_seen"] == dt.datetime(2026, 10, 31, 21, 0)
    assert u2["last_seen"] == dt.datetime(2026, 10, 31, 2, 0)  # +08:00 converted to UTC
    assert u4["days_since_active"] == (dt.date(2026, 10, 31) - dt.date(2025, 1, 1)).days
    assert u3["days_since_active"] is None and u3["last_seen"] is None
    assert u1["car_price_max"] == 45.5 and u3["car_price_max"] is None
    # preference: by count, ties by most recent
    assert u1["cars"] == ["宝马", "奥迪"]
    assert u2["cars"] == ["大众", "丰田"]
    assert u3["cars"] is None
    assert (u1["busy"], u2["busy"], u3["busy"]) == (True, False, False)
    assert (u1["price_band"], u2["price_band"], u3["price_band"]) == ("40+", "<20", None)


def test_as_of_setting_moves_windows(small_ws: Workspace) -> None:
    ws = portrait.open(small_ws.root, overrides={"data.as_of": "2026-10-30"})
    ws.build()
    p = rows_by_user(ws)
    assert p["u1"]["searches_7d"] == 3  # 10-24 .. 10-30 now holds all three searches
    assert p["u1"]["last_seen"] == dt.datetime(2026, 10, 30, 20, 0)  # later events excluded


def test_incremental_rebuild_recomputes_only_what_changed(small_ws: Workspace) -> None:
    first = small_ws.build()
    assert len(first.computed) == 13 and first.reused == []
    again = small_ws.build()
    assert again.up_to_date and again.profile_version == first.profile_version

    tags_file = small_ws.root / "tags" / "basic.yaml"
    text = tags_file.read_text(encoding="utf-8")
    tags_file.write_text(text.replace("window: 30d", "window: 60d"), encoding="utf-8")
    second = small_ws.build()
    assert sorted(second.computed) == ["busy", "views_30d"]  # the tag and its dependent
    assert rows_by_user(small_ws)["u2"]["views_30d"] == 2  # 60d starts 09-02

    events = small_ws.root / "more.csv"
    events.write_text("user_id,ts,event\nu3,2026-10-31 12:00:00,search\n", encoding="utf-8")
    small_ws.ingest("events", events)
    third = small_ws.build()
    assert "gender" in third.reused and "age_band" in third.reused
    assert "searches_7d" in third.computed and "cars" in third.computed
    assert rows_by_user(small_ws)["u3"]["searches_7d"] == 1

    full = small_ws.build(full=True)
    assert len(full.computed) == 13


def test_manual_refresh_tags_go_stale_until_forced(small_ws: Workspace) -> None:
    tags_file = small_ws.root / "tags" / "basic.yaml"
    text = tags_file.read_text(encoding="utf-8").replace(
        "agg: count, window: 7d}", "agg: count, window: 7d, refresh: manual}"
    )
    tags_file.write_text(text, encoding="utf-8")
    small_ws.build()
    tags_file.write_text(text.replace("window: 7d", "window: 14d"), encoding="utf-8")
    report = small_ws.build()
    assert report.stale == ["searches_7d"]
    assert small_ws.tags["searches_7d"].summary()["stale"] is True
    assert rows_by_user(small_ws)["u1"]["searches_7d"] == 2
    forced = small_ws.build(tags=["searches_7d"])
    assert "searches_7d" in forced.computed and forced.stale == []
    assert rows_by_user(small_ws)["u1"]["searches_7d"] == 3


def test_user_ids_stay_stable_across_ingests(small_ws: Workspace) -> None:
    small_ws.build()
    before = {r["user_id"]: i for i, r in enumerate(small_ws.profile([]).to_pylist())}
    new_users = small_ws.root / "new.csv"
    new_users.write_text(
        "user_id,gender,age,city\nu0,女,22,深圳\nu2,女,29,上海\n", encoding="utf-8"
    )
    small_ws.ingest("users", new_users)
    small_ws.build()
    after = {r["user_id"]: i for i, r in enumerate(small_ws.profile([]).to_pylist())}
    assert all(after[u] == i for u, i in before.items())
    assert after["u0"] == 4
    assert rows_by_user(small_ws)["u2"]["age"] == 29


def test_cycle_and_bad_definitions_leave_profile_untouched(small_ws: Workspace) -> None:
    first = small_ws.build()
    extra = small_ws.root / "tags" / "loop.yaml"
    extra.write_text(
        "tags:\n"
        '  - {name: x, kind: derived, type: int, expr: "y + 1"}\n'
        '  - {name: y, kind: derived, type: int, expr: "x + 1"}\n',
        encoding="utf-8",
    )
    with pytest.raises(DependencyCycleError, match=r"x -> y -> x|y -> x -> y"):
        small_ws.build()
    extra.write_text("tags:\n  - {name: z, kind: attribute, column: nope}\n", encoding="utf-8")
    with pytest.raises(TagDefinitionError, match=r"loop\.yaml"):
        small_ws.build()
    assert small_ws.built.version == first.profile_version


def test_build_needs_users(tmp_path: Path) -> None:
    ws = portrait.init(tmp_path / "empty")
    with pytest.raises(WorkspaceError, match="no users"):
        ws.build()


def test_index_matches_sql_on_every_tag_value(demo_ws: Workspace) -> None:
    """Every value bitmap and numeric range count equals a direct DuckDB query on the profile."""
    index = demo_ws.index()
    profile = demo_ws.built.profile_file
    con = duckdb.connect()
    con.execute(f"CREATE VIEW p AS SELECT * FROM read_parquet('{profile}')")
    checked = 0
    for name, meta in demo_ws.built.tags.items():
        tag_index = index.tag(name)
        col = f'"{name}"'
        if isinstance(tag_index, ValueIndex):
            is_list = meta["type"] == "list<string>"
            value_sql = f"unnest({col})" if is_list else f"CAST({col} AS VARCHAR)"
            rows = con.execute(
                f"SELECT v, count(DISTINCT uid) FROM (SELECT uid, {value_sql} AS v FROM p) "
                "WHERE v IS NOT NULL GROUP BY v"
            ).fetchall()
            expected = {str(v).lower() if meta["type"] == "bool" else v: n for v, n in rows}
            assert dict(tag_index.counts()) == expected, name
            for value, bitmap in tag_index.items():
                literal = value.replace("'", "''")
                where = (
                    f"list_contains({col}, '{literal}')"
                    if is_list
                    else f"CAST({col} AS VARCHAR) = '{literal}'"
                    if meta["type"] != "bool"
                    else f"{col} = {value}"
                )
                uids = [
                    r[0]
                    for r in con.execute(f"SELECT uid FROM p WHERE {where} ORDER BY uid").fetchall()
                ]
                assert list(bitmap) == uids, (name, value)
                checked += 1
            missing_sql = f"{col} IS NULL" + (f" OR len({col}) = 0" if is_list else "")
            missing = con.execute(f"SELECT count(*) FROM p WHERE {missing_sql}").fetchone()
            assert missing is not None and len(tag_index.missing) == missing[0], name
        else:
            assert isinstance(tag_index, RangeIndex)
            n_null = con.execute(f"SELECT count(*) FROM p WHERE {col} IS NULL").fetchone()
            assert n_null is not None and len(tag_index.missing) == n_null[0]
            if tag_index.present == 0:
                continue
            values = tag_index.sorted_values
            for low, high in (
                (values[0], values[len(values) // 3]),
                (values[len(values) // 2], values[-1]),
            ):
                bitmap = tag_index.range(low, high)
                expr = {
                    "timestamp": f"epoch_us({col})",
                    "date": f"({col} - DATE '1970-01-01')",
                }.get(meta["type"], col)
                sql = f"SELECT uid FROM p WHERE {expr} BETWEEN ? AND ? ORDER BY uid"
                uids = [r[0] for r in con.execute(sql, [low.item(), high.item()]).fetchall()]
                assert list(bitmap) == uids, name
                checked += 1
            n_present = con.execute(f"SELECT count(*) FROM p WHERE {col} IS NOT NULL").fetchone()
            assert n_present is not None and len(tag_index.range()) == n_present[0]
    assert checked > 100


def test_coverage_stats_match_profile(demo_ws: Workspace) -> None:
    table = demo_ws.profile()
    for name, meta in demo_ws.built.tags.items():
        col = table.column(name)
        nulls = col.null_count
        if meta["type"] == "list<string>":
            nulls = sum(1 for v in col.to_pylist() if not v)
        assert meta["stats"]["covered"] == table.num_rows - nulls, name


def _wait_for(path: Path, pattern: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(path.glob(pattern)):
            return True
        time.sleep(0.005)
    return False


def test_killed_build_leaves_previous_version(demo_ws: Workspace) -> None:
    """SIGKILL in the middle of a build: readers keep the old profile, the next build works."""
    before_version = demo_ws.built.version
    before = demo_ws.profile().to_pylist()
    script = "import portrait, sys; ws = portrait.open(sys.argv[1]); ws.build(full=True)"
    proc = subprocess.Popen([sys.executable, "-c", script, str(demo_ws.root)])
    try:
        assert _wait_for(demo_ws.root / "profile", ".staging-*/profile.parquet", 60)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert demo_ws.built.version == before_version
    assert demo_ws.profile().to_pylist() == before
    report = demo_ws.build(full=True)
    assert report.profile_version > before_version
    assert not list((demo_ws.root / "profile").glob(".staging-*"))
    assert demo_ws.profile().to_pylist() == before  # same data, same values


def test_manual_tag_keeps_dependents_and_follows_new_users(small_ws: Workspace) -> None:
    tags_file = small_ws.root / "tags" / "basic.yaml"
    text = tags_file.read_text(encoding="utf-8").replace(
        "where: {event: view}, agg: count, window: 30d}",
        "where: {event: view}, agg: count, window: 30d, refresh: manual}",
    )
    tags_file.write_text(text, encoding="utf-8")
    small_ws.build()
    tags_file.write_text(text.replace("window: 30d", "window: 60d"), encoding="utf-8")
    report = small_ws.build()
    assert report.stale == ["views_30d"]
    assert report.computed == []  # 'busy' reads the kept tag and stays as it was
    new_users = small_ws.root / "new.csv"
    new_users.write_text("user_id,gender,age,city\nu7,女,22,深圳\n", encoding="utf-8")
    small_ws.ingest("users", new_users)
    rebuilt = small_ws.build()
    assert "views_30d" in rebuilt.computed and rebuilt.stale == []
    index = small_ws.index().range("views_30d")
    assert index.n_users == 5 and len(index.range()) + len(index.missing) == 5
    assert rows_by_user(small_ws)["u7"]["views_30d"] == 0


@pytest.mark.parametrize(
    ("zone", "u1_hours", "u2_hours"),
    [
        ("UTC", {0, 20, 21, 23}, {2, 10}),
        ("Asia/Shanghai", {4, 5, 7, 8}, {10, 18}),  # fixed +8: plain arithmetic
        ("America/New_York", {16, 17, 19, 20}, {6, 22}),  # daylight time (-4) until Nov 1
    ],
)
def test_local_time_and_distinct_counts(
    small_ws: Workspace, zone: str, u1_hours: set[int], u2_hours: set[int]
) -> None:
    (small_ws.root / "tags" / "extra.yaml").write_text(
        "tags:\n"
        "  - {name: brands_90d, kind: metric, from: events, agg: count_distinct, of: car_brand,"
        " window: 90d}\n"
        "  - {name: hours, kind: preference, from: events, property: hour, top: 5,"
        " window: 60d}\n",
        encoding="utf-8",
    )
    ws = portrait.open(small_ws.root, overrides={"data.timezone": zone})
    ws.build()
    p = rows_by_user(ws)
    assert (p["u1"]["brands_90d"], p["u2"]["brands_90d"], p["u3"]["brands_90d"]) == (2, 2, 0)
    # UTC times in the 60 days: u1 10-31 21:00, 10-30 20:00, 10-25 00:00, 10-24 23:59:59,
    # 10-01 21:00; u2 10-31 02:00, 09-02 10:00 (09-01 is outside).
    assert {int(h) for h in p["u1"]["hours"]} == u1_hours
    assert {int(h) for h in p["u2"]["hours"]} == u2_hours
    assert p["u3"]["hours"] is None
