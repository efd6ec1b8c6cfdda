"""The single-user 360 view agrees with the profile, the segments and the raw data."""

from __future__ import annotations

import json
import subprocess
import sys

import duckdb
import pytest

from portrait.errors import NotFoundError
from portrait.model.pii import mask_text
from portrait.workspace import Workspace


def test_user_view_matches_the_data(demo_ws: Workspace) -> None:
    demo_ws.segments.create("beijing", 'city = "北京"')
    demo_ws.segments.create("others", 'city != "北京"')
    buyers = demo_ws.select("orders_365d >= 2").ids()
    user_id = buyers[0]
    view = demo_ws.user(user_id, events=5)
    profile = demo_ws.profile(unmask=True).to_pylist()[view["uid"]]
    assert profile["user_id"] == user_id
    flat = {t["tag"]: t["value"] for tags in view["tags"].values() for t in tags}
    assert set(flat) == set(demo_ws.built.tags)
    assert flat["city"] == profile["city"] and flat["age"] == profile["age"]
    assert flat["phone"] == mask_text(profile["phone"])  # PII masked (demo phones come masked)
    assert flat["email"] == mask_text(profile["email"]) != profile["email"]
    unmasked = {t["tag"]: t["value"] for t in demo_ws.user(user_id, unmask=True)["tags"]["basic"]}
    assert unmasked["phone"] == profile["phone"] and unmasked["email"] == f"{user_id}@example.com"
    assert view["segments"] == (["beijing"] if profile["city"] == "北京" else ["others"])
    warehouse = demo_ws.warehouse
    assert warehouse.path is not None
    con = duckdb.connect()
    events = ", ".join(f"'{p}'" for p in warehouse.tables["events"].paths(warehouse.path))
    latest = con.execute(
        f"SELECT ts, event FROM read_parquet([{events}]) WHERE user_id = ? ORDER BY ts DESC LIMIT 5",
        [user_id],
    ).fetchall()
    assert [(e["ts"], e["event"]) for e in view["events"]] == latest
    orders = ", ".join(f"'{p}'" for p in warehouse.tables["orders"].paths(warehouse.path))
    count, total = con.execute(
        f"SELECT count(*), sum(amount) FROM read_parquet([{orders}]) WHERE user_id = ?", [user_id]
    ).fetchone()  # type: ignore[misc]
    assert view["orders"]["orders"] == count >= 2
    assert view["orders"]["amount"] == pytest.approx(total)


def test_user_command_and_unknown_ids(demo_ws: Workspace) -> None:
    user_id = demo_ws.profile([]).column("user_id")[0].as_py()
    out = subprocess.run(
        [sys.executable, "-m", "portrait", "user", user_id, "-w", str(demo_ws.root), "-f", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(out.stdout)["user_id"] == user_id
    table = subprocess.run(
        [sys.executable, "-m", "portrait", "user", user_id, "-w", str(demo_ws.root)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert f"user {user_id}" in table.stdout and "basic" in table.stdout
    with pytest.raises(NotFoundError, match="no user with id 'nobody'"):
        demo_ws.user("nobody")
    bad = subprocess.run(
        [sys.executable, "-m", "portrait", "user", "nobody", "-w", str(demo_ws.root)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_user_view_reads_one_profile_version(
    demo_ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    import portrait
    import portrait.index.rows as export

    demo_ws.segments.create("recent", "days_since_active <= 3")
    (user_id,) = demo_ws.user_ids_of([demo_ws.segments.members("recent").min()])
    old = demo_ws.built.version
    real = export.take_rows
    swapped: list[str] = []

    def take_rows_then_build(*args: object, **kwargs: object) -> object:
        rows = real(*args, **kwargs)  # type: ignore[arg-type]
        if not swapped:  # another process finishes a build right now: nobody was recent
            later = portrait.open(demo_ws.root, overrides={"data.as_of": "2027-06-30"})
            swapped.append(later.build().profile_version)
        return rows

    monkeypatch.setattr(export, "take_rows", take_rows_then_build)
    view = demo_ws.user(user_id)
    assert swapped and swapped[0] != old and demo_ws.built.version == swapped[0]
    flat = {t["tag"]: t["value"] for tags in view["tags"].values() for t in tags}
    # tags, segments and the as-of date are all of the version live when the view began
    assert flat["days_since_active"] <= 3 and "recent" in view["segments"]
    assert view["as_of"] == "2026-10-31"
