"""RFM tags: scores and segments as defined, checked against pandas."""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from portrait.cli import app
from portrait.errors import InputError
from portrait.model.tags import RFM_SEGMENTS
from portrait.workspace import Workspace

RFM_TAGS = """
category: rfm
tags:
  - {name: rfm_r, kind: rfm, score: r}
  - {name: rfm_f, kind: rfm, score: f}
  - {name: rfm_m, kind: rfm, score: m}
  - {name: rfm_segment, kind: rfm, score: segment}
  - {name: rfm_r_90d, kind: rfm, score: r, window: 90d, scores: 3}
"""


def _reference(orders: pd.DataFrame, as_of: dt.date, days: int, scores: int) -> pd.DataFrame:
    start = pd.Timestamp(as_of - dt.timedelta(days=days - 1))
    end = pd.Timestamp(as_of + dt.timedelta(days=1))
    window = orders[(orders.ts >= start) & (orders.ts < end)]
    g = window.groupby("user_id")
    base = pd.DataFrame(
        {
            "recency": g.ts.max().dt.date.map(lambda d: (as_of - d).days),
            "frequency": g.size(),
            "monetary": g.amount.sum(),
        }
    )
    n = len(base)
    for col, column, ascending in (
        ("r", "recency", False),
        ("f", "frequency", True),
        ("m", "monetary", True),
    ):
        rank = base[column].rank(method="min", ascending=ascending)
        base[col] = [1 + math.floor(scores * (r - 1) / n) for r in rank]
    letters = pd.DataFrame(
        {c: (base[c] > base[c].mean()).map({True: "H", False: "L"}) for c in "rfm"}
    )
    base["segment"] = (letters.r + letters.f + letters.m).map(RFM_SEGMENTS)
    return base


def test_rfm_tags_match_pandas(demo_ws: Workspace) -> None:
    (demo_ws.root / "tags" / "rfm.yaml").write_text(RFM_TAGS, encoding="utf-8")
    demo_ws.build()
    as_of = dt.date.fromisoformat(demo_ws.built.manifest["as_of"])
    warehouse = demo_ws.warehouse
    assert warehouse.path is not None
    orders = pd.concat(pd.read_parquet(p) for p in warehouse.tables["orders"].paths(warehouse.path))
    orders["ts"] = pd.to_datetime(orders["ts"]).dt.tz_localize(None)
    profile = (
        demo_ws.profile(["rfm_r", "rfm_f", "rfm_m", "rfm_segment", "rfm_r_90d"])
        .to_pandas()
        .set_index("user_id")
    )
    ref = _reference(orders, as_of, 365, 5)
    scored = profile.dropna(subset=["rfm_segment"])
    assert set(scored.index) == set(ref.index)
    for col in "rfm":
        assert (scored[f"rfm_{col}"].astype(int) == ref.loc[scored.index, col]).all(), col
    assert (scored["rfm_segment"] == ref.loc[scored.index, "segment"]).all()
    assert profile.drop(scored.index)["rfm_r"].isna().all()  # no orders: no scores
    short = _reference(orders, as_of, 90, 3)
    got = profile["rfm_r_90d"].dropna().astype(int)
    assert (got == short.loc[got.index, "r"]).all()
    assert set(got.unique()) <= {1, 2, 3}
    report = demo_ws.rfm_report("rfm_segment")
    assert sum(r["users"] for r in report) == len(scored)
    top = next(r for r in report if r["segment"] == "重要价值")
    members = ref[ref.segment == "重要价值"]
    assert top["users"] == len(members)
    assert abs(top["avg_r"] - members.r.mean()) < 1e-9


def _orders(ws: Workspace) -> pd.DataFrame:
    warehouse = ws.warehouse
    assert warehouse.path is not None
    orders = pd.concat(pd.read_parquet(p) for p in warehouse.tables["orders"].paths(warehouse.path))
    orders["ts"] = pd.to_datetime(orders["ts"]).dt.tz_localize(None)
    return orders


def test_rfm_on_the_fly_matches_pandas(demo_ws: Workspace) -> None:
    """``--window``/``--scores`` compute from the orders: every segment's size and means agree
    with pandas, all 8 segments are listed, and the default equals the built tags' report."""
    as_of = dt.date.fromisoformat(demo_ws.built.manifest["as_of"])
    ref = _reference(_orders(demo_ws), as_of, 90, 3)
    report = demo_ws.rfm_report(window="90d", scores=3)
    assert sorted(r["segment"] for r in report) == sorted(RFM_SEGMENTS.values())
    assert sum(r["users"] for r in report) == len(ref)
    for row in report:
        members = ref[ref.segment == row["segment"]]
        assert row["users"] == len(members), row["segment"]
        assert row["share"] == pytest.approx(len(members) / len(ref), abs=1e-12)
        if len(members):
            for key, column in [
                ("avg_r", "r"),
                ("avg_f", "f"),
                ("avg_m", "m"),
                ("avg_recency_days", "recency"),
                ("avg_orders", "frequency"),
                ("avg_amount", "monetary"),
            ]:
                assert row[key] == pytest.approx(members[column].mean(), rel=1e-9), key
        else:
            assert row["avg_r"] is None
    by_tags = {r["segment"]: r for r in demo_ws.rfm_report()}  # the demo's built rfm tags
    computed = {r["segment"]: r for r in demo_ws.rfm_report(window="365d", scores=5)}
    for label, row in by_tags.items():
        assert computed[label]["users"] == row["users"]
        for key in ("avg_r", "avg_f", "avg_m"):
            if row[key] is not None:
                assert computed[label][key] == pytest.approx(row[key], rel=1e-12)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"window": "9x"}, "bad RFM window '9x'"),
        ({"window": "0d"}, "bad RFM window '0d'"),
        ({"scores": 1}, "bad RFM scores 1"),
        ({"scores": 11}, "bad RFM scores 11"),
    ],
)
def test_rfm_bad_options(demo_ws: Workspace, options: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError, match=message):
        demo_ws.rfm_report(**options)


def test_rfm_cli_window_and_scores(demo_ws: Workspace) -> None:
    result = CliRunner().invoke(
        app, ["rfm", "--window", "90d", "--scores", "3", "-w", str(demo_ws.root), "-f", "json"]
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert {r["segment"] for r in rows} == set(RFM_SEGMENTS.values())
    assert rows == demo_ws.rfm_report(window="90d", scores=3)
    bad = CliRunner().invoke(app, ["rfm", "--scores", "12", "-w", str(demo_ws.root)])
    assert bad.exit_code == 2
    assert "bad RFM scores 12" in bad.output
