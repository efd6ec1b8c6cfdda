"""Cross-business analysis: the article's worked example, set arithmetic, thresholds."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from pyroaring import BitMap

from portrait.analysis import cross_matrix, pair_metrics
from portrait.errors import InputError, NotFoundError
from portrait.workspace import Workspace


def test_the_articles_worked_example() -> None:
    """Recruitment 30,000 users, new-house 10,000, 3,000 in both: overlap/union 8.1% (the
    article's 支持度) and confidence recruitment→new-house 10%."""
    m = pair_metrics(30_000, 10_000, 3_000, population=1_000_000)
    assert m["union"] == 37_000
    assert round(m["overlap_union"] * 100, 1) == 8.1
    assert m["confidence"] == pytest.approx(0.10)
    assert m["support"] == pytest.approx(0.003)
    assert m["lift"] == pytest.approx(0.10 / 0.01)
    rows = cross_matrix(
        [("recruitment", BitMap(range(30_000))), ("new_house", BitMap(range(27_000, 37_000)))],
        1_000_000,
        min_confidence=0.2,
    )
    forward, backward = rows
    assert (forward["a"], forward["confidence"], forward["flagged"]) == ("recruitment", 0.1, False)
    assert (backward["a"], backward["confidence"], backward["flagged"]) == ("new_house", 0.3, True)


def test_pairs_match_set_arithmetic(demo_ws: Workspace) -> None:
    demo_ws.segments.create("beijing", 'city = "北京"')
    rules = ["beijing", 'gender = "女"', 'events("view", last="30d") >= 1']
    rows = demo_ws.cross(rules, min_support=0.01, min_confidence=0.2)
    sets = {r: set(demo_ws.audience(r).uids().tolist()) for r in rules}
    population = demo_ws.selector().profile.population
    assert len(rows) == 6
    for row in rows:
        a, b = sets[row["a"]], sets[row["b"]]
        assert (row["size_a"], row["size_b"], row["both"], row["union"]) == (
            len(a),
            len(b),
            len(a & b),
            len(a | b),
        )
        assert row["confidence"] == pytest.approx(len(a & b) / len(a))
        assert row["lift"] == pytest.approx(len(a & b) / len(a) / (len(b) / population))
        assert row["flagged"] == (len(a & b) / population >= 0.01 and len(a & b) / len(a) >= 0.2)


def test_default_audiences_are_the_business_lines(demo_ws: Workspace) -> None:
    rows = demo_ws.cross()
    lines = demo_ws.selector().profile.rollup.business_lines  # type: ignore[union-attr]
    assert {r["a"] for r in rows} == set(lines)
    assert len(rows) == len(lines) * (len(lines) - 1)
    out = subprocess.run(
        [sys.executable, "-m", "portrait", "cross", "-w", str(demo_ws.root), "-f", "json",
         "--min-support", "0.01", "--min-confidence", "0.3", "--flagged"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    flagged = json.loads(out.stdout)
    assert all(r["flagged"] for r in flagged)
    assert {(r["a"], r["b"]) for r in flagged} == {
        (r["a"], r["b"])
        for r in demo_ws.cross(min_support=0.01, min_confidence=0.3)
        if r["flagged"]
    }


def test_bad_input(demo_ws: Workspace) -> None:
    with pytest.raises(InputError, match="at least two"):
        demo_ws.cross(['city = "北京"'])
    with pytest.raises(InputError, match="between 0 and 1"):
        demo_ws.cross(['city = "北京"', 'gender = "女"'], min_support=2)
    with pytest.raises(NotFoundError, match="no segment named 'nosuch'"):
        demo_ws.cross(["nosuch", 'gender = "女"'])
    empty = demo_ws.cross(['city = "北京" and city = "上海"', 'gender = "女"'])
    assert all(r["both"] == 0 and r["flagged"] is False for r in empty)
    assert empty[0]["confidence"] == 0.0


def test_cross_insight_compares_the_cross_users_with_a(demo_ws: Workspace) -> None:
    a, b = 'city = "北京"', 'gender = "女"'
    report = demo_ws.cross_insight(a, b, tags=["gender", "age_band"])
    both = len(demo_ws.select(f"{a} and {b}"))
    assert report.target_size == both
    assert report.baseline_size == len(demo_ws.select(a)) and report.baseline == a
    female = next(r for r in report.rows if r["tag"] == "gender" and r["value"] == "女")
    assert female["target_share"] == 1.0
    out = subprocess.run(
        [sys.executable, "-m", "portrait", "cross", a, b, "--insight", "-w", str(demo_ws.root),
         "-f", "json"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert any(r["tag"] == "gender" for r in json.loads(out.stdout))
    bad = subprocess.run(
        [sys.executable, "-m", "portrait", "cross", a, "--insight", "-w", str(demo_ws.root)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert bad.returncode == 2 and "two audiences" in bad.stderr


def test_association_rules_on_the_orders(demo_ws: Workspace) -> None:
    rules = demo_ws.association_rules(min_support=0.01, min_confidence=0.2)
    pairs = {(tuple(r["antecedent"]), tuple(r["consequent"])): r for r in rules}
    assert (("lipstick",), ("lip_balm",)) in pairs  # the planted rule
    planted = pairs[(("lipstick",), ("lip_balm",))]
    assert planted["lift"] > 1.5 and 0.2 <= planted["confidence"] <= 0.6
    assert [r["lift"] for r in rules] == sorted((r["lift"] for r in rules), reverse=True)
    out = subprocess.run(
        [sys.executable, "-m", "portrait", "rules", "recommend", "lipstick", "-w",
         str(demo_ws.root), "-f", "json"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert any(r["consequent"] == ["lip_balm"] for r in json.loads(out.stdout))
    with pytest.raises(InputError, match="no column 'itemz'"):
        demo_ws.association_rules(item="itemz")
    with pytest.raises(InputError, match="between 0"):
        demo_ws.association_rules(min_support=0)
