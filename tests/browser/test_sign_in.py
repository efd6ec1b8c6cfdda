"""Signing in and out of the console: a wrong password, the right one, sign-out."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import PASSWORD, Server, sign_in


def test_a_wrong_password_is_refused_and_the_right_one_signs_in(page: Any, server: Server) -> None:
    page.goto(f"{server.url}/tags")
    assert page.url.endswith("/login?next=/tags")
    page.get_by_label("User name").fill("analyst")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").inner_text().startswith("the user name or password is wrong")
    page.get_by_label("User name").fill("analyst")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{server.url}/tags")
    assert page.get_by_role("heading", name="Tag market").is_visible()
    assert "analyst" in page.locator(".who .user").inner_text()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{server.url}/login")
    page.goto(f"{server.url}/tags")
    assert "/login" in page.url


def test_the_builder_counts_what_the_facade_counts(page: Any, server: Server) -> None:
    sign_in(page, server, "analyst")
    page.goto(f"{server.url}/builder")
    text = page.locator("#rule-text")
    rule = 'city in ("北京", "上海") and (age >= 30 or not events("view", last="30d") > 3)'
    text.fill(rule)
    page.get_by_role("button", name="Apply the text").click()
    page.wait_for_function("() => document.querySelectorAll('#builder .cond').length === 3")
    from tests.browser.conftest import wait_counted

    shown = wait_counted(page)
    assert shown == server.workspace.count(rule)["size"]
