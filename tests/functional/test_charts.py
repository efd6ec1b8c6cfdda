"""Charts of every report: specs built from real reports, rendered offline to SVG, PNG, HTML
and JSON; PNGs decoded and looked at (CJK glyphs drawn); bad targets refused; writes atomic."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from typer.testing import CliRunner

from portrait import charts
from portrait.analysis import ranked
from portrait.charts.output import render
from portrait.cli import app
from portrait.errors import InputError
from portrait.workspace import Workspace

NEW_HOUSE = 'events(line="new_house", last="360d") >= 1'


def _dark_pixels(png: Path, box: tuple[int, int, int, int] | None = None) -> int:
    image = Image.open(png).convert("L")
    if box is not None:
        image = image.crop(box)
    return sum(image.histogram()[:128])


def _reports(ws: Workspace) -> dict[str, dict[str, Any]]:
    report = ws.insight(NEW_HOUSE)
    ws.segments.create("new_house", NEW_HOUSE)
    ws.segments.refresh("new_house")
    history = [
        {
            "evaluated_at": s.evaluated_at.isoformat(),
            "profile_version": s.profile_version,
            "as_of": s.as_of,
            "size": s.size,
            "share": s.size / s.population,
        }
        for s in ws.segments.history("new_house")
    ]
    return {
        "insight": charts.insight_chart(ranked(report.rows)[:20], title="新房用户 insight"),
        "distinctive": charts.distinctive_chart(ws.distinctive(NEW_HOUSE)),
        "cross": charts.cross_chart(ws.cross(None, min_support=0.01, min_confidence=0.1)),
        "rfm": charts.rfm_chart(ws.rfm_report()),
        "segment_history": charts.history_chart(history, title="new_house"),
        "rules": charts.rules_chart(ws.association_rules(min_support=0.01, min_confidence=0.1)),
    }


def test_every_report_renders_in_every_format(demo_ws: Workspace, tmp_path: Path) -> None:
    for name, spec in _reports(demo_ws).items():
        assert spec["usermeta"]["portrait"]["report"] == name
        assert spec["data"]["values"], name  # the report's rows are in the chart
        json_file = charts.save_chart(spec, tmp_path / f"{name}.json")
        assert json.loads(json_file.read_text(encoding="utf-8")) == spec
        svg = charts.save_chart(spec, tmp_path / f"{name}.svg").read_text(encoding="utf-8")
        assert svg.startswith("<svg") and "</svg>" in svg
        png = charts.save_chart(spec, tmp_path / f"{name}.png")
        with Image.open(png) as image:
            assert image.format == "PNG"
            width, height = image.size
        assert 300 < width < 4000 and 150 < height < 4000, (name, image.size)
        assert _dark_pixels(png) > 500, name  # text and marks were drawn
    # SVG keeps its text as text: the labels of the insight are there, Chinese included
    svg = (tmp_path / "insight.svg").read_text(encoding="utf-8")
    assert "新房用户 insight" in svg
    assert "TGI" in svg
    cross_svg = (tmp_path / "cross.svg").read_text(encoding="utf-8")
    assert "new_house" in cross_svg and "lift" in cross_svg
    rfm_svg = (tmp_path / "rfm.svg").read_text(encoding="utf-8")
    assert "重要价值" in rfm_svg


def test_html_is_self_contained(demo_ws: Workspace, tmp_path: Path) -> None:
    """The HTML chart works offline: Vega is embedded, nothing is loaded from a CDN."""
    spec = charts.rfm_chart(demo_ws.rfm_report())
    html = charts.save_chart(spec, tmp_path / "rfm.html").read_text(encoding="utf-8")
    assert "<html" in html.lower()
    assert "vegaEmbed" in html or "vega" in html
    assert "cdn.jsdelivr" not in html and '<script src="http' not in html
    assert "重要价值" in html  # the data is inline


def test_png_draws_chinese_glyphs(tmp_path: Path) -> None:
    """A PNG with only Chinese text has ink where the text is: a CJK font was found. Without
    one the glyphs are left out and this fails (in CI a missing font must fail, not skip)."""
    assert charts.has_cjk_font() or os.environ.get("CI") != "true", "no CJK font installed"
    if not charts.has_cjk_font():
        pytest.skip("no CJK font on this machine (make test installs fonts-noto-cjk as root)")

    def title_only(text: str) -> dict[str, Any]:
        return {
            "$schema": charts.specs.SCHEMA,
            "title": {"text": text, "fontSize": 40},
            "data": {"values": [{"x": 1}]},
            "mark": {"type": "point", "opacity": 0},
            "encoding": {"x": {"field": "x", "type": "quantitative", "axis": None}},
            "width": 200,
            "height": 20,
            "config": {"font": charts.specs.FONT, "view": {"stroke": None}},
        }

    chinese = charts.save_chart(title_only("北京上海"), tmp_path / "zh.png")
    empty = charts.save_chart(title_only("　"), tmp_path / "blank.png")
    assert _dark_pixels(empty) == 0
    assert _dark_pixels(chinese) > 1500  # four 40-px glyphs at scale 2


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("chart.txt", "unknown file type '.txt'"),
        ("chart", "unknown file type '(none)'"),
        ("missing/chart.png", "folder"),
    ],
)
def test_bad_chart_targets_are_refused(tmp_path: Path, name: str, message: str) -> None:
    with pytest.raises(InputError, match=re.escape(message)):
        charts.save_chart(charts.rfm_chart([]), tmp_path / name)
    assert list(tmp_path.iterdir()) == []


def test_chart_files_get_ordinary_permissions(tmp_path: Path) -> None:
    mask = os.umask(0o022)
    try:
        path = charts.save_chart(charts.rfm_chart([]), tmp_path / "rfm.svg")
    finally:
        os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o644


def test_failed_render_leaves_nothing(tmp_path: Path) -> None:
    """A spec the renderer rejects: no chart, no temporary file, the old chart untouched."""
    target = tmp_path / "chart.svg"
    target.write_text("old", encoding="utf-8")
    with pytest.raises(ValueError):  # noqa: PT011 - the renderer's own error
        charts.save_chart({"mark": {"type": "no-such-mark"}, "data": {"values": []}}, target)
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["chart.svg"]


def test_empty_reports_still_chart() -> None:
    """An empty audience gives zero rows, and a chart (an empty one), not an error."""
    for spec in (
        charts.insight_chart([]),
        charts.distinctive_chart([]),
        charts.cross_chart([]),
        charts.rfm_chart([]),
        charts.rules_chart([]),
        charts.history_chart([], title="none"),
    ):
        assert render(spec, ".svg").startswith(b"<svg")


def test_cli_chart_option(demo_ws: Workspace, tmp_path: Path) -> None:
    runner = CliRunner()
    ws = ["-w", str(demo_ws.root)]
    commands = {
        "insight.png": ["insight", NEW_HOUSE, "--tags", "age_band,city", "--top", "0"],
        "distinctive.svg": ["insight", "distinctive", NEW_HOUSE],
        "cross.html": ["cross", "--min-support", "0.01"],
        "cross_insight.json": ["cross", "new_house_users", "used_car_users", "--insight"],
        "rfm.png": ["rfm", "--window", "180d"],
        "rules.svg": ["rules", "--min-support", "0.01"],
    }
    demo_ws.segments.create("new_house_users", NEW_HOUSE)
    demo_ws.segments.create("used_car_users", 'events(line="used_car", last="360d") >= 1')
    for file, args in commands.items():
        target = tmp_path / file
        result = runner.invoke(app, [*args, *ws, "--chart", str(target), "-f", "json"])
        assert result.exit_code == 0, (file, result.output)
        assert target.stat().st_size > 500, file
        assert f"chart written to {target}" in result.stderr.replace("\n", "")
    spec = json.loads((tmp_path / "cross_insight.json").read_text(encoding="utf-8"))
    assert spec["usermeta"]["portrait"]["report"] == "insight"
    # --tags keeps each tag's values together in the chart, in the order the tags were given
    target = tmp_path / "by_tag.json"
    result = runner.invoke(
        app,
        [
            "insight",
            NEW_HOUSE,
            "--tags",
            "city,age_band",
            "--top",
            "0",
            *ws,
            "--chart",
            str(target),
        ],
    )
    assert result.exit_code == 0, result.output
    tags = [d["tag"] for d in json.loads(target.read_text(encoding="utf-8"))["data"]["values"]]
    assert tags == sorted(tags, key=lambda t: t != "city") and set(tags) == {"city", "age_band"}
    history = runner.invoke(
        app, ["segment", "history", "new_house_users", *ws, "--chart", str(tmp_path / "h.png")]
    )
    assert history.exit_code == 0, history.output
    assert (tmp_path / "h.png").exists()


def test_cli_refuses_bad_chart_before_working(demo_ws: Workspace, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["rfm", "-w", str(demo_ws.root), "--chart", str(tmp_path / "rfm.bmp")]
    )
    assert result.exit_code == 2
    assert "unknown file type '.bmp'" in result.output
    assert "RFM segments" not in result.output  # refused before the report ran
    assert not list(tmp_path.glob("rfm*"))
