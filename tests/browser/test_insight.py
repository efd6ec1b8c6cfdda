"""The analysis pages in a real browser: insight with click-to-add and saving target ∩ value,
the cross-business matrix and its drill-down, association rules, RFM; what a viewer gets
(suppressed small cells, by the page and by a direct request) and how bad input is shown."""

from __future__ import annotations

import re
from typing import Any
from uuid import uuid4

from playwright.sync_api import expect

from portrait.model.access import Caller
from tests.browser.conftest import Server, sign_in, wait_counted

SUPPRESSED = "suppressed: too few to show"


def open_insight(page: Any, server: Server, target: str, tags: str = "") -> None:
    page.goto(f"{server.url}/insight")
    page.get_by_label("Target: a segment name or a rule").fill(target)
    page.get_by_label("Tags (names, comma separated; empty for all)").fill(tags)
    page.get_by_role("button", name="Analyse").click()
    page.wait_for_load_state("networkidle")


def test_a_value_of_an_insight_goes_to_the_builder_as_target_and_value(
    page: Any, server: Server
) -> None:
    sign_in(page, server, "analyst")
    open_insight(page, server, "young", "city, age")
    ws = server.workspace
    young = ws.count('segment("young")')["size"]
    assert page.get_by_test_id("target-size").inner_text() == f"{young:,}"
    row = page.locator("#insight-rows tbody tr[data-tag='age']").first
    value = row.get_attribute("data-value")
    expected = ws.insights.narrow("young", "age", value)
    assert expected.startswith('segment("young") and age ')
    row.get_by_role("button", name=f"Add to builder: age = {value}").click()
    page.wait_for_url(f"{server.url}/builder")
    assert wait_counted(page) == ws.count(expected)["size"]
    shown = row_count(ws, "young", "age", value)
    assert wait_counted(page) == shown  # the builder's total is the insight row's count

    open_insight(page, server, "young", "city")
    city = page.locator("#insight-rows tbody tr[data-tag='city'][data-value='北京']")
    city.get_by_role("button", name="Add to builder: city = 北京").click()
    page.wait_for_url(f"{server.url}/builder")
    assert page.locator("#rule-text").input_value() == 'segment("young") and city = "北京"'
    assert wait_counted(page) == ws.count('segment("young") and city = "北京"')["size"]


def row_count(ws: Any, target: str, tag: str, value: str) -> int:
    report = ws.insights.insight(target, tags=[tag])
    return int(next(r["target"] for r in report.rows if r["value"] == value))


def test_target_and_value_is_saved_as_a_segment_and_a_taken_name_changes_nothing(
    page: Any, server: Server
) -> None:
    sign_in(page, server, "marketer")
    rule = 'age >= 30 and gender = "女"'
    open_insight(page, server, rule, "city")
    row = page.locator("#insight-rows tbody tr[data-tag='city'][data-value='上海']")
    name = f"ins_{uuid4().hex[:8]}"
    row.get_by_label("Segment name for city = 上海").fill(name)
    row.get_by_role("button", name="Save as segment: city = 上海").click()
    expect(row.get_by_role("status")).to_contain_text(f"Saved segment {name}")
    ws = server.workspace
    narrowed = ws.insights.narrow(rule, "city", "上海")
    assert ws.segments[name].rule == narrowed

    before = ws.segments["young"].rule
    row.get_by_label("Segment name for city = 上海").fill("young")
    row.get_by_role("button", name="Save as segment: city = 上海").click()
    expect(row.locator(".saved .problem")).to_contain_text("a segment named 'young' exists")
    assert server.workspace.segments["young"].rule == before


def test_a_cross_cell_opens_the_insight_of_both(page: Any, server: Server) -> None:
    sign_in(page, server, "analyst")
    page.goto(f"{server.url}/cross")
    page.get_by_label("young").check()
    page.get_by_label("beijing").check()
    page.get_by_role("button", name="Compare").click()
    cell = page.get_by_role("button", name="Insight of young ∩ beijing")
    cell.focus()
    page.keyboard.press("Enter")  # reachable by keyboard
    size = page.get_by_test_id("cross-size")
    both = server.workspace.count('segment("young") and segment("beijing")')["size"]
    expect(size).to_have_text(f"{both:,}")
    expect(page.locator("#cross-insight")).to_contain_text("young ∩ beijing, against young")


def test_rfm_sizes_are_the_facades_and_a_segment_opens_in_the_builder(
    page: Any, server: Server
) -> None:
    sign_in(page, server, "analyst")
    page.goto(f"{server.url}/rfm")
    ws = server.workspace
    rows = ws.insights.rfm_report()
    assert len(rows) == 8
    for r in rows:
        cell = page.locator(f"#rfm-rows tr[data-segment='{r['segment']}'] td.users")
        expect(cell).to_have_text(f"{r['users']:,}")
    largest = rows[0]["segment"]
    page.get_by_role("button", name=f"Add to builder: {largest}").click()
    page.wait_for_url(f"{server.url}/builder")
    rule = ws.insights.rfm_rules()[largest]
    assert wait_counted(page) == ws.count(rule)["size"] == rows[0]["users"]


def test_a_viewer_gets_suppressed_small_cells_by_the_page_and_by_a_direct_post(
    page: Any, server: Server
) -> None:
    sign_in(page, server, "viewer")
    open_insight(page, server, "young", "active_days_30d")
    expected = {
        r["value"]
        for r in server.workspace.insights.insight(
            "young", tags=["active_days_30d"], caller=Caller("test", "viewer")
        ).rows
        if r.get("suppressed")
    }
    assert expected  # the demo has small cells here
    suppressed = page.locator("#insight-rows tbody tr.suppressed")
    shown = {row.get_attribute("data-value") for row in suppressed.all()}
    assert shown == expected
    for row in suppressed.all():
        cells = row.locator("td").all_inner_texts()
        assert cells[1] == SUPPRESSED  # the value, then one cell instead of every number
        assert not re.search(r"\d", " ".join(cells[1:]).replace("p=", ""))
    expect(page.get_by_test_id("privacy-note")).to_contain_text("suppressed")
    assert page.get_by_role("button", name=re.compile("^Save as segment")).count() == 0

    csrf = page.locator("#insight-form input[name=csrf]").get_attribute("value")
    answer = page.request.post(
        f"{server.url}/insight",
        form={"csrf": csrf, "target": "young", "tags": "active_days_30d", "top": "0"},
    )
    assert answer.status == 200
    html = answer.text()
    for value in expected:
        row = re.search(
            rf'<tr data-tag="active_days_30d" data-value="{re.escape(value)}"[^>]*>(.*?)</tr>',
            html,
            re.S,
        )
        assert row is not None and SUPPRESSED in row.group(1)
        counts = re.sub(r"<[^>]+>|p=[\d.e-]+", " ", row.group(1).split("</td>", 1)[1])
        assert not re.search(r"\d", counts.split("<form")[0]), counts
    name = f"v_{uuid4().hex[:8]}"
    refused = page.request.post(
        f"{server.url}/insight/save", form={"csrf": csrf, "name": name, "rule": "age < 20"}
    )
    assert refused.status == 403
    assert name not in server.workspace.segments


def test_bad_input_shows_next_to_its_field(page: Any, server: Server) -> None:
    sign_in(page, server, "analyst")
    open_insight(page, server, "agee < 30")
    problem = page.locator("#target + .problem")
    expect(problem).to_contain_text("unknown tag 'agee'")
    expect(problem).to_contain_text("did you mean 'age'")
    assert page.get_by_label("Target: a segment name or a rule").input_value() == "agee < 30"

    page.goto(f"{server.url}/association")
    page.get_by_label("Minimum support").fill("2")
    page.get_by_role("button", name="Find rules").click()
    expect(page.locator(".row:has(#min_support) + .problem")).to_contain_text("2 is out of range")
    assert page.get_by_label("Minimum support").input_value() == "2"


def test_association_rules_and_recommendations_for_an_item(page: Any, server: Server) -> None:
    sign_in(page, server, "analyst")
    page.goto(f"{server.url}/association")
    ws = server.workspace
    rules = ws.insights.association_rules()
    first = page.locator("table.rules tbody tr").first
    expect(first).to_contain_text(" + ".join(rules[0]["antecedent"]))
    item = rules[0]["antecedent"][0]
    page.get_by_role("textbox", name="Item", exact=True).fill(item)
    page.get_by_role("button", name="Recommend").click()
    wanted = ws.insights.recommendations(item)
    result = page.locator("#recommend-result table.rules tbody tr")
    expect(result).to_have_count(len(wanted))
    expect(result.first).to_contain_text(" + ".join(wanted[0]["consequent"]))
    page.get_by_role("textbox", name="Item", exact=True).fill("no_such_item")
    page.get_by_role("button", name="Recommend").click()
    expect(page.locator("#recommend-result .problem")).to_contain_text("no frequent item")


def test_the_builder_opens_its_rule_in_insight(page: Any, server: Server) -> None:
    sign_in(page, server, "analyst")
    page.goto(f"{server.url}/builder")
    rule = 'city = "上海" and age >= 40'
    page.locator("#rule-text").fill(rule)
    page.get_by_role("button", name="Apply the text").click()
    wait_counted(page)
    page.get_by_role("button", name="Open in insight").click()
    page.wait_for_url(f"{server.url}/insight")
    size = server.workspace.count(rule)["size"]
    expect(page.get_by_test_id("target-size")).to_have_text(f"{size:,}")
    assert page.get_by_label("Target: a segment name or a rule").input_value() == rule
