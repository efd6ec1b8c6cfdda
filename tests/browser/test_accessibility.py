"""Accessibility: axe-core (vendored in tests/browser/vendor) finds no serious or critical
violation on the console's main pages, for the role that sees most of each."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import Server, sign_in

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
PAGES = [  # as an admin, who sees most of each
    "/",
    "/tags",
    "/tags/age",
    "/builder",
    "/segments",
    "/segments/young",
    "/insight",
    "/cross",
    "/association",
    "/rfm",
    "/discover",
    "/personas",
    "/campaigns",
    "/campaigns/new",
    "/campaigns/import",
    "/campaigns/plan",
    "/users",
    "/admin",
    "/admin/keys",
    "/admin/audit",
]


@pytest.fixture(scope="module")
def admin_axe_page(browser: Any, server: Server) -> Any:
    """One signed-in admin for every page of the list (signing in is not what is checked)."""
    context = browser.new_context(bypass_csp=True, locale="en-US")
    page = context.new_page()
    sign_in(page, server, "admin")
    yield page
    context.close()


def violations(page: Any) -> list[dict[str, Any]]:
    page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
    found: list[dict[str, Any]] = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["html"][:120] for n in v["nodes"][:3]]}
        for v in found
        if v["impact"] in ("serious", "critical")
    ]


def test_the_sign_in_page_has_no_serious_violations(axe_page: Any, server: Server) -> None:
    axe_page.goto(f"{server.url}/login")
    assert violations(axe_page) == []


@pytest.mark.parametrize("path", PAGES)
def test_main_pages_have_no_serious_violations(
    admin_axe_page: Any, server: Server, path: str
) -> None:
    admin_axe_page.goto(f"{server.url}{path}")
    admin_axe_page.wait_for_load_state("networkidle")
    assert violations(admin_axe_page) == []


def test_the_builder_with_a_nested_rule_has_no_serious_violations(
    axe_page: Any, server: Server
) -> None:
    sign_in(axe_page, server, "analyst")
    axe_page.goto(f"{server.url}/builder")
    axe_page.locator("#rule-text").fill(
        'city in ("北京", "上海") and (age between 20 and 30 or not events("view", last="7d") > 2)'
    )
    axe_page.get_by_role("button", name="Apply the text").click()
    axe_page.wait_for_function("() => document.querySelectorAll('#builder .cond').length === 3")
    axe_page.wait_for_load_state("networkidle")
    assert violations(axe_page) == []


def test_an_insight_report_has_no_serious_violations(axe_page: Any, server: Server) -> None:
    sign_in(axe_page, server, "analyst")
    axe_page.goto(f"{server.url}/insight")
    axe_page.locator("#target").fill("young")
    axe_page.locator("#insight-form button[type=submit]").click()
    axe_page.wait_for_load_state("networkidle")
    axe_page.wait_for_selector(".chart[data-drawn=yes]")
    assert violations(axe_page) == []
