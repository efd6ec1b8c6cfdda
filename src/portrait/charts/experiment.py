"""An experiment's effects at a glance: each comparison's relative effect with its interval
(a forest plot), one row per metric and pair, significant ones marked."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from portrait.charts.specs import _heading, _spec


def effects_chart(
    comparisons: Sequence[dict[str, Any]], *, title: str = "Effects", level: float = 0.95
) -> dict[str, Any]:
    """A campaign report's comparisons (``report["comparisons"]``): the relative effect of
    each group against its baseline on each metric, as a point with its interval (the
    relative interval; comparisons whose relative effect is undefined are left out), a rule
    at 0, significant ones (after the correction, or by the sequential interval) in colour."""
    values = [
        {
            "comparison": f"{c['label']}: {c['group']} vs {c['baseline']}",
            "effect": c["relative"],
            "low": c["relative_low"] if c["relative_low"] is not None else c["relative"],
            "high": c["relative_high"] if c["relative_high"] is not None else c["relative"],
            "significant": "significant" if c["significant"] else "not significant",
            "p": c["p_adjusted"],
        }
        for c in comparisons
        if c.get("relative") is not None
    ]
    order = [v["comparison"] for v in values]
    y = {"field": "comparison", "type": "nominal", "sort": order, "title": None}
    x_title = f"relative effect ({level:.0%} interval)"
    color = {
        "field": "significant",
        "type": "nominal",
        "title": None,
        "scale": {
            "domain": ["significant", "not significant"],
            "range": ["#1f77b4", "#9e9e9e"],
        },
    }
    tooltip = [
        {"field": "comparison", "type": "nominal"},
        {"field": "effect", "type": "quantitative", "format": "+.1%"},
        {"field": "low", "type": "quantitative", "format": "+.1%"},
        {"field": "high", "type": "quantitative", "format": "+.1%"},
        {"field": "p", "type": "quantitative", "format": ".3g", "title": "corrected p"},
    ]
    return _spec(
        "campaign_effects",
        _heading(title, "each group against its baseline; a line crossing 0 is no clear effect"),
        {
            "data": {"values": values},
            "width": 420,
            "height": {"step": 22},
            "layer": [
                {
                    "mark": {"type": "rule", "color": "#444", "strokeDash": [4, 3]},
                    "data": {"values": [{"zero": 0}]},
                    "encoding": {"x": {"field": "zero", "type": "quantitative"}},
                },
                {
                    "mark": {"type": "rule", "strokeWidth": 2},
                    "encoding": {
                        "y": y,
                        "x": {
                            "field": "low",
                            "type": "quantitative",
                            "title": x_title,
                            "axis": {"format": "+.0%"},
                        },
                        "x2": {"field": "high"},
                        "color": color,
                        "tooltip": tooltip,
                    },
                },
                {
                    "mark": {"type": "point", "filled": True, "size": 60},
                    "encoding": {
                        "y": y,
                        "x": {"field": "effect", "type": "quantitative"},
                        "color": color,
                        "tooltip": tooltip,
                    },
                },
            ],
        },
    )
