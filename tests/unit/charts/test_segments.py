"""A segment's size sparkline: a tiny line of its released sizes, without axes or title."""

from __future__ import annotations

from portrait.charts.segments import size_sparkline


def test_the_sparkline_draws_the_released_sizes_only() -> None:
    rows = [
        {"evaluated_at": "2026-10-01T00:00:00", "size": 120, "profile_version": "v1"},
        {"evaluated_at": "2026-10-02T00:00:00", "size": None, "suppressed": True},
        {"evaluated_at": "2026-10-03T00:00:00", "size": 140},
    ]
    spec = size_sparkline(rows, width=100, height=20)
    assert spec["data"]["values"] == [
        {"evaluated_at": "2026-10-01T00:00:00", "size": 120},
        {"evaluated_at": "2026-10-03T00:00:00", "size": 140},
    ]
    assert "title" not in spec
    assert spec["encoding"]["x"]["axis"] is None and spec["encoding"]["y"]["axis"] is None
    assert (spec["width"], spec["height"]) == (100, 20)
    assert spec["usermeta"]["portrait"]["report"] == "segment_sparkline"
    assert [layer["mark"]["type"] for layer in spec["layer"]] == ["line", "point"]


def test_an_empty_history_is_an_empty_line() -> None:
    assert size_sparkline([])["data"]["values"] == []
