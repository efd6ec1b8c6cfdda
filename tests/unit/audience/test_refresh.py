"""Snapshots and refresh on a real built workspace (tests/conftest.py's small one): dynamic
segments re-evaluated in reference order, static ones kept, members of the newest snapshots
only, and a segment whose rule no longer fits reported while the others go on."""

from __future__ import annotations

from functools import partial

import pytest
from pyroaring import BitMap
from sqlalchemy import func, select

from portrait.audience.refresh import KEEP_MEMBERS, record_snapshot, refresh, refresh_all
from portrait.errors import NotFoundError
from portrait.rules import parse_rule
from portrait.store.metadata import snapshots
from portrait.workspace import Workspace
from tests.unit.audience.conftest import save_segments


@pytest.fixture
def ws(small_ws: Workspace) -> Workspace:
    small_ws.build()
    return small_ws


def test_dynamic_segments_are_evaluated_after_the_ones_they_refer_to(ws: Workspace) -> None:
    store = ws.metadata
    save_segments(
        store,
        {
            "a_top": 'segment("m_mid") or city = "广州"',
            "m_mid": 'segment("z_base") and gender = "男"',
            "z_base": "age > 30",
        },
    )
    save_segments(store, {"frozen": 'city = "北京"'}, mode="static")
    done = refresh(store, ws.selector, ws.check_rule)
    assert [s.segment for s in done] == ["z_base", "m_mid", "a_top"]  # not in name order
    selector = ws.selector()
    for snapshot in done:
        rule = parse_rule(str(store.segment(snapshot.segment)["rule_text"]))  # type: ignore[index]
        members = selector.evaluate(rule)
        assert snapshot.size == len(members) and snapshot.size > 0
        assert snapshot.profile_version == selector.profile.version
        assert snapshot.population == 4
        latest = store.latest_snapshot(snapshot.segment)
        assert latest is not None and BitMap.deserialize(latest["members"]) == members
    assert store.history("frozen") == []  # static: kept as it was
    assert [s.segment for s in refresh(store, ws.selector, ws.check_rule, "m_mid")] == ["m_mid"]
    assert refresh(store, ws.selector, ws.check_rule, "frozen") == []
    with pytest.raises(NotFoundError, match="no segment named 'm_mi'"):
        refresh(store, ws.selector, ws.check_rule, "m_mi")


def test_members_are_kept_for_the_newest_snapshots_only(ws: Workspace) -> None:
    store = ws.metadata
    save_segments(store, {"s": "age > 1"})
    profile = ws.selector().profile
    for size in range(KEEP_MEMBERS + 2):
        with store.transaction() as conn:
            record_snapshot(store, conn, profile, "s", BitMap(range(size)), 0.5)
    history = store.history("s")
    assert [h.size for h in history] == list(range(KEEP_MEMBERS + 2))
    latest = store.latest_snapshot("s")
    assert latest is not None and BitMap.deserialize(latest["members"]) == BitMap(range(6))
    with store.engine.connect() as conn:
        with_members = snapshots.c.members.is_not(None)
        query = select(func.count()).where(snapshots.c.segment == "s", with_members)
        kept = conn.execute(query).scalar()
    assert kept == KEEP_MEMBERS


def test_a_segment_that_no_longer_fits_is_reported_and_the_others_go_on(ws: Workspace) -> None:
    store = ws.metadata
    save_segments(store, {"ok": "age > 1", "stale": "no_such_tag > 3", "on_top": 'segment("ok")'})
    save_segments(store, {"frozen": "age > 2"}, mode="static")
    refreshed, failed = refresh_all(store, partial(refresh, store, ws.selector, ws.check_rule))
    assert refreshed == ["ok", "on_top"]
    assert list(failed) == ["stale"] and "no_such_tag" in failed["stale"]
    assert len(store.history("ok")) == 1 and store.history("stale") == []
