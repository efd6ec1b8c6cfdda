"""User 360 in a real browser: the tags by category with their titles, personal data masked
for an analyst and shown to an admin (as the facade gives them), segments, orders and
events; an unknown id answered next to the field; a viewer refused by the page and by a
direct request; every lookup audited by the core."""

from __future__ import annotations

import time
from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import Server, sign_in


def _csrf(page: Any) -> str:
    import json

    return str(json.loads(page.locator("body").get_attribute("hx-headers"))["X-CSRF-Token"])


def _show(page: Any, server: Server, user_id: str) -> None:
    page.goto(f"{server.url}/users")
    page.get_by_label("User id").fill(user_id)
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#user-title")).to_have_text(f"User {user_id}")


def _value(page: Any, tag: str) -> str:
    return str(page.locator(f'tr[data-tag="{tag}"] td.value').inner_text()).strip()


def _audited(server: Server, actor: str, action: str, user_id: str) -> bool:
    ws = server.workspace
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # the server writes its audit entries within 0.2 s
        entries = ws.access.audit_entries(200, actor, action=action)
        if any(e["target"] == user_id for e in entries):
            return True
        time.sleep(0.2)
    return False


def test_an_analyst_sees_personal_data_masked_and_an_admin_unmasked(
    page: Any, context: Any, server: Server
) -> None:
    ws = server.workspace
    user_id = ws.users.user_ids_of([17])[0]
    masked = ws.users.user(user_id)
    shown = ws.users.user(user_id, unmask=True)
    tags = {t["tag"]: t for rows in masked["tags"].values() for t in rows}
    clear = {t["tag"]: t for rows in shown["tags"].values() for t in rows}
    assert tags["email"]["value"] != clear["email"]["value"]  # the demo's phone is masked at source

    sign_in(page, server, "analyst")
    _show(page, server, user_id)
    assert _value(page, "phone") == tags["phone"]["value"]
    assert _value(page, "email") == tags["email"]["value"]
    assert clear["email"]["value"] not in page.content()
    row = page.locator('tr[data-tag="phone"] th')
    expect(row).to_contain_text(tags["phone"]["title"])  # the title, the name as secondary text
    expect(row).to_contain_text("PII")
    # every category, with the titles of its tags
    for category, rows in masked["tags"].items():
        table = page.locator(f"#category-{category}")
        expect(table.locator("caption")).to_have_text(category)
        assert table.locator("tbody tr").count() == len(rows)
    assert _value(page, "age") == str(tags["age"]["value"])
    for segment in masked["segments"]:
        expect(page.locator("ul.segments")).to_contain_text(segment)
    assert page.locator("#events-title + table tbody tr").count() == len(masked["events"])
    assert page.url.removeprefix(server.url) == "/users"  # the id is never in the address
    assert _audited(server, "user:analyst", "user:read", user_id)

    other = context.new_page()
    sign_in(other, server, "admin")
    _show(other, server, user_id)
    assert _value(other, "phone") == clear["phone"]["value"]
    assert _value(other, "email") == clear["email"]["value"]
    assert _audited(server, "user:admin", "user:read:unmasked", user_id)


def test_an_unknown_id_is_answered_next_to_the_field(page: Any, server: Server) -> None:
    sign_in(page, server, "analyst")
    known = server.workspace.users.user_ids_of([3])[0]
    _show(page, server, known)
    page.get_by_label("User id").fill("nobody-here")
    page.get_by_role("button", name="Show").click()
    problem = page.locator("#user-id-problem [role=alert]")
    expect(problem).to_contain_text("no user with id 'nobody-here'")
    expect(page.locator("#user-title")).to_have_count(0)  # the last user's view is gone
    _show(page, server, known)
    expect(page.locator("#user-id-problem [role=alert]")).to_have_count(0)


def test_a_viewer_is_refused_by_the_page_and_by_a_direct_request(page: Any, server: Server) -> None:
    sign_in(page, server, "viewer")
    expect(page.get_by_role("link", name="User 360")).to_have_count(0)
    response = page.goto(f"{server.url}/users")
    assert response.status == 403
    expect(page.get_by_role("alert")).to_contain_text("users:read")
    page.goto(f"{server.url}/tags")
    user_id = server.workspace.users.user_ids_of([5])[0]
    direct = page.request.post(
        f"{server.url}/users", form={"csrf": _csrf(page), "user_id": user_id}
    )
    assert direct.status == 403
    assert user_id not in direct.text()
    for row in server.workspace.users.user(user_id)["tags"]["basic"]:
        if row["tag"] == "phone":
            assert row["value"] not in direct.text()
