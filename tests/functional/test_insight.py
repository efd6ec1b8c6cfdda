"""Insight counts agree with GROUP BY queries over the profile; TGI, missing values and
significance follow their definitions."""

from __future__ import annotations

import importlib

import duckdb
import pytest

import portrait
from portrait.analysis import ranked
from portrait.errors import InputError, NotFoundError
from portrait.index import RangeIndex, ValueIndex
from portrait.index import counting as plans
from portrait.workspace import Workspace

# the module, not the ``insight`` function that ``portrait.analysis`` exports under its name
counting = importlib.import_module("portrait.analysis.counting")

TARGET = 'city in ("北京", "上海") and gender = "女"'


def _sql_counts(ws: Workspace, tag: str, where: str) -> dict[str, int]:
    con = duckdb.connect()
    rows = con.execute(
        f"SELECT CAST({tag} AS VARCHAR), count(*) FROM read_parquet('{ws.built.profile_file}')"
        f" WHERE {where} AND {tag} IS NOT NULL GROUP BY 1"
    ).fetchall()
    return {str(v): int(n) for v, n in rows}


def test_counts_shares_and_tgi_match_sql(demo_ws: Workspace) -> None:
    report = demo_ws.insight(TARGET, tags=["age_band", "education"])
    where = "city IN ('北京', '上海') AND gender = '女'"
    for tag in ("age_band", "education"):
        target = _sql_counts(demo_ws, tag, where)
        everyone = _sql_counts(demo_ws, tag, "TRUE")
        rows = {r["value"]: r for r in report.rows if r["tag"] == tag and not r["missing"]}
        assert {v: r["target"] for v, r in rows.items() if r["target"]} == target
        assert {v: r["baseline"] for v, r in rows.items()} == everyone
        t_total, b_total = sum(target.values()), sum(everyone.values())
        for value, row in rows.items():
            share_t = target.get(value, 0) / t_total
            share_b = everyone[value] / b_total
            assert row["target_share"] == pytest.approx(share_t)
            assert row["tgi"] == pytest.approx(share_t / share_b * 100)
    assert report.target_size == len(demo_ws.select(TARGET))


def test_missing_values_are_their_own_row_or_a_value(demo_ws: Workspace) -> None:
    tag = "second_hand_intent"  # most users have none
    plain = demo_ws.insight(TARGET, tags=[tag])
    missing = next(r for r in plain.rows if r["missing"])
    known = [r for r in plain.rows if not r["missing"]]
    size = plain.target_size
    assert missing["target"] + sum(r["target"] for r in known) == size
    assert missing["target_share"] == pytest.approx(missing["target"] / size)
    assert sum(r["target_share"] for r in known) == pytest.approx(1.0)  # valid percent
    with_missing = demo_ws.insight(TARGET, tags=[tag], include_missing=True)
    assert sum(r["target_share"] for r in with_missing.rows) == pytest.approx(1.0)
    assert sum(1 for r in with_missing.rows if r["missing"]) == 1


def test_numeric_tags_use_their_breakpoints(demo_ws: Workspace) -> None:
    report = demo_ws.insight(TARGET, tags=["age", "spend_365d"])
    for tag in ("age", "spend_365d"):
        rows = [r for r in report.rows if r["tag"] == tag and not r["missing"]]
        assert (
            sum(r["target"] for r in rows)
            + next(r["target"] for r in report.rows if r["tag"] == tag and r["missing"])
            == report.target_size
        )
    sql = _sql_counts(demo_ws, "age", "city IN ('北京', '上海') AND gender = '女'")
    bins = [r for r in report.rows if r["tag"] == "age" and not r["missing"]]
    assert 1 < len(bins) <= 12
    for row in bins:  # labels are "≤ b", "(a, b]" or a single value
        label = row["value"]
        if label.startswith("≤"):
            low, high = -1e9, float(label[1:])
        elif label.startswith("("):
            low, high = (float(x) for x in label.strip("(]").split(","))
        else:
            low, high = float(label) - 0.5, float(label)
        expected = sum(n for v, n in sql.items() if low < float(v) <= high)
        assert row["target"] == expected, label


def test_significance_and_ranking(demo_ws: Workspace) -> None:
    report = demo_ws.insight('events("view", line="new_house", last="90d") >= 3')
    top = ranked(report.rows)[0]
    assert top["significant"] and top["p_value"] < 0.05
    for row in report.rows:
        if row["target"] < 30:
            assert not row["significant"]  # min_count
        if row["tgi_low"] is not None:
            assert row["tgi_low"] <= row["tgi"] <= row["tgi_high"]
    distinct = demo_ws.distinctive('events("view", line="new_house", last="90d") >= 3', top=5)
    assert distinct and all(r["tgi_low"] > 100 for r in distinct)
    assert [r["tgi_low"] for r in distinct] == sorted(
        (r["tgi_low"] for r in distinct), reverse=True
    )


def test_baselines_segments_and_edge_cases(demo_ws: Workspace) -> None:
    demo_ws.segments.create("beijing", 'city = "北京"')
    inside = demo_ws.insight(
        'segment("beijing") and gender = "女"', baseline="beijing", tags=["gender"]
    )
    female = next(r for r in inside.rows if r["value"] == "女")
    assert female["target_share"] == 1.0 and inside.baseline == "beijing"
    same = demo_ws.insight("beijing", baseline="beijing", tags=["age_band"])
    assert all(r["tgi"] in (None, pytest.approx(100.0)) for r in same.rows if not r["missing"])
    empty = demo_ws.insight('city = "北京" and city = "上海"', tags=["age_band"])
    assert empty.target_size == 0
    assert all(r["target"] == 0 and r["target_share"] == 0.0 for r in empty.rows)
    with pytest.raises(NotFoundError, match="did you mean 'age_band'"):
        demo_ws.insight(TARGET, tags=["age_bnd"])
    with pytest.raises(InputError, match="cannot be negative"):
        demo_ws.insight(TARGET, tags=["gender"], min_count=-1)


def test_counting_shortcuts_change_no_row(
    demo_ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Derived counts, complements and numeric bins are chosen by estimated cost (the small
    demo needs few of them); forcing complements and bins everywhere gives the same rows, and
    every value count is the plain intersection count."""
    demo_ws.segments.create("beijing", 'city = "北京"')
    cases = [
        (TARGET, {}),
        ("age >= 30", {"include_missing": True}),
        ('city = "北京" and age_band = "35-40"', {"baseline": "beijing"}),
        ('city = "北京" and city = "上海"', {}),
    ]
    plain = [demo_ws.insight(target, **options).rows for target, options in cases]
    index = demo_ws.index()
    for (target, _), rows in zip(cases, plain, strict=True):
        members = demo_ws.select(target).bitmap
        for row in rows:
            tag = index.tag(row["tag"])
            if isinstance(tag, ValueIndex) and not row["missing"]:
                assert row["target"] == tag.get(row["value"]).intersection_cardinality(members)
    monkeypatch.setattr(plans, "COMPLEMENT_GAIN", 0.0)
    monkeypatch.setattr(plans, "BINS_GAIN", float("inf"))
    forced = portrait.open(demo_ws.root)  # a fresh index: counters are kept per loaded index
    for (target, options), rows in zip(cases, plain, strict=True):
        assert forced.insight(target, **options).rows == rows
    types = {n: str(m["type"]) for n, m in forced.selector().profile.tags.items()}
    used = {r["tag"]: forced.index().tag(r["tag"]) for r in plain[0]}
    counters = {t: counting.tag_counter(i, types[t]).plan for t, i in used.items()}
    assert any(term._complement is not None for c in counters.values() for term in c.terms)
    assert all(not c.cumulative for t, c in counters.items() if isinstance(used[t], RangeIndex))
