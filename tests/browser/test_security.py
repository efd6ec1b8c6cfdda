"""The console's defences, against the real server: state-changing requests without the
session's CSRF token are refused; sessions expire; the sign-in form is protected and
throttled; the security headers forbid inline script, eval and framing; redirects stay on
the site."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD, Server, served, sign_in


def signed_in_client(server: Server, name: str) -> tuple[httpx.Client, str]:
    """An HTTP client with a session of ``name``, and the session's CSRF token."""
    client = httpx.Client(base_url=server.url)
    form = client.get("/login").text
    token = re.search(r'name="login_token" value="([^"]+)"', form)
    assert token
    answer = client.post(
        "/login", data={"name": name, "password": PASSWORD, "login_token": token.group(1)}
    )
    assert answer.status_code == 303
    csrf = re.search(r'"X-CSRF-Token": "([^"]+)"', client.get("/builder").text)
    assert csrf
    return client, csrf.group(1)


def test_a_request_without_the_csrf_token_is_refused(page: Any, server: Server) -> None:
    sign_in(page, server, "analyst")
    page.goto(f"{server.url}/builder")
    rule = {"version": 1, "rule": {"kind": "tag", "tag": "age", "op": ">", "value": 30}}
    # the page's own cookie, but no token: as a forged cross-site request would come
    refused = page.request.post(f"{server.url}/builder/count", data=rule)
    assert refused.status == 403
    assert refused.json()["problem"]["code"] == "csrf"
    before = {s["name"] for s in server.workspace.audiences.segments.all()}
    forged = page.request.post(
        f"{server.url}/builder/save", form={"name": "forged", "rule": "age > 30"}
    )
    assert forged.status == 403
    wrong = page.request.post(
        f"{server.url}/builder/save",
        form={"name": "forged", "rule": "age > 30", "csrf": "not-the-token"},
    )
    assert wrong.status == 403
    assert {s["name"] for s in server.workspace.audiences.segments.all()} == before
    out = page.request.post(f"{server.url}/logout")
    assert out.status == 403  # signing out is a change too
    page.goto(f"{server.url}/builder")
    assert page.url.endswith("/builder")  # still signed in


def test_the_token_of_one_session_does_not_work_in_another(server: Server) -> None:
    first, first_csrf = signed_in_client(server, "analyst")
    second, second_csrf = signed_in_client(server, "analyst")
    assert first_csrf != second_csrf
    rule = {"version": 1, "rule": {"kind": "tag", "tag": "age", "op": ">", "value": 30}}
    assert first.post("/builder/count", json=rule, headers={"X-CSRF-Token": first_csrf}).is_success
    crossed = second.post("/builder/count", json=rule, headers={"X-CSRF-Token": first_csrf})
    assert crossed.status_code == 403


@pytest.fixture
def short_sessions(demo_template: Path, tmp_path: Path) -> Iterator[Server]:
    with served(
        demo_template, tmp_path / "ws", env={"PORTRAIT_CONSOLE_IDLE_TIMEOUT": "2"}
    ) as running:
        yield running


def test_an_idle_session_expires(page: Any, short_sessions: Server) -> None:
    server = short_sessions
    sign_in(page, server, "analyst")
    page.goto(f"{server.url}/tags")
    expect(page.get_by_role("heading", name="Tag market")).to_be_visible()
    page.wait_for_timeout(3_000)
    page.goto(f"{server.url}/tags")
    assert page.url.endswith("/login?next=/tags")
    # an htmx request of an expired session is sent to the sign-in page
    answer = page.request.get(f"{server.url}/tags?q=age", headers={"HX-Request": "true"})
    assert answer.status == 401 and answer.headers["hx-redirect"].startswith("/login")
    sign_in(page, server, "analyst")
    page.goto(f"{server.url}/tags")
    expect(page.get_by_role("heading", name="Tag market")).to_be_visible()


def test_the_sign_in_form_needs_its_own_token_and_is_throttled(server: Server) -> None:
    with httpx.Client(base_url=server.url) as client:
        client.get("/login")
        forged = client.post(
            "/login", data={"name": "viewer", "password": PASSWORD, "login_token": "made-up"}
        )
        assert forged.status_code == 400 and "portrait_session" not in forged.cookies
        ws = server.workspace
        ws.accounts.create(name := "throttled_user", "viewer", PASSWORD)
        statuses = []
        for _ in range(6):
            form = client.get("/login").text
            token = re.search(r'name="login_token" value="([^"]+)"', form)
            assert token
            answer = client.post(
                "/login",
                data={"name": name, "password": "wrong password", "login_token": token.group(1)},
            )
            statuses.append(answer.status_code)
        assert statuses == [401, 401, 401, 401, 401, 429]
        assert int(answer.headers["retry-after"]) > 0
        assert "too many failed sign-ins" in answer.text


def test_headers_forbid_inline_script_eval_and_framing(server: Server) -> None:
    answer = httpx.get(f"{server.url}/login")
    policy = answer.headers["content-security-policy"]
    script = next(p for p in policy.split(";") if p.strip().startswith("script-src"))
    assert "'unsafe-inline'" not in script and "'unsafe-eval'" not in script
    assert "frame-ancestors 'none'" in policy
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["referrer-policy"] == "no-referrer"
    assert answer.headers["cache-control"] == "no-store"
    assert "<script>" not in answer.text  # every script is a file of the site
    assert not re.search(r"\son[a-z]+=", answer.text)  # no inline event handlers


def test_the_session_cookie_is_http_only_and_same_site(server: Server) -> None:
    with httpx.Client(base_url=server.url) as client:
        form = client.get("/login").text
        token = re.search(r'name="login_token" value="([^"]+)"', form)
        assert token
        answer = client.post(
            "/login", data={"name": "viewer", "password": PASSWORD, "login_token": token.group(1)}
        )
        cookie = next(
            v
            for k, v in answer.headers.multi_items()
            if k == "set-cookie" and "portrait_session" in v
        )
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil"])
def test_sign_in_never_redirects_off_the_site(server: Server, target: str) -> None:
    with httpx.Client(base_url=server.url) as client:
        form = client.get("/login").text
        token = re.search(r'name="login_token" value="([^"]+)"', form)
        assert token
        answer = client.post(
            "/login",
            data={
                "name": "viewer",
                "password": PASSWORD,
                "login_token": token.group(1),
                "next": target,
            },
        )
        assert answer.status_code == 303 and answer.headers["location"] == "/"


def test_charts_draw_under_the_strict_policy(page: Any, server: Server) -> None:
    sign_in(page, server, "viewer")
    page.goto(f"{server.url}/tags/age")
    chart = page.locator(".chart[data-spec]").first
    expect(chart).to_have_attribute("data-drawn", "yes")
    expect(chart.locator("svg")).to_be_visible()
