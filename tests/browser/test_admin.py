"""Administration in a real browser: a console user created in the page signs in with the
role given; an API key's secret, shown once, works against the API; the audit log filtered
by actor and by action; bad input answered next to its field with nothing created; a
marketer refused by the page and by a direct request."""

from __future__ import annotations

import json
import time
from typing import Any
from uuid import uuid4

import httpx
from playwright.sync_api import expect

from tests.browser.conftest import Server, sign_in

NEW_PASSWORD = "another long passphrase"  # noqa: S105


def _csrf(page: Any) -> str:
    return str(json.loads(page.locator("body").get_attribute("hx-headers"))["X-CSRF-Token"])


def _names(server: Server) -> set[str]:
    from portrait.model.access import Caller

    accounts = server.workspace.accounts.all(caller=Caller("test", "admin"))
    return {a["name"] for a in accounts}


def _new_user(page: Any, name: str, role: str, password: str, again: str | None = None) -> None:
    form = page.locator("#new-user")
    form.get_by_label("User name").fill(name)
    form.get_by_label("Role").select_option(role)
    form.get_by_label("Password", exact=True).fill(password)
    form.get_by_label("Password again").fill(password if again is None else again)
    form.get_by_role("button", name="Create user").click()


def test_a_user_made_in_the_page_signs_in_with_its_role(page: Any, server: Server) -> None:
    name = f"ann-{uuid4().hex[:8]}"
    sign_in(page, server, "admin")
    page.goto(f"{server.url}/admin")
    _new_user(page, name, "marketer", NEW_PASSWORD)
    expect(page.get_by_role("status")).to_have_text(f"User {name} created")
    row = page.locator(f'tr[data-user="{name}"]')
    expect(row.locator("td.role")).to_have_text("marketer")
    assert name in _names(server)
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{server.url}/login")
    sign_in(page, server, name, NEW_PASSWORD)
    expect(page.locator(".who .user")).to_contain_text(name)
    expect(page.locator(".who .user small")).to_have_text("marketer")
    expect(page.get_by_role("link", name="Campaigns")).to_be_visible()
    expect(page.get_by_role("link", name="Admin")).to_have_count(0)


def test_disabling_and_changing_a_role_in_the_page(page: Any, server: Server) -> None:
    name = f"bo-{uuid4().hex[:8]}"
    sign_in(page, server, "admin")
    page.goto(f"{server.url}/admin")
    _new_user(page, name, "viewer", NEW_PASSWORD)
    row = page.locator(f'tr[data-user="{name}"]')
    row.get_by_label(f"Role of {name}").select_option("analyst")
    row.get_by_role("button", name="Set role").click()
    expect(page.get_by_role("status")).to_have_text(f"User {name} now has role analyst")
    expect(page.locator(f'tr[data-user="{name}"] td.role')).to_have_text("analyst")
    row = page.locator(f'tr[data-user="{name}"]')
    row.locator("summary", has_text="Reset password").click()
    row.get_by_label("New password").fill(NEW_PASSWORD + "!")
    row.get_by_label("Password again").fill(NEW_PASSWORD + "!")
    row.get_by_role("button", name="Reset password").click()
    expect(page.get_by_role("status")).to_have_text(f"Password of {name} reset")
    token, _ = server.workspace.accounts.sign_in(name, NEW_PASSWORD + "!")
    assert token
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(f'tr[data-user="{name}"]').get_by_role("button", name=f"Disable {name}").click()
    expect(page.locator(f'tr[data-user="{name}"] td.state')).to_have_text("disabled")
    from portrait.model.access import Caller

    (account,) = [
        a
        for a in server.workspace.accounts.all(caller=Caller("test", "admin"))
        if a["name"] == name
    ]
    assert account["role"] == "analyst" and not account["active"]


def test_bad_input_is_answered_next_to_the_field_and_creates_nothing(
    page: Any, server: Server
) -> None:
    sign_in(page, server, "admin")
    page.goto(f"{server.url}/admin")
    short = f"cy-{uuid4().hex[:8]}"
    _new_user(page, short, "analyst", "short")
    expect(page.locator("#new-user-password-problem [role=alert]")).to_contain_text(
        "the password is too short"
    )
    differ = f"dd-{uuid4().hex[:8]}"
    _new_user(page, differ, "analyst", NEW_PASSWORD, again=NEW_PASSWORD + "x")
    expect(page.locator("#new-user-password2-problem [role=alert]")).to_contain_text(
        "the two passwords differ"
    )
    # an unknown role (not among the choices): in the page, and sent as htmx would send it
    odd = f"ed-{uuid4().hex[:8]}"
    choice = page.locator("#new-user select[name=role] option").first
    choice.evaluate("option => { option.value = 'owner'; }")
    _new_user(page, odd, "owner", NEW_PASSWORD)
    expect(page.locator("#new-user-role-problem [role=alert]")).to_contain_text(
        "unknown role 'owner'"
    )
    answer = page.request.post(
        f"{server.url}/admin/users",
        form={"name": odd, "role": "owner", "password": NEW_PASSWORD, "password2": NEW_PASSWORD},
        headers={"X-CSRF-Token": _csrf(page), "HX-Request": "true"},
    )
    assert answer.status == 400
    assert answer.headers["hx-retarget"] == "#new-user-role-problem"
    assert "unknown role &#39;owner&#39;" in answer.text()
    assert not {short, differ, odd} & _names(server)
    # a key with a bad expiry: next to its field, no key made
    page.goto(f"{server.url}/admin/keys")
    before = page.locator("#keys tbody tr").count()
    page.locator("#new-key").get_by_label("Key name").fill("bad-expiry")
    page.get_by_label("Expires after (days; empty: never)").fill("soon")
    page.get_by_role("button", name="Create key").click()
    expect(page.locator("#new-key-expires_days-problem [role=alert]")).to_contain_text(
        "is not a number of days"
    )
    assert page.locator("#keys tbody tr").count() == before
    assert page.locator("#created-key").count() == 0


def test_an_api_key_made_in_the_page_works_once_shown_and_can_be_revoked(
    page: Any, server: Server
) -> None:
    label = f"reports-{uuid4().hex[:8]}"
    sign_in(page, server, "admin")
    page.goto(f"{server.url}/admin/keys")
    page.locator("#new-key").get_by_label("Key name").fill(label)
    page.locator("#new-key").get_by_label("Role").select_option("analyst")
    page.get_by_label("Expires after (days; empty: never)").fill("7")
    page.get_by_role("button", name="Create key").click()
    secret = page.get_by_test_id("secret").inner_text().strip()
    assert secret.startswith("pk_")
    key_id = secret.split("_")[1]
    auth = {"Authorization": f"Bearer {secret}"}
    answer = httpx.get(f"{server.url}/v1/tags", headers=auth)
    assert answer.status_code == 200 and answer.json()
    row = page.locator(f'tr[data-key="{key_id}"]')
    expect(row).to_contain_text(label)
    # shown once: the list (and a reload) never shows it again
    page.reload()
    assert secret.split("_")[2] not in page.content()
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(f'tr[data-key="{key_id}"]').get_by_role(
        "button", name=f"Revoke key {key_id}"
    ).click()
    expect(page.locator(f'tr[data-key="{key_id}"] td.state')).to_have_text("revoked")
    assert httpx.get(f"{server.url}/v1/tags", headers=auth).status_code == 401


def _wait_for_entry(server: Server, actor: str) -> None:
    ws = server.workspace
    deadline = time.monotonic() + 5
    while not ws.access.audit_entries(1, actor) and time.monotonic() < deadline:
        time.sleep(0.2)  # the server writes its audit entries within 0.2 s


def test_the_audit_log_by_actor_and_by_action(page: Any, context: Any, server: Server) -> None:
    # someone of our own makes entries: a sign-in and a user read
    name = f"dee-{uuid4().hex[:8]}"
    from portrait.model.access import Caller

    admin = Caller("test", "admin")
    server.workspace.accounts.create(name, "analyst", NEW_PASSWORD, caller=admin)
    other = context.new_page()
    sign_in(other, server, name, NEW_PASSWORD)
    user_id = server.workspace.users.user_ids_of([9])[0]
    other.goto(f"{server.url}/users")
    other.get_by_label("User id").fill(user_id)
    other.get_by_role("button", name="Show").click()
    expect(other.locator("#user-title")).to_be_visible()
    _wait_for_entry(server, f"user:{name}")

    sign_in(page, server, "admin")
    page.goto(f"{server.url}/admin/audit")
    page.get_by_label("Actor").fill(f"user:{name}")
    page.get_by_role("button", name="Filter").click()
    # the unfiltered table already holds this read: wait until every other actor is gone
    actor_cells = page.locator("#audit-rows tr.entry td.actor")
    expect(actor_cells.filter(has_not_text=f"user:{name}")).to_have_count(0)
    expect(page.locator("#audit-rows tr.entry td.action", has_text="user:read")).to_have_count(1)
    actors = actor_cells.all_inner_texts()
    assert actors and set(actors) == {f"user:{name}"}
    expected = server.workspace.access.audit_entries(200, f"user:{name}")
    assert page.locator("#audit-rows tr.entry").count() == len(expected)

    page.get_by_label("Actor").fill("")
    page.get_by_label("Action").select_option("console:sign-in")
    page.get_by_role("button", name="Filter").click()
    action_cells = page.locator("#audit-rows tr.entry td.action")
    expect(action_cells.filter(has_not_text="console:sign-in")).to_have_count(0)
    expect(page.locator("#audit-rows tr.entry td.actor", has_text=name)).to_have_count(1)
    actions = action_cells.all_inner_texts()
    assert actions and set(actions) == {"console:sign-in"}

    # a time range in the future has nothing; a backwards one is answered next to its field
    page.get_by_label("From (UTC)").fill("2999-01-01T00:00")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#audit-rows")).to_contain_text("No entry matches.")
    page.get_by_label("To (UTC)").fill("2998-01-01T00:00")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#audit-until-problem [role=alert]")).to_contain_text(
        "the time range is empty"
    )


def test_a_marketer_cannot_open_admin_nor_post_to_it(page: Any, server: Server) -> None:
    sign_in(page, server, "marketer")
    expect(page.get_by_role("link", name="Admin")).to_have_count(0)
    for path in ("/admin", "/admin/keys", "/admin/audit"):
        response = page.goto(f"{server.url}{path}")
        assert response.status == 403, path
        expect(page.get_by_role("alert")).to_contain_text("may not")
    page.goto(f"{server.url}/tags")
    token = _csrf(page)
    name = f"mal-{uuid4().hex[:8]}"
    made = page.request.post(
        f"{server.url}/admin/users",
        form={
            "csrf": token,
            "name": name,
            "role": "admin",
            "password": NEW_PASSWORD,
            "password2": NEW_PASSWORD,
        },
    )
    assert made.status == 403
    assert name not in _names(server)
    key = page.request.post(f"{server.url}/admin/keys", form={"csrf": token, "role": "admin"})
    assert key.status == 403 and "pk_" not in key.text()
    log = page.request.post(f"{server.url}/admin/audit", form={"csrf": token})
    assert log.status == 403 and "console:sign-in" not in log.text()
    promoted = page.request.post(
        f"{server.url}/admin/users/role", form={"csrf": token, "name": "marketer", "role": "admin"}
    )
    assert promoted.status == 403
