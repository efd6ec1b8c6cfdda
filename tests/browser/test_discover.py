"""The discover page (发现人群) in a real browser: a rule's feature ranking as the facade ranks
it, a niche cube with the facade's cells and a merged group saved as a segment of its users, a
subgroup opened in the builder, bad input shown next to its field with nothing saved, and what
a viewer gets (released numbers, no saving)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode
from uuid import uuid4

from playwright.sync_api import expect

from portrait.model.access import Caller
from portrait.web.pages.discover import CELLS_SHOWN
from tests.browser.conftest import Server, sign_in, wait_counted
from tests.browser.test_accessibility import violations

TARGET = "Target: a segment name or a rule"
TAGS = "Tags to combine: 2 to 4 (none chosen: the target's 3 best ranked)"
BOUGHT = "orders_365d >= 1"


def open_discover(page: Any, server: Server, target: str, tab: str = "Ranking") -> None:
    page.goto(f"{server.url}/discover")
    page.get_by_label(TARGET).fill(target)
    page.get_by_role("tab", name=tab).click()
    expect(page.get_by_role("tab", name=tab)).to_have_attribute("aria-selected", "true")


def chosen_tags(page: Any) -> list[str]:
    """The tags chosen in the niche form, in the order the form sends them."""
    return list(page.locator("#tags option:checked").evaluate_all("os => os.map(o => o.value)"))


def find_niches(page: Any, tags: list[str]) -> None:
    page.get_by_label(TAGS).select_option(tags)
    page.get_by_role("button", name="Find niche groups").click()


def test_a_rule_is_ranked_as_the_facade_ranks_it(page: Any, server: Server) -> None:
    sign_in(page, server, "analyst")
    rule = 'age < 30 and active_days(last="30d") >= 5'
    open_discover(page, server, rule)
    page.get_by_role("button", name="Rank tags").click()
    rows = page.locator("#ranking-rows tbody tr")
    expect(rows.first).to_be_visible()
    ranking = server.workspace.discovery.rank(rule, caller=Caller("test", "analyst"))
    assert rows.first.get_attribute("data-tag") == ranking.rows[0]["tag"]
    expect(rows).to_have_count(min(20, len(ranking.rows)))
    # the circular tags are listed with why, not ranked
    expect(page.locator(".left-out li[data-tag='age']")).to_contain_text("the rule reads it")
    assert page.locator("#ranking-rows tbody tr[data-tag='age']").count() == 0
    expect(page.locator("#ranking-result .chart[data-drawn=yes]")).to_have_count(1)


def test_tags_are_ranked_against_a_number_without_a_target(page: Any, server: Server) -> None:
    sign_in(page, server, "analyst")
    open_discover(page, server, "")
    page.get_by_label("Rank against").select_option("spend_365d")
    page.get_by_role("button", name="Rank tags").click()
    rows = page.locator("#ranking-rows tbody tr")
    expect(rows.first).to_be_visible()
    ranking = server.workspace.discovery.rank_metric("spend_365d", caller=Caller("t", "analyst"))
    expect(page.get_by_test_id("ranking-sizes")).to_contain_text(
        f"Against the bins of spend_365d over its {ranking.universe_size:,} users"
    )
    shown = [rows.nth(i).get_attribute("data-tag") for i in range(5)]
    assert shown == [r["tag"] for r in ranking.rows[:5]]
    assert page.locator("#ranking-rows tbody tr[data-tag='spend_365d']").count() == 0
    # a target that does not parse is not in the way: ranked against a number, it is not read
    page.locator("#target").fill("age <<< 3")
    page.get_by_role("button", name="Rank tags").click()
    expect(page.locator("#problem-target .problem")).to_have_count(0)
    expect(rows.first).to_be_visible()


def test_a_niche_cube_has_the_facades_cells_and_a_group_is_saved_with_its_users(
    page: Any, server: Server
) -> None:
    sign_in(page, server, "marketer")
    open_discover(page, server, BOUGHT, "Niche groups")
    find_niches(page, ["city", "gender"])
    expect(page.get_by_test_id("cell-count")).to_be_visible()
    cube = server.workspace.discovery.niche(
        chosen_tags(page), target=BOUGHT, caller=Caller("test", "marketer")
    ).to_dict()
    expect(page.get_by_test_id("cell-count")).to_have_text(f"{cube['cell_count']:,}")
    highlights = sum(c["highlight"] for c in cube["cells"][:CELLS_SHOWN])
    expect(page.locator("#niche-cells .badge", has_text="highlight")).to_have_count(highlights)
    expect(page.locator("#niche-result .chart[data-drawn=yes]")).to_have_count(1)

    group = page.locator("#niche-groups tbody tr[data-group='1']")
    users = int(group.get_attribute("data-users") or -1)
    assert users == cube["groups"][0]["users"]
    name = f"niche_{uuid4().hex[:8]}"
    group.get_by_label("Segment name for group 1").fill(name)
    group.get_by_role("button", name="Save as segment: group 1").click()
    expect(group.get_by_role("status")).to_contain_text(f"Saved segment {name}: {users:,} users")
    ws = server.workspace
    assert ws.segments[name].rule == cube["groups"][0]["rule"]
    assert ws.count(f'segment("{name}")')["size"] == users


def test_a_subgroup_rule_opens_in_the_builder(page: Any, server: Server) -> None:
    sign_in(page, server, "analyst")
    open_discover(page, server, BOUGHT, "Subgroups")
    page.get_by_role("button", name="Find subgroups").click()
    row = page.locator("#subgroup-rows tbody tr").first
    expect(row).to_be_visible()
    found = server.workspace.discovery.subgroups(
        BOUGHT, depth=2, top=10, caller=Caller("test", "analyst")
    )
    first = found["rows"][0]
    assert row.get_attribute("data-rule") == first["rule"]
    row.get_by_role("button", name=f"Add to builder: {first['label']}").click()
    page.wait_for_url(f"{server.url}/builder")
    assert page.locator("#rule-text").input_value() == first["rule"]
    assert wait_counted(page) == server.workspace.count(first["rule"])["size"] == first["size"]


def test_bad_input_is_shown_next_to_its_field_and_nothing_is_saved(
    page: Any, server: Server
) -> None:
    before = set(server.workspace.segments)
    sign_in(page, server, "admin")  # who may name personal-data tags: a cube too large
    open_discover(page, server, BOUGHT, "Niche groups")
    find_niches(page, ["city"])
    tags_problem = page.locator("#tags + #problem-tags .problem")
    expect(tags_problem).to_contain_text("a cube combines 2 to 4 tags, not 1")
    expect(page.locator("#niche-result")).to_be_empty()

    # a rule that does not parse: next to the target; the tags' problem is gone
    page.get_by_label(TARGET).fill("orders_365d >=")
    find_niches(page, ["city", "gender"])
    expect(page.locator("#target + #problem-target .problem")).to_contain_text(
        "cannot parse the rule"
    )
    expect(page.locator("#problem-tags")).to_be_empty()
    assert page.get_by_label(TARGET).input_value() == "orders_365d >="

    # tags the form does not offer (it lists the built tags that say something about an
    # audience): an unknown one, and near-unique ones making a cube too large
    status, slot = post_niche(page, server, ["city", "agee"])
    assert status == 404
    assert "no built tag named &#39;agee&#39;" in slot
    status, slot = post_niche(page, server, ["phone", "email", "city"], max_values=100)
    assert status == 400
    assert re.search(r"the cube would have [\d,]+ cells", slot), slot
    assert set(server.workspace.segments) == before


def post_niche(page: Any, server: Server, tags: list[str], max_values: int = 12) -> tuple[int, str]:
    """A niche request as the page's htmx sends it: its status and the tags' problem slot."""
    token = page.evaluate("() => JSON.parse(document.body.getAttribute('hx-headers'))")
    fields = [("target", BOUGHT), ("max_values", str(max_values))] + [("tags", t) for t in tags]
    answer = page.request.post(
        f"{server.url}/discover/niche",
        headers={
            "HX-Request": "true",
            "Content-Type": "application/x-www-form-urlencoded",
            "X-CSRF-Token": token["X-CSRF-Token"],
        },
        data=urlencode(fields),
    )
    html = answer.text()
    return answer.status, html[html.index('id="problem-tags"') : html.index('id="problem-metric"')]


def test_a_viewer_gets_released_numbers_and_no_saving(page: Any, server: Server) -> None:
    sign_in(page, server, "viewer")
    open_discover(page, server, BOUGHT, "Niche groups")
    find_niches(page, ["city", "gender"])
    expect(page.get_by_test_id("privacy-note")).to_contain_text("suppressed")
    # the same question asked again by the same viewer is answered as before (no new noise)
    cube = server.workspace.discovery.niche(
        chosen_tags(page), target=BOUGHT, caller=Caller("user:viewer", "viewer")
    ).to_dict()
    expect(page.get_by_test_id("cell-count")).to_have_text(f"{cube['cell_count']:,}")
    shown = page.locator("#niche-groups tbody tr").evaluate_all(
        "rows => rows.map(r => r.getAttribute('data-users'))"
    )
    assert shown == [None if g["users"] is None else str(g["users"]) for g in cube["groups"]]
    assert page.get_by_role("button", name=re.compile("^Save as segment")).count() == 0
    assert page.get_by_role("button", name=re.compile("^Add to builder")).count() > 0
    # ranking against a number reads users' own values: not offered to a viewer
    assert page.locator("#rank_metric option").count() == 1


def test_a_niche_result_has_no_serious_violations(axe_page: Any, server: Server) -> None:
    sign_in(axe_page, server, "analyst")
    open_discover(axe_page, server, BOUGHT, "Niche groups")
    find_niches(axe_page, ["city", "gender"])
    axe_page.wait_for_selector("#niche-result .chart[data-drawn=yes]")
    assert violations(axe_page) == []
