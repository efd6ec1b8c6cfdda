"""The cube pages (多重交集) in a real browser, on a workspace of their own: a marketer defines a
cube from the form (a tag's values × saved segments), its cells and heatmap are the facade's;
a need attached to a cell is stored with the cube, the cell saved as a segment selects the
cell's users, and a campaign to it has a variant per need and a blank control; bad input is
shown with nothing written; a viewer gets released sizes and no control that writes."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from portrait.model.access import Caller
from tests.browser.conftest import Server, served, sign_in
from tests.browser.test_accessibility import violations

CUBE = "where_who"


@pytest.fixture(scope="module")
def cube_server(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with served(demo_template, tmp_path_factory.mktemp("cubes") / "ws") as running:
        yield running


def _define(
    page: Any, server: Server, name: str, rows: list[tuple[str, str, list[str]] | tuple[str, str]]
) -> None:
    """Fill the form: a row is (name, tag, segments) or (name, rules text)."""
    page.goto(f"{server.url}/cubes")
    form = page.locator("#create-form")
    form.get_by_label("Cube name").fill(name)
    for i, row in enumerate(rows, 1):
        form.get_by_label(f"Name of dimension {i}").fill(row[0])
        if len(row) == 2:
            form.get_by_label(f"Rules of dimension {i}").fill(row[1])
            continue
        _, tag, segments = row
        if tag:
            form.get_by_label(f"Tag of dimension {i}").select_option(tag)
        if segments:
            form.get_by_label(f"Segments of dimension {i}").select_option(segments)
    form.get_by_role("button", name="Define the cube").click()


def test_a_marketer_defines_a_cube_and_acts_on_a_cell(page: Any, cube_server: Server) -> None:
    server = cube_server
    sign_in(page, server, "marketer")
    _define(page, server, CUBE, [("where", "city", []), ("who", "", ["young", "beijing"])])
    page.wait_for_url(f"{server.url}/cubes/{CUBE}")
    ws = server.workspace
    assert set(ws.cubes.spec(CUBE).model_dump()["dimensions"][1]["segments"]) == {
        "young",
        "beijing",
    }
    shown = ws.cubes.show(CUBE, caller=Caller("user:marketer", "marketer"))
    cells = page.locator(".cube-cell")
    expect(page.get_by_test_id("cell-count")).to_contain_text(f"{len(shown['cells'])} non-empty")
    expect(cells).to_have_count(min(20, len(shown["cells"])))  # the 20 largest by default
    for i, cell in enumerate(shown["cells"][:5]):
        box = cells.nth(i)
        assert box.get_attribute("data-cell") == cell["key"]
        expect(box.get_by_test_id("cell-users")).to_have_text(f"{cell['users']:,}")
    expect(page.locator(".chart[data-drawn=yes]")).to_have_count(1)  # the heatmap

    top = shown["cells"][0]
    box = cells.first
    box.get_by_text("Infer a need for this cell").click()
    box.get_by_label("Need").fill("想要持久不脱色")
    box.get_by_label("Item to recommend").fill("lip_liner")
    box.get_by_role("button", name="Attach the need").click()
    expect(box.locator("li[data-need]")).to_have_text("想要持久不脱色 → lip_liner")
    assert [n.need for n in ws.cubes.spec(CUBE).needs] == ["想要持久不脱色"]

    box.get_by_placeholder("segment name").fill("cube_top")
    box.get_by_role("button", name="Save as segment").click()
    expect(box.locator("a[data-segment='cube_top']")).to_be_visible()
    assert ws.count('segment("cube_top")')["size"] == top["users"]

    box.get_by_placeholder("campaign name").fill("test_need")
    box.get_by_role("button", name="Test the needs in a campaign").click()
    expect(box.locator("a[data-campaign='test_need']")).to_be_visible()
    spec = ws.campaigns.show("test_need")["spec"]
    assert spec["audience"] == top["rule"] and spec["control"] == 20
    assert [v["name"] for v in spec["variants"]] == ["need_1"]

    page.goto(f"{server.url}/cubes/{CUBE}?top=0")  # every cell
    expect(page.locator(".cube-cell")).to_have_count(len(shown["cells"]))
    # an exact role's page describes the largest cells at once
    expect(cells.first.locator(".described")).to_contain_text("Distinctive")


def test_bad_input_is_shown_and_nothing_is_written(page: Any, cube_server: Server) -> None:
    server = cube_server
    sign_in(page, server, "analyst")
    before = server.workspace.cubes.names()
    _define(page, server, "both_ways", [("a", "city", ["young"]), ("b", "education", [])])
    expect(page.locator("#problem-create .problem")).to_contain_text(
        "dimension 1: choose one of a tag, segments or rules, not a tag and segments"
    )
    _define(page, server, "bad_rules", [("buying", "often orders_365d >= 3"), ("b", "city", [])])
    expect(page.locator("#problem-create .problem")).to_contain_text(
        "dimension 1, line 1: 'often orders_365d >= 3' is not 'label: rule'"
    )
    _define(page, server, "bad_rule", [("buying", "often: orders_365d >>= 3"), ("b", "city", [])])
    expect(page.locator("#problem-create .problem")).to_contain_text("often")
    _define(page, server, "one_way", [("a", "city", [])])
    expect(page.locator("#problem-create .problem")).to_contain_text("at least two dimensions")
    _define(page, server, "bad_dimension", [("Bad-Name", "city", []), ("b", "education", [])])
    expect(page.locator("#problem-create .problem")).to_contain_text("Bad-Name")
    assert server.workspace.cubes.names() == before

    # rules as members: a dimension the form could not express with tags or segments
    _define(
        page,
        server,
        "by_rules",
        [("buying", "often: orders_365d >= 3\n\nsometimes: orders_365d between 1 and 2"),
         ("where", "city", [])],
    )  # fmt: skip
    page.wait_for_url(f"{server.url}/cubes/by_rules")
    members = server.workspace.cubes.spec("by_rules").dimensions[0].members
    assert members == {"often": "orders_365d >= 3", "sometimes": "orders_365d between 1 and 2"}
    assert not (server.workspace.root / "cubes" / "one_way.yaml").exists()


def test_a_viewer_sees_released_sizes_and_cannot_write(page: Any, cube_server: Server) -> None:
    server = cube_server
    ws = server.workspace
    if CUBE not in ws.cubes.names():
        ws.cubes.create(
            {
                "name": CUBE,
                "dimensions": [
                    {"name": "where", "tag": "city"},
                    {"name": "who", "segments": ["young", "beijing"]},
                ],
            }
        )
    sign_in(page, server, "viewer")
    page.goto(f"{server.url}/cubes")
    assert page.locator("#create-form").count() == 0
    page.goto(f"{server.url}/cubes/{CUBE}")  # a viewer's page: 2-dimension cells, undescribed
    expect(page.get_by_test_id("privacy-note")).to_contain_text("suppressed")
    expect(page.locator("#levels")).to_have_value("2")
    # the same question asked again by the same viewer is answered as before (no new noise)
    viewer = Caller("user:viewer", "viewer")
    shown = ws.cubes.show(CUBE, levels=[2], describe=0, caller=viewer)
    expect(page.locator(".cube-cell")).to_have_count(min(20, len(shown["cells"])))
    first = shown["cells"][0]
    expect(page.locator(".cube-cell").first.get_by_test_id("cell-users")).to_have_text(
        f"{first['users']:,}"
    )
    assert page.get_by_role("button", name=re.compile("Save as segment|Attach")).count() == 0
    # a cell is described when asked, as the facade describes it for the viewer
    box = page.locator(".cube-cell").first
    box.get_by_role("button", name="Describe this cell").click()
    described = ws.cubes.describe(CUBE, first["cell"], caller=viewer)
    expect(box.locator(".described")).to_contain_text("Distinctive")
    for d in described["distinctive"]:
        expect(box.locator(".described")).to_contain_text(f"TGI {d['tgi']:.0f}")
    # no tag value held by fewer users than the smallest released count is named
    minimum = ws.access.disclosure.policy.min_count
    for city in shown["dimensions"]["where"]:
        assert ws.count(f'city = "{city}"')["size"] >= minimum
    token = page.evaluate("() => JSON.parse(document.body.getAttribute('hx-headers'))")
    headers = {"X-CSRF-Token": token["X-CSRF-Token"]}
    cell = json.dumps(first["cell"], ensure_ascii=False)
    refused = page.request.post(
        f"{server.url}/cubes/{CUBE}/need",
        headers=headers,
        form={"cell": cell, "slot": "1", "need": "by a viewer"},
    )
    assert refused.status == 403
    refused = page.request.post(
        f"{server.url}/cubes/{CUBE}/act",
        headers=headers,
        form={"cell": cell, "slot": "1", "action": "segment", "segment": "by_viewer"},
    )
    assert refused.status == 403
    assert all(n.need != "by a viewer" for n in ws.cubes.spec(CUBE).needs)
    assert "by_viewer" not in ws.segments


def test_the_cube_page_has_no_serious_violations(axe_page: Any, cube_server: Server) -> None:
    ws = cube_server.workspace
    if "plain" not in ws.cubes.names():
        ws.cubes.create(
            {
                "name": "plain",
                "dimensions": [
                    {"name": "city", "tag": "city"},
                    {"name": "edu", "tag": "education"},
                ],
            }
        )
    sign_in(axe_page, cube_server, "marketer")
    axe_page.goto(f"{cube_server.url}/cubes/plain?levels=2")
    axe_page.wait_for_selector(".chart[data-drawn=yes]")
    assert violations(axe_page) == []
    axe_page.goto(f"{cube_server.url}/cubes")
    assert violations(axe_page) == []
