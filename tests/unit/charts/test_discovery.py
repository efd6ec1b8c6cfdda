"""The cube heatmap: the two-dimension intersections of a cube's first two dimensions (or the
two named), released sizes only, drawn in the dimensions' own member order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from portrait.charts import cube_chart, save_chart


def _cell(cell: dict[str, str], users: int | None) -> dict[str, Any]:
    key = ",".join(f"{d}={m}" for d, m in cell.items())
    share = None if users is None else users / 1000
    return {"cell": cell, "key": key, "level": len(cell), "users": users, "share": share}


CUBE = {
    "name": "beauty",
    "title": "美妆需求",
    "dimensions": {"purchase": ["lipstick", "balm"], "city": ["北京", "上海"], "usage": ["often"]},
    "cells": [
        _cell({"purchase": "lipstick", "city": "北京"}, 120),
        _cell({"purchase": "balm", "city": "上海"}, None),  # suppressed
        _cell({"purchase": "lipstick", "usage": "often"}, 80),
        _cell({"purchase": "lipstick", "city": "北京", "usage": "often"}, 40),
    ],
}


def test_the_heatmap_draws_the_released_two_dimension_cells_of_two_dimensions() -> None:
    spec = cube_chart(CUBE)
    assert spec["data"]["values"] == [
        {"row": "lipstick", "column": "北京", "users": 120, "share": 0.12,
         "cell": "purchase=lipstick,city=北京"},
    ]  # fmt: skip
    rect = spec["layer"][0]["encoding"]
    assert rect["y"]["sort"] == ["lipstick", "balm"] and rect["x"]["sort"] == ["北京", "上海"]
    assert spec["usermeta"]["portrait"]["report"] == "cube"
    other = cube_chart(CUBE, dimensions=["purchase", "usage"])
    assert [(d["row"], d["column"]) for d in other["data"]["values"]] == [("lipstick", "often")]
    with pytest.raises(ValueError, match="two dimensions"):
        cube_chart(CUBE, dimensions=["purchase"])
    with pytest.raises(ValueError, match="no dimension 'place'"):
        cube_chart(CUBE, dimensions=["purchase", "place"])


def test_the_heatmap_renders(tmp_path: Path) -> None:
    path = save_chart(cube_chart(CUBE), tmp_path / "cube.svg")
    assert "<svg" in path.read_text(encoding="utf-8")
