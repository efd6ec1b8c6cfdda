"""One Vega-Lite specification per report, built from the report's rows.

Each function takes the rows a report returns (the same dicts the CLI prints and the Python API
gives) and returns a complete Vega-Lite v5 specification with the data inline, so the same
chart can be written to a file here (:mod:`portrait.charts.output`) and shown by any Vega
runtime (a web page) unchanged. ``usermeta.portrait`` names the report the chart shows.

Longer than ~400 lines because it holds one short function per report (nine), sharing the
palette, axis and tooltip helpers; each function is read on its own.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"
#: CSS font list: a CJK font first so Chinese labels render, then common fallbacks
FONT = (
    "Noto Sans CJK SC, Source Han Sans SC, WenQuanYi Micro Hei, PingFang SC, "
    "Microsoft YaHei, DejaVu Sans, sans-serif"
)
OVER, UNDER, NOT_SIGNIFICANT = "over-represented", "under-represented", "not significant"
_DIRECTION_COLORS = {OVER: "#d62728", UNDER: "#1f77b4", NOT_SIGNIFICANT: "#9e9e9e"}
#: TGI is drawn on a log axis (100 in the middle, ×2 and ÷2 equally far); values are clipped
_TGI_FLOOR, _TGI_CEILING = 1.0, 100_000.0
_LABEL_LIMIT = 260


def _spec(report: str, title: str | dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    return {
        "$schema": SCHEMA,
        "title": title if isinstance(title, dict) else {"text": title, "anchor": "start"},
        **body,
        "config": {
            "font": FONT,
            "view": {"stroke": None},
            "axis": {"labelFontSize": 11, "titleFontSize": 12, "labelLimit": _LABEL_LIMIT},
            "title": {"fontSize": 15, "subtitleFontSize": 12, "subtitleColor": "#555"},
            "legend": {"labelFontSize": 11, "titleFontSize": 12},
        },
        "usermeta": {"portrait": {"report": report, "version": 1}},
    }


def _heading(title: str, subtitle: str | None) -> dict[str, Any]:
    heading: dict[str, Any] = {"text": title, "anchor": "start"}
    if subtitle:
        heading["subtitle"] = subtitle
    return heading


def _tgi_axis_value(value: float | None) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return min(max(float(value), _TGI_FLOOR), _TGI_CEILING)


def _direction(row: dict[str, Any]) -> str:
    if not row.get("significant"):
        return NOT_SIGNIFICANT
    return OVER if (row.get("tgi") or 0) >= 100 else UNDER


def _insight_data(rows: Sequence[dict[str, Any]], *, with_tag: bool) -> list[dict[str, Any]]:
    data = []
    for r in rows:
        label = f"{r['tag']} = {r['value']}" if with_tag else str(r["value"])
        tgi = r.get("tgi")
        data.append(
            {
                "label": label,
                "tag": r["tag"],
                "value": str(r["value"]),
                "target": r["target"],
                "baseline": r["baseline"],
                "target_share": r["target_share"],
                "baseline_share": r["baseline_share"],
                "tgi": tgi,
                "tgi_plot": _tgi_axis_value(tgi),
                "tgi_low_plot": _tgi_axis_value(r.get("tgi_low")),
                "tgi_high_plot": _tgi_axis_value(r.get("tgi_high")),
                # text goes right of the interval, not over it
                "text_at": _tgi_axis_value(
                    max(x for x in (tgi, r.get("tgi_high")) if x is not None)
                )
                if tgi is not None
                else None,
                "tgi_text": "" if tgi is None else f"{tgi:.0f}",
                "p_value": r.get("p_value"),
                "direction": _direction(r),
            }
        )
    return data


def _tooltip() -> list[dict[str, Any]]:
    return [
        {"field": "label", "title": "value"},
        {"field": "target", "title": "members in target", "format": ","},
        {"field": "target_share", "title": "share in target", "format": ".1%"},
        {"field": "baseline", "title": "members in baseline", "format": ","},
        {"field": "baseline_share", "title": "share in baseline", "format": ".1%"},
        {"field": "tgi", "title": "TGI", "format": ".0f"},
        {"field": "p_value", "title": "p-value", "format": ".2g"},
    ]


def _tgi_layers(y: dict[str, Any], *, text: bool) -> list[dict[str, Any]]:
    """Reference line at 100, the 95% interval as a rule, the TGI as a coloured dot."""
    x_scale = {"type": "log", "domainMid": 100}
    color = {
        "field": "direction",
        "type": "nominal",
        "title": None,
        "scale": {"domain": list(_DIRECTION_COLORS), "range": list(_DIRECTION_COLORS.values())},
        "legend": {"orient": "bottom"},
    }
    layers: list[dict[str, Any]] = [
        {
            "mark": {"type": "rule", "color": "#444", "strokeDash": [4, 3]},
            "encoding": {"x": {"datum": 100, "type": "quantitative", "scale": x_scale}},
        },
        {
            "transform": [{"filter": "datum.tgi_low_plot != null"}],
            "mark": {"type": "rule", "strokeWidth": 2, "opacity": 0.55},
            "encoding": {
                "y": y,
                "x": {"field": "tgi_low_plot", "type": "quantitative", "scale": x_scale},
                "x2": {"field": "tgi_high_plot"},
                "color": color,
            },
        },
        {
            "transform": [{"filter": "datum.tgi_plot != null"}],
            "mark": {"type": "point", "filled": True, "size": 60},
            "encoding": {
                "y": y,
                "x": {
                    "field": "tgi_plot",
                    "type": "quantitative",
                    "scale": x_scale,
                    "title": "TGI (log scale; line = 100, bar = 95% interval)",
                },
                "color": color,
                "tooltip": _tooltip(),
            },
        },
    ]
    if text:
        layers.append(
            {
                "transform": [{"filter": "datum.text_at != null"}],
                "mark": {"type": "text", "align": "left", "dx": 6, "fontSize": 11},
                "encoding": {
                    "y": y,
                    "x": {"field": "text_at", "type": "quantitative", "scale": x_scale},
                    "text": {"field": "tgi_text"},
                },
            }
        )
    return layers


def insight_chart(
    rows: Sequence[dict[str, Any]],
    *,
    title: str = "Insight",
    subtitle: str | None = None,
) -> dict[str, Any]:
    """Insight rows (``ws.insight(...).rows``, in the order to draw): per value a bar of its
    share in the target with a tick at its share in the baseline, and beside it the TGI with
    its 95% interval, coloured by significance and direction."""
    data = _insight_data(rows, with_tag=len({r["tag"] for r in rows}) > 1)
    y = {"field": "label", "type": "nominal", "sort": None, "title": None}
    shares = {
        "width": 280,
        "height": {"step": 18},
        "layer": [
            {
                "mark": {"type": "bar", "color": "#4c78a8", "height": {"band": 0.7}},
                "encoding": {
                    "y": y,
                    "x": {
                        "field": "target_share",
                        "type": "quantitative",
                        "axis": {"format": ".0%"},
                        "title": "share in target (bar) and baseline (tick)",
                    },
                    "tooltip": _tooltip(),
                },
            },
            {
                "mark": {"type": "tick", "color": "#111", "thickness": 2},
                "encoding": {
                    "y": y,
                    "x": {"field": "baseline_share", "type": "quantitative"},
                    "tooltip": _tooltip(),
                },
            },
        ],
    }
    tgi_y = {**y, "axis": None}
    tgi = {"width": 260, "height": {"step": 18}, "layer": _tgi_layers(tgi_y, text=True)}
    return _spec(
        "insight",
        _heading(title, subtitle),
        {
            "data": {"values": data},
            "hconcat": [shares, tgi],
            "resolve": {"scale": {"y": "shared"}},
        },
    )


def distinctive_chart(
    rows: Sequence[dict[str, Any]],
    *,
    title: str = "Distinctive features",
    subtitle: str | None = None,
) -> dict[str, Any]:
    """The distinctive values (``ws.distinctive(...)``), strongest first: TGI with its 95%
    interval and the target and baseline shares as text."""
    data = _insight_data(rows, with_tag=True)
    for d in data:
        d["shares_text"] = f"{d['target_share']:.0%} vs {d['baseline_share']:.0%}"
        d["tgi_text"] = f"TGI {d['tgi_text']} · {d['shares_text']}" if d["tgi_text"] else ""
    y = {"field": "label", "type": "nominal", "sort": None, "title": None}
    return _spec(
        "distinctive",
        _heading(title, subtitle),
        {
            "data": {"values": data},
            "width": 420,
            "height": {"step": 22},
            "layer": _tgi_layers(y, text=True),
        },
    )


def cross_chart(rows: Sequence[dict[str, Any]], *, title: str = "Cross-business") -> dict[str, Any]:
    """The cross matrix (``ws.cross(...)``) as a heatmap: row A, column B, colour = lift of
    A → B (diverging at 1), text = confidence and lift; flagged pairs outlined."""
    names = list(dict.fromkeys([r["a"] for r in rows] + [r["b"] for r in rows]))
    data = [
        {
            **{k: r[k] for k in ("a", "b", "size_a", "size_b", "both", "flagged")},
            "support": r["support"],
            "confidence": r["confidence"],
            "lift": r["lift"],
            "overlap_union": r["overlap_union"],
            "lift_plot": None if r["lift"] is None else max(float(r["lift"]), 1e-3),
            "text": [
                f"{r['confidence']:.1%}" if r["confidence"] is not None else "",
                f"lift {r['lift']:.2f}" if r["lift"] is not None else "",
            ],
        }
        for r in rows
    ]
    x = {"field": "b", "type": "nominal", "sort": names, "title": "B", "axis": {"labelAngle": -30}}
    y = {"field": "a", "type": "nominal", "sort": names, "title": "A"}
    tooltip = [
        {"field": "a", "title": "A"},
        {"field": "b", "title": "B"},
        {"field": "size_a", "title": "|A|", "format": ","},
        {"field": "size_b", "title": "|B|", "format": ","},
        {"field": "both", "title": "|A∩B|", "format": ","},
        {"field": "overlap_union", "title": "overlap/union", "format": ".2%"},
        {"field": "support", "title": "support", "format": ".2%"},
        {"field": "confidence", "title": "confidence A→B", "format": ".1%"},
        {"field": "lift", "title": "lift", "format": ".2f"},
        {"field": "flagged", "title": "flagged"},
    ]
    return _spec(
        "cross",
        {
            "text": title,
            "subtitle": "cell: confidence A→B and lift; colour: lift (1 = independent); "
            "outlined: flagged",
            "anchor": "start",
        },
        {
            "data": {"values": data},
            "width": {"step": 92},
            "height": {"step": 48},
            "layer": [
                {
                    "mark": {"type": "rect"},
                    "encoding": {
                        "x": x,
                        "y": y,
                        "color": {
                            "field": "lift_plot",
                            "type": "quantitative",
                            "title": "lift",
                            "scale": {
                                "type": "log",
                                "scheme": "redblue",
                                "reverse": True,
                                "domainMid": 1,
                            },
                        },
                        "tooltip": tooltip,
                    },
                },
                {
                    "transform": [{"filter": "datum.flagged"}],
                    "mark": {"type": "rect", "fill": None, "stroke": "#111", "strokeWidth": 2.5},
                    "encoding": {"x": x, "y": y},
                },
                {
                    "mark": {"type": "text", "fontSize": 11, "lineHeight": 14},
                    "encoding": {
                        "x": x,
                        "y": y,
                        "text": {"field": "text"},
                        # white on the dark ends of the colour scale
                        "color": {
                            "condition": {
                                "test": "datum.lift_plot > 3 || datum.lift_plot < 0.6",
                                "value": "white",
                            },
                            "value": "#111",
                        },
                        "tooltip": tooltip,
                    },
                },
            ],
        },
    )


def rfm_chart(rows: Sequence[dict[str, Any]], *, title: str = "RFM segments") -> dict[str, Any]:
    """The RFM report (``ws.rfm_report(...)``): users per segment as bars, share as text."""
    data = [
        {
            **r,
            "group": str(r["segment"])[:2],
            "share_text": f"{r['users']:,} · {r['share']:.1%}",
        }
        for r in rows
    ]
    y = {"field": "segment", "type": "nominal", "sort": "-x", "title": None}
    tooltip = [
        {"field": k, "title": k, **({"format": ".2f"} if k.startswith("avg_") else {})}
        for k in ("segment", "users", "share", "avg_r", "avg_f", "avg_m")
        if not rows or k in rows[0]
    ]
    return _spec(
        "rfm",
        title,
        {
            "data": {"values": data},
            "width": 380,
            "height": {"step": 26},
            "layer": [
                {
                    "mark": {"type": "bar", "height": {"band": 0.7}},
                    "encoding": {
                        "y": y,
                        "x": {
                            "field": "users",
                            "type": "quantitative",
                            "title": "users",
                            # room for the text right of the longest bar
                            "scale": {
                                "domainMax": 1.3 * max((r["users"] for r in rows), default=1)
                            },
                        },
                        "color": {"field": "group", "type": "nominal", "legend": None},
                        "tooltip": tooltip,
                    },
                },
                {
                    "mark": {"type": "text", "align": "left", "dx": 4, "fontSize": 11},
                    "encoding": {
                        "y": y,
                        "x": {"field": "users", "type": "quantitative"},
                        "text": {"field": "share_text"},
                    },
                },
            ],
        },
    )


def history_chart(rows: Sequence[dict[str, Any]], *, title: str) -> dict[str, Any]:
    """A segment's size over time (``portrait segment history``): one point per evaluation."""
    tooltip = [
        {
            "field": "evaluated_at",
            "type": "temporal",
            "title": "evaluated",
            "timeUnit": None,
            "format": "%Y-%m-%d %H:%M:%S",
        },
        {"field": "size", "type": "quantitative", "format": ","},
        {"field": "share", "type": "quantitative", "format": ".2%"},
        {"field": "profile_version", "type": "nominal", "title": "profile version"},
        {"field": "as_of", "type": "nominal", "title": "as of"},
    ]
    x = {"field": "evaluated_at", "type": "temporal", "title": "evaluated at"}
    y = {"field": "size", "type": "quantitative", "title": "members", "scale": {"zero": False}}
    return _spec(
        "segment_history",
        title,
        {
            "data": {"values": list(rows)},
            "width": 480,
            "height": 240,
            "layer": [
                {
                    "mark": {"type": "line", "interpolate": "step-after"},
                    "encoding": {"x": x, "y": y},
                },
                {
                    "mark": {"type": "point", "filled": True, "size": 50},
                    "encoding": {"x": x, "y": y, "tooltip": tooltip},
                },
            ],
        },
    )


def rules_chart(
    rows: Sequence[dict[str, Any]], *, title: str = "Association rules", labels: int = 8
) -> dict[str, Any]:
    """Association rules (``ws.association_rules(...)``): support against confidence, the dot's
    size and colour its lift; the ``labels`` strongest by lift are named."""
    data = [
        {
            **{k: r[k] for k in ("support", "confidence", "lift", "leverage", "baskets")},
            "conviction": None
            if r["conviction"] is None or math.isinf(r["conviction"])
            else r["conviction"],
            "rule": f"{' + '.join(r['antecedent'])} → {' + '.join(r['consequent'])}",
        }
        for r in rows
    ]
    strongest = {d["rule"] for d in sorted(data, key=lambda d: -d["lift"])[:labels]}
    widest = max((d["support"] for d in data), default=0.0)
    for d in data:
        d["name"] = d["rule"] if d["rule"] in strongest else ""
        d["left"] = d["support"] > 0.6 * widest  # names near the right edge go to the left
    x = {"field": "support", "type": "quantitative", "axis": {"format": ".1%"}, "title": "support"}
    y = {
        "field": "confidence",
        "type": "quantitative",
        "axis": {"format": ".0%"},
        "title": "confidence",
    }
    tooltip = [
        {"field": "rule"},
        {"field": "baskets", "format": ","},
        {"field": "support", "format": ".2%"},
        {"field": "confidence", "format": ".1%"},
        {"field": "lift", "format": ".2f"},
        {"field": "leverage", "format": ".4f"},
        {"field": "conviction", "format": ".2f"},
    ]
    return _spec(
        "rules",
        title,
        {
            "data": {"values": data},
            "width": 480,
            "height": 320,
            "layer": [
                {
                    "mark": {"type": "circle", "opacity": 0.75},
                    "encoding": {
                        "x": x,
                        "y": y,
                        "size": {"field": "lift", "type": "quantitative", "legend": None},
                        "color": {
                            "field": "lift",
                            "type": "quantitative",
                            "title": "lift (colour and size)",
                            "scale": {"scheme": "orangered"},
                            "legend": {"orient": "bottom", "direction": "horizontal"},
                        },
                        "tooltip": tooltip,
                    },
                },
                *(
                    {
                        "transform": [{"filter": f"{'' if left else '!'}datum.left"}],
                        "mark": {
                            "type": "text",
                            "align": "right" if left else "left",
                            "dx": -9 if left else 9,
                            "dy": -7,
                            "fontSize": 10,
                        },
                        "encoding": {"x": x, "y": y, "text": {"field": "name"}},
                    }
                    for left in (False, True)
                ),
            ],
        },
    )


FUNNEL_STEPS = ("targeted", "sent", "delivered", "clicked", "converted")


def funnel_chart(rows: Sequence[dict[str, Any]], *, title: str = "Campaign") -> dict[str, Any]:
    """A campaign report's groups (``ws.campaigns().report(name)["groups"]``): the funnel
    targeted → sent → delivered → clicked → converted per variant and control, bars side by
    side: each step's share of the group's targeted users (groups of any size compare), the
    count as text."""
    data = []
    for r in rows:
        for step in FUNNEL_STEPS:
            value = int(r.get(step) or 0)
            share = value / r["targeted"] if r.get("targeted") else 0.0
            data.append(
                {
                    "group": r["group"],
                    "step": step,
                    "users": value,
                    "share": share,
                    "text": f"{value:,} ({share:.0%})",
                }
            )
    x = {
        "field": "step",
        "type": "nominal",
        "sort": list(FUNNEL_STEPS),
        "title": None,
        "axis": {"labelAngle": 0},
    }
    return _spec(
        "campaign_funnel",
        {
            "text": title,
            "subtitle": "share of each group's targeted users at each step; text: users",
            "anchor": "start",
        },
        {
            "data": {"values": data},
            "width": {"step": 34},
            "height": 260,
            "layer": [
                {
                    "mark": {"type": "bar"},
                    "encoding": {
                        "x": x,
                        "xOffset": {"field": "group", "type": "nominal"},
                        "y": {
                            "field": "share",
                            "type": "quantitative",
                            "title": "share of targeted",
                            "axis": {"format": ".0%"},
                        },
                        "color": {
                            "field": "group",
                            "type": "nominal",
                            "title": "group",
                            "legend": {"orient": "bottom"},
                        },
                        "tooltip": [
                            {"field": "group"},
                            {"field": "step"},
                            {"field": "users", "format": ","},
                            {"field": "share", "format": ".1%"},
                        ],
                    },
                },
                {
                    "mark": {"type": "text", "dy": -6, "fontSize": 9, "angle": 0},
                    "encoding": {
                        "x": x,
                        "xOffset": {"field": "group", "type": "nominal"},
                        "y": {"field": "share", "type": "quantitative"},
                        "text": {"field": "users", "format": ","},
                    },
                },
            ],
        },
    )
