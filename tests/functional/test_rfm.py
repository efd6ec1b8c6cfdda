"""RFM tags: scores and segments as defined, checked against pandas."""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd

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
