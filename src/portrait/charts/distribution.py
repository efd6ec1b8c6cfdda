"""Charts of one tag or one segment's numbers: a tag's value distribution (bars, or a
histogram of its bins for numbers) and the overlap of two segments."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from portrait.charts.specs import _spec


def distribution_chart(
    rows: Sequence[dict[str, Any]], *, title: str, numeric: bool = False
) -> dict[str, Any]:
    """A tag's distribution (the catalog's ``distribution`` rows: value, count, share). For
    a numeric tag the values are its bins (``[18, 22)``), drawn in order as a histogram;
    other values are sorted by count. Suppressed counts (None) are left out."""
    values = [dict(r, value=str(r["value"])) for r in rows if r.get("count") is not None]
    order: Any = [r["value"] for r in values] if numeric else "-x"
    x = {"field": "count", "type": "quantitative", "title": "users", "axis": {"format": "~s"}}
    y = {"field": "value", "type": "nominal", "title": None, "sort": order}
    tooltip = [
        {"field": "value", "type": "nominal"},
        {"field": "count", "type": "quantitative", "format": ","},
        {"field": "share", "type": "quantitative", "format": ".2%"},
    ]
    return _spec(
        "tag_distribution",
        title,
        {
            "data": {"values": values},
            "width": 420,
            "height": {"step": 18},
            "mark": {"type": "bar", "color": "#4c78a8"},
            "encoding": {"x": x, "y": y, "tooltip": tooltip},
        },
    )


def overlap_chart(a: str, b: str, only_a: int, both: int, only_b: int) -> dict[str, Any]:
    """Two segments' overlap as one stacked bar (a Venn diagram's three regions, to scale)."""
    rows = [
        {"part": f"only {a}", "users": only_a, "order": 0},
        {"part": "both", "users": both, "order": 1},
        {"part": f"only {b}", "users": only_b, "order": 2},
    ]
    return _spec(
        "segment_overlap",
        f"{a} and {b}",
        {
            "data": {"values": rows},
            "width": 480,
            "height": 60,
            "mark": {"type": "bar"},
            "encoding": {
                "x": {"field": "users", "type": "quantitative", "stack": "zero", "title": "users"},
                "color": {
                    "field": "part",
                    "type": "nominal",
                    "sort": [r["part"] for r in rows],
                    "scale": {"range": ["#4c78a8", "#9467bd", "#f58518"]},
                    "title": None,
                },
                "order": {"field": "order"},
                "tooltip": [
                    {"field": "part", "type": "nominal"},
                    {"field": "users", "type": "quantitative", "format": ","},
                ],
            },
        },
    )
