"""Saved segments, set operations, ID lists, export, sample and overlap: through the Python API
and the command line, on a copy of the demo workspace (real DuckDB, real SQLite, real files),
and on a throwaway PostgreSQL server for the metadata database."""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import portrait
from portrait.errors import (
    InputError,
    NotFoundError,
    PortraitError,
    SegmentCycleError,
    SegmentError,
)
from portrait.model.pii import mask_text
from portrait.workspace import Workspace

PORTRAIT = str(Path(sys.executable).parent / "portrait")
AS_OF = "2026-10-31"  # the demo's as-of date
USERS = 3000  # users of the demo template (conftest.demo_template)


# -- helpers -----------------------------------------------------------------------------
def run(
    *args: str, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([PORTRAIT, *args], capture_output=True, text=True, check=False, env=env)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def run_json(*args: str, env: dict[str, str] | None = None) -> Any:
    return json.loads(run(*args, "-f", "json", env=env).stdout)


def refused(*args: str, env: dict[str, str] | None = None) -> str:
    """A command that must fail as bad input: exit 2, an error for people; returns stderr."""
    result = run(*args, check=False, env=env)
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    assert "error:" in result.stderr, result.stderr
    return result.stderr


def selected(ws: Workspace, rule: str) -> set[int]:
    """Dense ids of the users a rule selects now."""
    return {int(u) for u in ws.select(rule).uids()}


def members(ws: Workspace, name: str) -> set[int]:
    return set(ws.segments.members(name))


def user_ids(ws: Workspace) -> list[str]:
    """External user ids; the position is the dense id."""
    return [str(u) for u in ws.profile([]).column("user_id").to_pylist()]


def sqlite_dump(ws: Workspace) -> list[str]:
    """Everything in the SQLite metadata database (segments, snapshots, lists, counters)."""
    con = sqlite3.connect(ws.layout.meta_dir / "portrait.db")
    try:
        return list(con.iterdump())
    finally:
        con.close()


def history_lengths(ws: Workspace) -> dict[str, int]:
    return {name: len(ws.segments.history(name)) for name in ws.segments}


# -- 1. a dynamic segment from a rule ---------------------------------------------------
def test_dynamic_segment_from_a_rule(demo_ws: Workspace) -> None:
    ws, root = demo_ws, str(demo_ws.root)
    rule = 'city = "北京" and age >= 30'
    expected = ws.select(rule)
    assert 0 < len(expected) < USERS

    info = ws.segments.create("bj_30plus", rule, description="北京 30 岁以上")
    assert (info.name, info.mode, info.rule, info.description) == (
        "bj_30plus",
        "dynamic",
        rule,
        "北京 30 岁以上",
    )
    assert info.size == len(expected) == ws.count(rule)["size"]
    assert info.profile_version == ws.built.version
    assert info.as_of == ws.built.manifest["as_of"] == AS_OF
    assert info.references == [] and info.dependents == []
    assert members(ws, "bj_30plus") == selected(ws, rule)

    assert [s.name for s in ws.segments.all()] == ["bj_30plus"]
    assert ws.segments["bj_30plus"].to_dict() == info.to_dict()
    assert "bj_30plus" in ws.segments and "other" not in ws.segments
    assert list(ws.segments) == ["bj_30plus"] and len(ws.segments) == 1

    (snapshot,) = ws.segments.history("bj_30plus")
    assert snapshot.segment == "bj_30plus"
    assert snapshot.size == len(expected)
    assert snapshot.profile_version == ws.built.version
    assert snapshot.as_of == AS_OF
    assert snapshot.population == USERS
    assert snapshot.evaluated_at == info.evaluated_at and snapshot.evaluated_at.tzinfo is not None

    # The command line sees the same catalog and can add to it.
    young = run_json("segment", "create", "young", "age < 30", "-w", root)
    assert (young["mode"], young["size"], young["as_of"]) == (
        "dynamic",
        len(selected(ws, "age < 30")),
        AS_OF,
    )
    listed = run_json("segment", "list", "-w", root)
    assert [(r["name"], r["mode"], r["size"], r["rule"]) for r in listed] == [
        ("bj_30plus", "dynamic", len(expected), rule),
        ("young", "dynamic", young["size"], "age < 30"),
    ]
    rows = run_json("segment", "history", "bj_30plus", "-w", root)
    assert len(rows) == 1
    assert (rows[0]["size"], rows[0]["profile_version"], rows[0]["as_of"]) == (
        len(expected),
        ws.built.version,
        AS_OF,
    )
    assert rows[0]["share"] == round(len(expected) / USERS, 6)


# -- 2. set operations ------------------------------------------------------------------
def test_set_operations_are_exact_set_arithmetic(demo_ws: Workspace) -> None:
    ws, root = demo_ws, str(demo_ws.root)
    rules = {"bj": 'city = "北京"', "young": "age < 30", "women": 'gender = "女"'}
    for name, rule in rules.items():
        ws.segments.create(name, rule)
    a, b, c = (selected(ws, rules[n]) for n in ("bj", "young", "women"))
    assert a & b and a - b and b - a and a & b & c and a - b - c  # the sets really overlap

    expected = {
        "any3": a | b | c,  # CLI --union
        "bj_and_young": a & b,  # CLI --intersect
        "bj_only": a - b - c,  # CLI --minus (the first minus the others)
        "all3": a & b & c,  # API intersection
        "bj_not_young": a - b,  # API difference of two
        "bj_or_young": a | b,  # API union, static
    }
    cli = {
        "any3": run_json("segment", "create", "any3", "--union", "bj,young,women", "-w", root),
        "bj_and_young": run_json(
            "segment", "create", "bj_and_young", "--intersect", "bj, young", "-w", root
        ),
        "bj_only": run_json(
            "segment", "create", "bj_only", "--minus", "bj,young,women", "-w", root
        ),
    }
    for name, record in cli.items():
        assert record["size"] == len(expected[name]), name
        assert record["mode"] == "dynamic"
    assert cli["any3"]["references"] == ["bj", "women", "young"]

    assert ws.segments.combine("all3", "intersection", ["bj", "young", "women"]).size == len(
        expected["all3"]
    )
    assert ws.segments.combine("bj_not_young", "difference", ["bj", "young"]).size == len(
        expected["bj_not_young"]
    )
    static = ws.segments.combine("bj_or_young", "union", ["bj", "young"], mode="static")
    assert static.mode == "static" and static.size == len(expected["bj_or_young"])

    for name, want in expected.items():
        assert members(ws, name) == want, name
        assert ws.segments[name].size == len(want), name
        (snapshot,) = ws.segments.history(name)
        assert snapshot.size == len(want), name
    assert ws.segments["bj"].dependents == [
        "all3",
        "any3",
        "bj_and_young",
        "bj_not_young",
        "bj_only",
        "bj_or_young",
    ]
    # The same sets through rules over segment references.
    assert selected(ws, 'segment("bj") and not segment("young")') == a - b
    assert selected(ws, 'segment("any3") and not segment("women")') == (a | b) - c

    with pytest.raises(SegmentError, match="at least two"):
        ws.segments.combine("solo", "union", ["bj"])
    with pytest.raises(SegmentError, match="unknown set operation"):
        ws.segments.combine("odd", "xor", ["bj", "young"])
    with pytest.raises(NotFoundError, match="'yuong'") as missing:
        ws.segments.combine("typo", "union", ["bj", "yuong"])
    assert "did you mean 'young'" in str(missing.value)
    assert "solo" not in ws.segments and "typo" not in ws.segments


def test_replace_flag_works_for_set_operations(demo_ws: Workspace) -> None:
    """``segment create --replace`` is accepted with --union/--intersect/--minus; it must
    replace the segment, not fail with 'exists … choose another name or --replace'."""
    ws, root = demo_ws, str(demo_ws.root)
    ws.segments.create("bj", 'city = "北京"')
    ws.segments.create("young", "age < 30")
    a, b = selected(ws, 'city = "北京"'), selected(ws, "age < 30")
    run("segment", "create", "pair", "--union", "bj,young", "-w", root)
    assert members(ws, "pair") == a | b
    result = run(
        "segment", "create", "pair", "--intersect", "bj,young", "--replace", "-w", root, check=False
    )
    assert result.returncode == 0, result.stderr
    assert members(ws, "pair") == a & b
    assert [s.size for s in ws.segments.history("pair")] == [len(a | b), len(a & b)]


# -- 3. static and dynamic segments across a rebuild -------------------------------------
NEW_USERS = """user_id,gender,age,city,education,work_years,registered_at,phone
new000,女,25,北京,本科,2,2026-06-01 09:00:00,13800000000
new001,女,26,北京,硕士,3,2026-06-01 09:00:00,13800000001
new002,女,31,北京,本科,8,2026-06-02 09:00:00,13800000002
new003,女,44,北京,高中,20,2026-06-03 09:00:00,13800000003
new004,女,52,北京,本科,30,2026-06-04 09:00:00,13800000004
new900,男,40,北京,本科,9,2026-06-01 09:00:00,13800009900
new901,女,33,上海,硕士,5,2026-06-01 09:00:00,13800009901
"""


def test_dynamic_segments_follow_a_rebuild_static_ones_keep_their_members(
    demo_ws: Workspace, tmp_path: Path
) -> None:
    ws, root = demo_ws, str(demo_ws.root)
    rule = 'city = "北京" and gender = "女"'
    ws.segments.create("bj_women", rule)
    ws.segments.create("bj_women_frozen", rule, mode="static")
    before = selected(ws, rule)
    version_before = ws.built.version

    new_file = tmp_path / "new_users.csv"
    new_file.write_text(NEW_USERS, encoding="utf-8")
    assert ws.ingest("users", new_file).new_users == 7
    report = ws.build()
    assert not report.up_to_date and ws.built.version != version_before
    assert "bj_women" in report.segments_refreshed and report.segments_failed == {}

    ids = user_ids(ws)
    assert len(ids) == USERS + 7
    matching_new = {ids.index(f"new00{i}") for i in range(5)}
    after = selected(ws, rule)
    assert after == before | matching_new  # the new 北京 women joined, nobody else

    dynamic = ws.segments.history("bj_women")
    assert [s.size for s in dynamic] == [len(before), len(after)]
    assert [s.profile_version for s in dynamic] == [version_before, ws.built.version]
    assert [s.population for s in dynamic] == [USERS, USERS + 7]
    assert [s.as_of for s in dynamic] == [AS_OF, AS_OF]
    assert members(ws, "bj_women") == after
    assert ws.segments["bj_women"].size == len(after)

    (frozen,) = ws.segments.history("bj_women_frozen")
    assert frozen.size == len(before) and frozen.profile_version == version_before
    assert members(ws, "bj_women_frozen") == before
    assert ws.segments["bj_women_frozen"].size == len(before)
    assert selected(ws, 'segment("bj_women_frozen")') == before
    overlap = ws.segments.overlap("bj_women", "bj_women_frozen")
    assert (overlap["intersection"], overlap["union"], overlap["a_only"]) == (
        len(before),
        len(after),
        5,
    )

    rows = run_json("segment", "history", "bj_women", "-w", root)
    assert [(r["size"], r["profile_version"]) for r in rows] == [
        (len(before), version_before),
        (len(after), ws.built.version),
    ]
    rows = run_json("segment", "history", "bj_women_frozen", "-w", root)
    assert [(r["size"], r["profile_version"]) for r in rows] == [(len(before), version_before)]


def test_build_report_lists_only_the_segments_it_re_evaluated(demo_ws: Workspace) -> None:
    """Static segments are not re-evaluated by a build, so the report must not list them as
    refreshed."""
    ws = demo_ws
    ws.segments.create("dyn", "age < 30")
    ws.segments.create("frozen", "age < 30", mode="static")
    report = ws.build(tags=["age"])
    assert not report.up_to_date
    assert len(ws.segments.history("dyn")) == 2
    assert len(ws.segments.history("frozen")) == 1
    assert report.segments_refreshed == ["dyn"]


def test_build_survives_a_segment_whose_tag_was_removed(demo_ws: Workspace) -> None:
    """A segment whose rule names a tag that is no longer defined cannot be re-evaluated; the
    build stands, reports that segment as failed and still refreshes the others."""
    ws = demo_ws
    ws.segments.create("a_by_education", 'education = "本科"')
    ws.segments.create("z_beijing", 'city = "北京"')
    tags_file = ws.root / "tags" / "basic.yaml"
    text = tags_file.read_text(encoding="utf-8")
    block = "  - name: education\n    title: 学历\n    kind: attribute\n    owner: data-platform\n"
    assert block in text
    tags_file.write_text(text.replace(block, ""), encoding="utf-8")
    version_before = ws.built.version

    report = ws.build()

    assert ws.built.version != version_before and "education" not in ws.built.tags
    assert list(report.segments_failed) == ["a_by_education"]
    assert "education" in report.segments_failed["a_by_education"]
    assert report.segments_refreshed == ["z_beijing"]
    assert len(ws.segments.history("z_beijing")) == 2
    assert len(ws.segments.history("a_by_education")) == 1


# -- 4. references: missing, cycles, deleting what others use ------------------------------
def test_references_missing_cycles_and_protected_deletes(demo_ws: Workspace) -> None:
    ws, root = demo_ws, str(demo_ws.root)
    ws.segments.create("beijing", 'city = "北京"')

    with pytest.raises(NotFoundError) as near:
        ws.segments.create("x", 'segment("beijng") and age < 30')
    assert "'beijng'" in str(near.value) and "did you mean 'beijing'" in str(near.value)
    with pytest.raises(NotFoundError, match="'completely_unrelated'"):
        ws.segments.create("x", 'segment("completely_unrelated")')
    with pytest.raises(NotFoundError) as lookup:
        ws.segments["beijng"]
    assert "did you mean 'beijing'" in str(lookup.value)
    with pytest.raises(NotFoundError, match="'beijng'"):
        ws.select('segment("beijng")')
    stderr = refused("segment", "create", "x", 'segment("beijng")', "-w", root)
    assert "'beijng'" in stderr and "did you mean 'beijing'" in stderr
    assert list(ws.segments) == ["beijing"]

    ws.segments.create("a", 'segment("beijing") and age < 30')
    ws.segments.create("b", 'segment("a") or gender = "女"')
    before = sqlite_dump(ws)
    bj = members(ws, "beijing")

    with pytest.raises(SegmentCycleError) as cycle:
        ws.segments.create("beijing", 'segment("b") and age > 20', replace=True)
    assert "beijing → b → a → beijing" in str(cycle.value)
    with pytest.raises(SegmentCycleError, match="beijing → beijing"):
        ws.segments.create("beijing", 'segment("beijing")', replace=True)
    stderr = refused("segment", "create", "a", 'segment("b")', "--replace", "-w", root)  # a → b → a
    assert "a → b → a" in stderr
    assert sqlite_dump(ws) == before
    assert ws.segments["beijing"].rule == 'city = "北京"' and members(ws, "beijing") == bj

    with pytest.raises(SegmentError, match=r"'beijing' is used by: a\b"):
        ws.segments.delete("beijing")
    with pytest.raises(SegmentError, match="used by: b"):
        ws.segments.delete("a")
    stderr = refused("segment", "delete", "beijing", "-w", root)
    assert "used by: a" in stderr
    assert sqlite_dump(ws) == before
    assert history_lengths(ws) == {"a": 1, "b": 1, "beijing": 1}
    assert ws.segments["beijing"].dependents == ["a"] and ws.segments["a"].dependents == ["b"]

    with pytest.raises(NotFoundError, match="no segment named 'zzz'"):
        ws.segments.delete("zzz")
    # In dependency order every delete succeeds.
    ws.segments.delete("b")
    ws.segments.delete("a")
    ws.segments.delete("beijing")
    assert len(ws.segments) == 0 and ws.segments.all() == []


# -- 5. a failed command changes nothing ---------------------------------------------------
def test_failed_commands_change_nothing(demo_ws: Workspace, tmp_path: Path) -> None:
    ws, root = demo_ws, str(demo_ws.root)
    ws.segments.create("bj", 'city = "北京"')
    ws.segments.create("young", "age < 30", mode="static")
    ids_file = tmp_path / "vip.txt"
    ids_file.write_text("\n".join(user_ids(ws)[:10]) + "\n", encoding="utf-8")
    ws.segments.upload_ids("vip", ids_file)
    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    two_columns = tmp_path / "two.csv"
    two_columns.write_text("name,user_id\nA,u00000001\n", encoding="utf-8")
    before = sqlite_dump(ws)
    lists_before = ws.segments.id_lists()

    stderr = refused("segment", "create", "bad", "city = ", "-w", root)
    assert "cannot parse the rule" in stderr
    stderr = refused("segment", "create", "bad", 'citty = "北京"', "-w", root)
    assert "unknown tag 'citty'" in stderr and "did you mean 'city'" in stderr
    stderr = refused("segment", "create", "bj", "age > 40", "-w", root)
    assert "'bj' exists" in stderr
    stderr = refused("segment", "create", "bad", "--minus", "bj", "-w", root)
    assert "at least two" in stderr
    stderr = refused("segment", "create", "vip", "--ids", str(ids_file), "-w", root)
    assert "'vip' exists" in stderr  # an ID list of that name exists

    with pytest.raises(InputError, match="nosuchtag"):
        ws.segments.create("bad", 'city = "北京" and nosuchtag > 3')
    with pytest.raises(SegmentError, match="'bad name'"):
        ws.segments.create("bad name", "age > 40")
    with pytest.raises(NotFoundError, match="'nosuch'"):
        ws.segments.combine("bad", "union", ["bj", "nosuch"])
    with pytest.raises(SegmentError, match="'vip' exists"):
        ws.segments.upload_ids("vip", ids_file)
    with pytest.raises(InputError, match="--column"):
        ws.segments.upload_ids("other", two_columns)
    with pytest.raises(NotFoundError, match="no segment named 'nosuch'"):
        ws.segments.delete("nosuch")
    with pytest.raises(NotFoundError, match="no ID list named 'nosuch'"):
        ws.segments.delete_id_list("nosuch")
    for bad_rule in ("city = ", 'citty = "北京"', "age > 40 and"):
        with pytest.raises(InputError):
            ws.segments.create("bad", bad_rule)
    with pytest.raises(SegmentError, match="'bj' exists"):
        ws.segments.create("bj", "age > 40")
    with pytest.raises(SegmentError, match="mode"):
        ws.segments.create("bad", "age > 40", mode="sometimes")
    with pytest.raises(InputError, match="no ids"):
        ws.segments.create_from_ids("bad", empty)

    assert sqlite_dump(ws) == before
    assert sorted(ws.segments) == ["bj", "young"]
    assert history_lengths(ws) == {"bj": 1, "young": 1}
    assert ws.segments.id_lists() == lists_before
    assert not (ws.layout.rejects_dir / "ids" / "bad.txt").exists()


# -- 6. ID lists -------------------------------------------------------------------------
def test_id_upload_reports_matches_and_writes_unmatched_ids(
    demo_ws: Workspace, tmp_path: Path
) -> None:
    ws, root = demo_ws, str(demo_ws.root)
    ids = user_ids(ws)
    u1, u2, u3 = ids[10], ids[20], ids[30]
    lines = ["user_id", u1, "", u2, f"  {u3}  ", u1, "ghost-1", "", "ghost-2", "ghost-1", u2, ""]
    upload = tmp_path / "vip.csv"
    upload.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(lines).encode("utf-8") + b"\r\n")
    unmatched = tmp_path / "out" / "vip-unmatched.txt"

    report = run_json(
        "ids", "upload", "vip", str(upload), "--unmatched", str(unmatched), "-w", root
    )
    assert report == {
        "name": "vip",
        "source": str(upload),
        "rows": 8,  # id lines: the header and blank lines are not ids
        "matched": 3,
        "unmatched": 2,
        "duplicates": 3,
        "header": "user_id",
        "unmatched_file": str(unmatched),
    }
    assert unmatched.read_text(encoding="utf-8") == "ghost-1\nghost-2\n"
    assert sorted(ws.select('ids("vip")').ids()) == sorted([u1, u2, u3])
    assert selected(ws, 'ids("vip")') == {10, 20, 30}
    listed = run_json("ids", "list", "-w", root)
    assert [
        (r["name"], r["rows"], r["matched"], r["unmatched"], r["duplicates"]) for r in listed
    ] == [("vip", 8, 3, 2, 3)]

    # Several columns: --column says which; the header is that column's name.
    crm = tmp_path / "crm.csv"
    crm.write_text(
        f"name,user_id,score\r\n张三,{ids[4]},1\r\n李四,{ids[5]},2\r\n王五,ghost-3,3\r\n"
        f"赵六,{ids[4]},4\r\n",
        encoding="utf-8",
    )
    crm_report = ws.segments.upload_ids("crm", crm, column="user_id")
    assert (
        crm_report.rows,
        crm_report.matched,
        crm_report.unmatched,
        crm_report.duplicates,
        crm_report.header,
    ) == (4, 2, 1, 1, "user_id")
    default_unmatched = ws.layout.rejects_dir / "ids" / "crm.txt"
    assert crm_report.unmatched_file == str(default_unmatched)
    assert default_unmatched.read_text(encoding="utf-8") == "ghost-3\n"
    assert selected(ws, 'ids("crm")') == {4, 5}
    with pytest.raises(InputError) as several:
        ws.segments.upload_ids("crm2", crm)
    assert "several columns" in str(several.value) and "--column" in str(several.value)
    assert "user_id" in str(several.value)
    with pytest.raises(InputError, match="no column 'uid'"):
        ws.segments.upload_ids("crm2", crm, column="uid")
    stderr = refused("ids", "upload", "crm2", str(crm), "-w", root)
    assert "--column" in stderr
    by_column = ws.segments.upload_ids("crm2", crm, column="user_id")
    assert (by_column.matched, by_column.unmatched) == (2, 1)

    # Nothing to read is an error; nothing matched is not.
    for content in ("", "\r\n\r\n   \r\n", "user_id\r\n"):
        empty = tmp_path / "empty.txt"
        empty.write_text(content, encoding="utf-8")
        with pytest.raises(InputError, match="no ids"):
            ws.segments.upload_ids("empty", empty)
    assert "empty" not in {r["name"] for r in ws.segments.id_lists()}
    strangers = tmp_path / "strangers.txt"
    strangers.write_text("nobody-1\nnobody-2\nnobody-1\n", encoding="utf-8")
    none_matched = ws.segments.upload_ids("strangers", strangers)
    assert (
        none_matched.rows,
        none_matched.matched,
        none_matched.unmatched,
        none_matched.duplicates,
        none_matched.header,
    ) == (3, 0, 2, 1, None)
    assert len(ws.select('ids("strangers")')) == 0
    assert ws.segments.create("strangers_seg", 'ids("strangers")').size == 0

    # A static segment straight from a file.
    wanted = tmp_path / "campaign.txt"
    wanted.write_text("\n".join(ids[100:120]) + "\nghost-x\n", encoding="utf-8")
    record = run_json("segment", "create", "campaign", "--ids", str(wanted), "-w", root)
    assert (record["mode"], record["rule"], record["size"]) == ("static", 'ids("campaign")', 20)
    assert members(ws, "campaign") == set(range(100, 120))
    campaign_list = next(r for r in ws.segments.id_lists() if r["name"] == "campaign")
    assert (campaign_list["matched"], campaign_list["unmatched"]) == (20, 1)

    # An ID list used by a segment cannot be deleted; an unused one can.
    ws.segments.create("vip_buyers", 'ids("vip") or orders_365d >= 3')
    before = sqlite_dump(ws)
    with pytest.raises(SegmentError, match="vip_buyers"):
        ws.segments.delete_id_list("vip")
    stderr = refused("ids", "delete", "campaign", "-w", root)
    assert "campaign" in stderr.split("used by segments:")[1]
    with pytest.raises(SegmentError, match="strangers_seg"):
        ws.segments.delete_id_list("strangers")
    assert sqlite_dump(ws) == before
    ws.segments.delete_id_list("crm2")
    ws.segments.delete_id_list("crm")
    assert [r["name"] for r in ws.segments.id_lists()] == ["campaign", "strangers", "vip"]


# -- 7. export ---------------------------------------------------------------------------
def give_raw_phones(ws: Workspace, tmp_path: Path) -> dict[str, str]:
    """The demo's phone numbers are masked at the source; load unmasked ones and rebuild so
    that masking on export is visible."""
    ids = user_ids(ws)
    phones = {u: f"139{i:08d}" for i, u in enumerate(ids)}
    path = tmp_path / "phones.parquet"
    pq.write_table(pa.table({"user_id": ids, "phone": [phones[u] for u in ids]}), path)
    ws.ingest("users", path)
    ws.build()
    assert ws.profile(["phone"], unmask=True).column("phone")[0].as_py() == phones[ids[0]]
    return phones


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
        return list(reader.fieldnames or []), rows


def test_export_writes_exactly_the_members_with_pii_masked(
    demo_ws: Workspace, tmp_path: Path
) -> None:
    ws, root = demo_ws, str(demo_ws.root)
    phones = give_raw_phones(ws, tmp_path)
    rule = 'city = "北京" and age < 35'
    ws.segments.create("bj_young", rule)
    audience = ws.select(rule)
    expected = set(audience.ids())
    assert 50 < len(expected) < USERS
    columns = ["city", "age", "phone", "visit_daypart"]
    profile = {r["user_id"]: r for r in ws.profile(columns, unmask=True).to_pylist()}

    out_csv = tmp_path / "bj_young.csv"
    assert ws.export_audience(audience, out_csv, columns) == len(expected)
    header, rows = read_csv(out_csv)
    assert header == ["user_id", *columns]
    assert len(rows) == len(expected) and {r["user_id"] for r in rows} == expected
    for r in rows:
        raw = profile[r["user_id"]]
        assert r["city"] == "北京" and int(r["age"]) == raw["age"] < 35
        assert r["phone"] == mask_text(raw["phone"]) != raw["phone"]
        assert r["visit_daypart"] == "|".join(raw["visit_daypart"] or [])

    out_parquet = tmp_path / "bj_young.parquet"
    assert ws.export_audience("bj_young", out_parquet, ["city", "phone"], unmask=True) == len(
        expected
    )
    table = pq.read_table(out_parquet)
    assert table.column_names == ["user_id", "city", "phone"]
    assert set(table.column("user_id").to_pylist()) == expected and table.num_rows == len(expected)
    assert all(r["phone"] == phones[r["user_id"]] for r in table.to_pylist())

    cli_parquet = tmp_path / "cli.parquet"
    run("segment", "export", "bj_young", str(cli_parquet), "-c", "city,phone", "-w", root)
    table = pq.read_table(cli_parquet)
    assert table.column_names == ["user_id", "city", "phone"]
    assert set(table.column("user_id").to_pylist()) == expected
    assert all(r["phone"] == mask_text(phones[r["user_id"]]) for r in table.to_pylist())
    cli_csv = tmp_path / "cli.csv"
    run("segment", "export", "bj_young", str(cli_csv), "-c", "phone", "--unmask", "-w", root)
    header, rows = read_csv(cli_csv)
    assert header == ["user_id", "phone"] and {r["user_id"] for r in rows} == expected
    assert all(r["phone"] == phones[r["user_id"]] for r in rows)
    only_ids = tmp_path / "ids.csv"
    assert ws.export_audience("bj_young", only_ids) == len(expected)
    header, rows = read_csv(only_ids)
    assert header == ["user_id"] and len(rows) == len(expected)

    # An unsupported format: a clear error, and no file (not even a temporary one).
    listing = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(InputError, match=r"cannot write '\.xlsx' files") as bad:
        ws.export_audience("bj_young", tmp_path / "members.xlsx", ["city"])
    assert ".csv or .parquet" in str(bad.value)
    stderr = refused("segment", "export", "bj_young", str(tmp_path / "members.json"), "-w", root)
    assert "cannot write '.json' files" in stderr
    with pytest.raises(NotFoundError, match="no built tag named 'nosuch'"):
        ws.export_audience("bj_young", tmp_path / "x.csv", ["nosuch"])
    with pytest.raises(NotFoundError, match="no segment named"):
        ws.export_audience("no_such_segment", tmp_path / "x.csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == listing

    # An empty audience: a file with the header (CSV) or the schema (Parquet) only.
    ws.segments.create("nobody", "age > 500")
    empty_csv = tmp_path / "empty.csv"
    assert ws.export_audience(ws.select("age > 500"), empty_csv, ["city", "phone"]) == 0
    assert list(csv.reader(io.StringIO(empty_csv.read_text(encoding="utf-8")))) == [
        ["user_id", "city", "phone"]
    ]
    empty_parquet = tmp_path / "empty.parquet"
    assert ws.export_audience("nobody", empty_parquet, ["city", "visit_daypart"]) == 0
    table = pq.read_table(empty_parquet)
    assert table.num_rows == 0 and table.column_names == ["user_id", "city", "visit_daypart"]
    no_columns = tmp_path / "no-columns.csv"
    assert ws.export_audience("nobody", no_columns) == 0
    assert read_csv(no_columns) == (["user_id"], [])


def test_export_into_a_missing_folder_is_handled(demo_ws: Workspace, tmp_path: Path) -> None:
    """Either the folder is created, or the person gets an error naming it (no traceback)."""
    ws, root = demo_ws, str(demo_ws.root)
    ws.segments.create("bj", 'city = "北京"')
    size = len(ws.select('city = "北京"'))
    out = tmp_path / "missing" / "bj.csv"
    written: int | None = None
    error: PortraitError | None = None
    try:
        written = ws.export_audience("bj", out)
    except PortraitError as exc:  # anything else (OSError from the writer) fails the test
        error = exc
    if error is not None:
        assert "missing" in str(error)
    else:
        assert written == size and len(read_csv(out)[1]) == size
    cli_out = tmp_path / "also-missing" / "bj.csv"
    result = run("segment", "export", "bj", str(cli_out), "-w", root, check=False)
    assert "Traceback" not in result.stderr, result.stderr
    if result.returncode == 0:
        assert len(read_csv(cli_out)[1]) == size
    else:
        assert result.returncode == 2 and "also-missing" in result.stderr


# -- 8. sample ---------------------------------------------------------------------------
def test_sample_is_reproducible_and_drawn_from_the_members(demo_ws: Workspace) -> None:
    ws, root = demo_ws, str(demo_ws.root)
    rule = 'gender = "女"'
    ws.segments.create("women", rule)
    everyone = set(ws.select(rule).ids())
    assert len(everyone) > 1000

    first = ws.sample("women", 50, seed=7, columns=["gender", "city"])
    assert first.column_names == ["user_id", "gender", "city"]
    drawn = first.column("user_id").to_pylist()
    assert len(drawn) == len(set(drawn)) == 50 and set(drawn) <= everyone
    assert set(first.column("gender").to_pylist()) == {"女"}
    again = ws.sample("women", 50, seed=7, columns=["gender", "city"])
    assert again.equals(first)
    other = ws.sample("women", 50, seed=8).column("user_id").to_pylist()
    assert len(other) == 50 and set(other) <= everyone and other != drawn

    uids = ws.segments.sample("women", 50, seed=7)
    assert list(uids) == sorted(uids) and {int(u) for u in uids} <= members(ws, "women")
    all_of_them = ws.sample("women", len(everyone) + 1_000, seed=3)
    assert all_of_them.num_rows == len(everyone)
    assert set(all_of_them.column("user_id").to_pylist()) == everyone
    assert ws.sample("women", 0).num_rows == 0
    with pytest.raises(InputError, match="negative"):
        ws.sample("women", -1)
    with pytest.raises(NotFoundError, match="did you mean 'women'"):
        ws.sample("wommen", 5)

    cli = run_json("segment", "sample", "women", "50", "--seed", "7", "-c", "city", "-w", root)
    assert [r["user_id"] for r in cli] == drawn
    assert [r["city"] for r in cli] == first.column("city").to_pylist()
    cli_all = run_json("segment", "sample", "women", "100000", "-w", root)
    assert {r["user_id"] for r in cli_all} == everyone and len(cli_all) == len(everyone)


# -- 9. overlap, 10. a rule matching nobody ------------------------------------------------
def test_overlap_is_set_arithmetic(demo_ws: Workspace) -> None:
    ws, root = demo_ws, str(demo_ws.root)
    rules = {
        "bj": 'city = "北京"',
        "young": "age < 30",
        "men": 'gender = "男"',
        "women": 'gender = "女"',
        "nobody": "age > 500",
    }
    sets = {}
    for name, rule in rules.items():
        ws.segments.create(name, rule, mode="static" if name == "young" else "dynamic")
        sets[name] = selected(ws, rule)
    pairs = [("bj", "young"), ("young", "bj"), ("men", "women"), ("bj", "nobody")]
    pairs += [("nobody", "nobody"), ("women", "women")]
    for a, b in pairs:
        got = ws.segments.overlap(a, b)
        sa, sb = sets[a], sets[b]
        union = len(sa | sb)
        assert got == {
            "a": a,
            "b": b,
            "size_a": len(sa),
            "size_b": len(sb),
            "intersection": len(sa & sb),
            "union": union,
            "jaccard": pytest.approx(len(sa & sb) / union if union else 0.0),
            "a_only": len(sa - sb),
            "b_only": len(sb - sa),
        }, (a, b)
    assert ws.segments.overlap("men", "women")["jaccard"] == 0.0
    assert ws.segments.overlap("women", "women")["jaccard"] == 1.0
    assert 0 < ws.segments.overlap("bj", "young")["jaccard"] < 1
    cli = run_json("segment", "overlap", "bj", "young", "-w", root)
    assert cli == ws.segments.overlap("bj", "young")
    with pytest.raises(NotFoundError, match="'bjj'"):
        ws.segments.overlap("bjj", "young")


def test_a_rule_matching_nobody_is_an_empty_segment(demo_ws: Workspace) -> None:
    ws, root = demo_ws, str(demo_ws.root)
    rule = 'age > 500 and city = "北京"'
    assert len(ws.select(rule)) == 0 and ws.count(rule)["share"] == 0.0
    info = ws.segments.create("nobody", rule)
    assert info.size == 0 and info.profile_version == ws.built.version and info.as_of == AS_OF
    assert [s.size for s in ws.segments.history("nobody")] == [0]
    assert members(ws, "nobody") == set()
    record = run_json("segment", "create", "nobody_static", "age < 0", "--static", "-w", root)
    assert (record["size"], record["mode"]) == (0, "static")
    assert {s.name: s.size for s in ws.segments.all()} == {"nobody": 0, "nobody_static": 0}
    assert run_json("segment", "sample", "nobody", "5", "-w", root) == []
    ws.segments.create("bj", 'city = "北京"')
    union = ws.segments.combine("bj_or_nobody", "union", ["bj", "nobody"])
    assert members(ws, "bj_or_nobody") == selected(ws, 'city = "北京"') == members(ws, "bj")
    assert union.size == len(members(ws, "bj"))
    assert ws.segments.combine("nobody_and_bj", "intersection", ["nobody", "bj"]).size == 0
    (refreshed,) = ws.segments.refresh("nobody")
    assert refreshed.size == 0 and len(ws.segments.history("nobody")) == 2


# -- 11. the metadata database on PostgreSQL ----------------------------------------------
def _postgres_state(url: str) -> dict[str, list[tuple[Any, ...]]]:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                table: [tuple(r) for r in conn.execute(text(f"SELECT * FROM {table} ORDER BY 1"))]
                for table in ("portrait_meta", "segments", "segment_snapshots", "id_lists")
            }
    finally:
        engine.dispose()


def test_metadata_database_on_postgresql(
    demo_ws: Workspace, postgres_url: str, tmp_path: Path
) -> None:
    sqlite_file = demo_ws.layout.meta_dir / "portrait.db"
    sqlite_before = sqlite_dump(demo_ws) if sqlite_file.exists() else None
    ws = portrait.open(demo_ws.root, overrides={"store.metadata_url": postgres_url})
    root = str(ws.root)
    env = {**os.environ, "PORTRAIT_STORE_METADATA_URL": postgres_url}

    rule = 'city = "北京"'
    info = ws.segments.create("高价值", rule, description="value")
    assert info.size == len(ws.select(rule)) and info.profile_version == ws.built.version
    ws.segments.create("young", "age < 30", mode="static")
    ws.segments.combine("bj_or_young", "union", ["高价值", "young"])
    assert members(ws, "bj_or_young") == selected(ws, rule) | selected(ws, "age < 30")
    assert {s.name for s in ws.segments.all()} == {"高价值", "young", "bj_or_young"}
    assert ws.segments["高价值"].dependents == ["bj_or_young"]
    (snapshot,) = ws.segments.history("高价值")
    assert (snapshot.size, snapshot.profile_version, snapshot.as_of) == (
        info.size,
        ws.built.version,
        AS_OF,
    )
    assert snapshot.evaluated_at.utcoffset() is not None

    ids = user_ids(ws)
    upload = tmp_path / "ids.txt"
    upload.write_bytes(
        b"\xef\xbb\xbfuser_id\r\n" + "\r\n".join([*ids[:5], ids[0], "ghost"]).encode() + b"\r\n"
    )
    report = ws.segments.upload_ids("vip", upload)
    assert (report.rows, report.matched, report.unmatched, report.duplicates) == (7, 5, 1, 1)
    assert selected(ws, 'ids("vip")') == set(range(5))
    from_file, _ = ws.segments.create_from_ids("campaign", upload)
    assert (from_file.mode, from_file.size) == ("static", 5)

    # Refused changes leave the PostgreSQL database as it was.
    state = _postgres_state(postgres_url)
    with pytest.raises(SegmentError, match="used by: bj_or_young"):
        ws.segments.delete("高价值")
    with pytest.raises(SegmentError, match="campaign"):
        ws.segments.delete_id_list("campaign")
    with pytest.raises(SegmentError, match="exists"):
        ws.segments.create("young", "age > 3")
    with pytest.raises(SegmentCycleError, match="高价值 → bj_or_young → 高价值"):
        ws.segments.create("高价值", 'segment("bj_or_young")', replace=True)
    with pytest.raises(InputError):
        ws.segments.create("broken", "city = ")
    assert refused("segment", "delete", "young", "-w", root, env=env).count("bj_or_young")
    assert _postgres_state(postgres_url) == state
    assert len(state["segments"]) == 4 and len(state["id_lists"]) == 2

    # A build refreshes the dynamic segments kept in PostgreSQL.
    ws.build(tags=["age"])
    assert len(ws.segments.history("高价值")) == 2 and len(ws.segments.history("young")) == 1

    # The command line uses the same database through the environment.
    listed = run_json("segment", "list", "-w", root, env=env)
    assert {r["name"] for r in listed} == {"高价值", "young", "bj_or_young", "campaign"}
    rows = run_json("segment", "history", "高价值", "-w", root, env=env)
    assert [r["size"] for r in rows] == [info.size, info.size]
    lists = ws.segments.id_lists()
    assert [(r["name"], r["matched"]) for r in lists] == [("campaign", 5), ("vip", 5)]
    created = run_json("segment", "create", "seniors", "age >= 60", "-w", root, env=env)
    assert created["size"] == len(ws.select("age >= 60")) == ws.segments["seniors"].size
    ws.segments.delete("seniors")
    assert "seniors" not in ws.segments

    ws.segments.delete("bj_or_young")
    ws.segments.delete("高价值")
    with pytest.raises(NotFoundError):
        ws.segments.history("高价值")
    ws.segments.delete_id_list("vip")
    assert sorted(ws.segments) == ["campaign", "young"]
    state = _postgres_state(postgres_url)
    assert sorted(r[0] for r in state["segments"]) == ["campaign", "young"]
    assert {r[1] for r in state["segment_snapshots"]} == {"campaign", "young"}
    assert [r[0] for r in state["id_lists"]] == ["campaign"]

    # Nothing went to the SQLite file.
    if sqlite_before is None:
        assert not sqlite_file.exists()
    else:
        assert sqlite_dump(demo_ws) == sqlite_before


def test_build_stands_when_the_metadata_database_is_unreachable(demo_ws: Workspace) -> None:
    """The profile is built and swapped in; the segment refresh that follows reports the
    unreachable database instead of failing the build."""
    url = "postgresql+psycopg://postgres@127.0.0.1:1/nowhere"
    ws = portrait.open(demo_ws.root, overrides={"store.metadata_url": url})
    before = ws.built.version
    report = ws.build(full=True)
    assert report.profile_version != before
    assert "*" in report.segments_failed
    assert "metadata database" in report.segments_failed["*"]
