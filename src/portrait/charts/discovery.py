"""Charts of the discovery reports: feature ranking bars, the niche heatmap, the silhouette
curve, the personas' shares and the heatmap of a cube's two-dimension intersections."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from portrait.charts.specs import _heading, _spec


def ranking_chart(
    rows: Sequence[dict[str, Any]],
    *,
    by: str = "mutual_info",
    title: str = "Feature ranking",
    subtitle: str | None = None,
) -> dict[str, Any]:
    """The ranking (``ws.discovery.rank(...)``): a bar per tag (its title, best first), length
    = the measure ranked by, colour = the direction (higher / lower in the target for numbers),
    the most over-represented value as text."""
    data = []
    for r in rows:
        value = r.get(by)
        if value is None:
            continue
        direction = r.get("direction") or {}
        higher = r.get("higher_in_target")
        data.append(
            {
                "tag": r["tag"],
                "name": f"{r['title']} ({r['tag']})" if r["title"] != r["tag"] else r["tag"],
                "value": abs(float(value)),
                "signed": float(value),
                "coverage": r.get("coverage"),
                "direction": "higher in target"
                if higher is True
                else "lower in target"
                if higher is False
                else "categories",
                "text": direction.get("label", ""),
            }
        )
    y = {"field": "name", "type": "nominal", "sort": None, "title": None}
    x = {
        "field": "value",
        "type": "quantitative",
        "title": by.replace("_", " "),
        "axis": {"tickCount": 5, "format": "~g"},
    }
    tooltip = [
        {"field": "tag", "type": "nominal"},
        {"field": "signed", "type": "quantitative", "format": ".4f", "title": by},
        {"field": "coverage", "type": "quantitative", "format": ".1%"},
        {"field": "text", "type": "nominal", "title": "most over-represented"},
    ]
    return _spec(
        "ranking",
        _heading(title, subtitle),
        {
            "data": {"values": data},
            "width": 420,
            "height": {"step": 20},
            "layer": [
                {
                    "mark": {"type": "bar"},
                    "encoding": {
                        "x": x,
                        "y": y,
                        "color": {
                            "field": "direction",
                            "type": "nominal",
                            "title": None,
                            "scale": {
                                "domain": ["higher in target", "lower in target", "categories"],
                                "range": ["#d6604d", "#4393c3", "#9e9e9e"],
                            },
                        },
                        "tooltip": tooltip,
                    },
                },
                {
                    "mark": {"type": "text", "align": "left", "dx": 4, "fontSize": 10},
                    "encoding": {"x": x, "y": y, "text": {"field": "text"}},
                },
            ],
        },
    )


def _heatmap(
    x: dict[str, Any],
    y: dict[str, Any],
    colour: dict[str, Any],
    tooltip: list[Any],
    *between: dict[str, Any],
) -> list[dict[str, Any]]:
    """The layers of a heatmap: a coloured rect per cell, ``between`` (outlines), then the
    cell's users as text."""
    return [
        {"mark": {"type": "rect"},
         "encoding": {"x": x, "y": y, "color": colour, "tooltip": tooltip}},
        *between,
        {"mark": {"type": "text", "fontSize": 9},
         "encoding": {"x": x, "y": y, "text": {"field": "users", "format": "~s"}}},
    ]  # fmt: skip


def niche_chart(cube: dict[str, Any], *, title: str = "Niche groups") -> dict[str, Any]:
    """The cube (``ws.discovery.niche(...).to_dict()``) as a heatmap: columns the last tag's
    values, rows the other tags' values, colour the lift (diverging at 1, log scale), text the
    users; highlight cells outlined. Suppressed cells are left out."""
    tags = cube["tags"]
    data = []
    for c in cube["cells"]:
        if c.get("lift") is None or c.get("users") is None:
            continue
        values = c["values"]
        data.append(
            {
                "row": " · ".join(str(values[t]) for t in tags[:-1]),
                "column": str(values[tags[-1]]),
                "lift": max(float(c["lift"]), 1e-3),
                "users": c["users"],
                "metric": c["metric"],
                "highlight": bool(c["highlight"]),
                "label": c["label"],
            }
        )
    x = {"field": "column", "type": "nominal", "title": tags[-1], "axis": {"labelAngle": -30}}
    y = {"field": "row", "type": "nominal", "title": " · ".join(tags[:-1])}
    tooltip = [
        {"field": "label", "type": "nominal", "title": "cell"},
        {"field": "users", "type": "quantitative", "format": ","},
        {"field": "metric", "type": "quantitative", "format": ".4g"},
        {"field": "lift", "type": "quantitative", "format": ".2f"},
    ]
    colour = {
        "field": "lift",
        "type": "quantitative",
        "scale": {"type": "log", "scheme": "redblue", "reverse": True, "domainMid": 1},
        "legend": {"format": ".2~f"},
        "title": "lift",
    }
    overall = cube.get("overall")
    subtitle = f"{cube['metric']}: {overall:.4g} overall" if overall is not None else None
    return _spec(
        "niche",
        _heading(title, subtitle),
        {
            "data": {"values": data},
            "width": {"step": 44},
            "height": {"step": 18},
            "layer": _heatmap(
                x,
                y,
                colour,
                tooltip,
                {
                    "transform": [{"filter": "datum.highlight"}],
                    "mark": {"type": "rect", "fill": None, "stroke": "#111", "strokeWidth": 2},
                    "encoding": {"x": x, "y": y},
                },
            ),
        },
    )


def silhouette_chart(
    silhouette: dict[Any, float], *, chosen: int | None = None, title: str = "Personas"
) -> dict[str, Any]:
    """The silhouette of every k tried (``ws.personas.fit(...)["silhouette"]``) as a line, the
    chosen k marked: higher is better separated."""
    data = [
        {"k": int(k), "silhouette": float(v), "chosen": int(k) == chosen}
        for k, v in sorted(silhouette.items(), key=lambda kv: int(kv[0]))
    ]
    x = {"field": "k", "type": "ordinal", "title": "k (personas)", "axis": {"labelAngle": 0}}
    y = {"field": "silhouette", "type": "quantitative", "title": "silhouette"}
    return _spec(
        "silhouette",
        _heading(f"Silhouette by k: {title}", "higher is better separated"),
        {
            "data": {"values": data},
            "width": 360,
            "height": 200,
            "layer": [
                {"mark": {"type": "line", "point": True}, "encoding": {"x": x, "y": y}},
                {
                    "transform": [{"filter": "datum.chosen"}],
                    "mark": {"type": "point", "size": 140, "color": "#d6604d", "filled": True},
                    "encoding": {"x": x, "y": y},
                },
            ],
        },
    )


def persona_chart(cards: dict[str, Any], *, top: int = 2) -> dict[str, Any]:
    """The persona cards (``ws.personas.show(...)``): a bar per persona (its share), named,
    with its most distinctive values as text."""
    data = []
    for card in cards["personas"]:
        if card["share"] is None:
            continue
        traits = [
            f"{d['tag']} {d.get('label', d['value'])}"
            for d in card["distinctive"][:top]
            if d.get("tgi") is not None
        ]
        name = f"{card['persona']} · {card['name']}" if card["name"] else card["persona"]
        data.append({"persona": name, "share": card["share"], "traits": " · ".join(traits)})
    y = {"field": "persona", "type": "nominal", "sort": None, "title": None}
    x = {"field": "share", "type": "quantitative", "title": "share", "axis": {"format": "%"}}
    return _spec(
        "personas",
        _heading(f"Personas: {cards['title'] or cards['name']}", ", ".join(cards["features"])),
        {
            "data": {"values": data},
            "width": 420,
            "height": {"step": 26},
            "layer": [
                {"mark": {"type": "bar", "color": "#4c78a8"}, "encoding": {"x": x, "y": y}},
                {
                    "mark": {"type": "text", "align": "left", "dx": 4, "fontSize": 10},
                    "encoding": {"x": x, "y": y, "text": {"field": "traits"}},
                },
            ],
        },
    )


def cube_chart(cube: dict[str, Any], *, dimensions: Sequence[str] | None = None) -> dict[str, Any]:
    """A cube (``ws.cubes.show(...)``) as a heatmap of its two-dimension intersections: rows
    the first dimension's members, columns the second's (``dimensions``, default the cube's
    first two), colour and text the users. Suppressed cells are left out."""
    names = list(dimensions or list(cube["dimensions"])[:2])
    if len(names) != 2:
        raise ValueError("a cube heatmap needs two dimensions")
    first, second = names
    unknown = [n for n in names if n not in cube["dimensions"]]
    if unknown:
        raise ValueError(f"the cube has no dimension '{unknown[0]}'")
    data = [
        {
            "row": c["cell"][first],
            "column": c["cell"][second],
            "users": c["users"],
            "share": c["share"],
            "cell": c["key"],
        }
        for c in cube["cells"]
        if c["level"] == 2 and set(c["cell"]) == {first, second} and c["users"] is not None
    ]
    x = {"field": "column", "type": "nominal", "title": second, "axis": {"labelAngle": -30},
         "sort": cube["dimensions"][second]}  # fmt: skip
    y = {"field": "row", "type": "nominal", "title": first, "sort": cube["dimensions"][first]}
    tooltip = [
        {"field": "cell", "type": "nominal"},
        {"field": "users", "type": "quantitative", "format": ","},
        {"field": "share", "type": "quantitative", "format": ".2%"},
    ]
    colour = {"field": "users", "type": "quantitative", "scale": {"scheme": "blues"},
              "legend": {"format": "~s"}}  # fmt: skip
    return _spec(
        "cube",
        _heading(cube.get("title") or cube["name"], f"users in each {first} × {second} cell"),
        {
            "data": {"values": data},
            "width": {"step": 44},
            "height": {"step": 20},
            "layer": _heatmap(x, y, colour, tooltip),
        },
    )
