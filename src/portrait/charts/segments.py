"""Small charts of saved segments: a size sparkline (a segment's snapshot history as a tiny
line, for a list of segments)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from portrait.charts.specs import _spec


def size_sparkline(
    rows: Sequence[dict[str, Any]], *, width: int = 120, height: int = 28
) -> dict[str, Any]:
    """A segment's size at each evaluation (the rows of its history: ``evaluated_at``,
    ``size``) as a line without axes; sizes suppressed under disclosure control (None) are
    left out, so the line shows only released numbers."""
    values = [
        {"evaluated_at": r["evaluated_at"], "size": r["size"]}
        for r in rows
        if r.get("size") is not None
    ]
    x = {"field": "evaluated_at", "type": "temporal", "axis": None}
    y = {"field": "size", "type": "quantitative", "axis": None, "scale": {"zero": False}}
    tooltip = [
        {"field": "evaluated_at", "type": "temporal", "format": "%Y-%m-%d %H:%M"},
        {"field": "size", "type": "quantitative", "format": ","},
    ]
    spec = _spec(
        "segment_sparkline",
        "",
        {
            "data": {"values": values},
            "width": width,
            "height": height,
            "padding": 2,
            "layer": [
                {"mark": {"type": "line", "interpolate": "step-after", "strokeWidth": 1.5}},
                {
                    "mark": {"type": "point", "filled": True, "size": 14},
                    "encoding": {"tooltip": tooltip},
                },
            ],
            "encoding": {"x": x, "y": y},
        },
    )
    spec.pop("title")
    return spec
