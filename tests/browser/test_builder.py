"""The audience builder in a real browser: a nested rule built by clicking shows exactly the
facade's counts (the total and every node's own); the text and the tree follow each other;
an ID list uploads with its report; bad input shows where it is wrong and saves nothing."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
from playwright.sync_api import expect

from tests.browser.conftest import Server, sign_in, wait_counted


def node_sizes(page: Any) -> list[int | None]:
    sizes = page.locator("#builder .cond > .count").evaluate_all(
        "els => els.map(e => e.getAttribute('data-size'))"
    )
    return [int(s) if s else None for s in sizes]


def test_a_nested_rule_built_by_clicking_counts_as_the_facade_does(
    page: Any, server: Server
) -> None:
    sign_in(page, server, "analyst")
    page.goto(f"{server.url}/builder")
    root = page.locator("#builder > .group")
    # city in (北京, 上海)
    root.get_by_role("button", name="+ tag condition").last.click()
    first = page.locator("#builder .cond").nth(0)
    first.locator("[data-role=tag]").select_option("city")
    first.locator("[data-role=op]").select_option("in")
    first.get_by_role("checkbox", name=re.compile("^北京")).check()
    first.get_by_role("checkbox", name=re.compile("^上海")).check()
    # a group: any of (age >= 30, not (a behaviour))
    root.locator(":scope > .adds").get_by_role("button", name="+ group").click()
    inner = page.locator("#builder .group .group").first
    expect(inner.locator(".head select").first).to_have_value("or")
    inner.locator(":scope > .adds").get_by_role("button", name="+ tag condition").click()
    age = inner.locator(".cond").nth(0)
    age.locator("[data-role=tag]").select_option("age")
    age.locator("[data-role=op]").select_option(">=")
    age.get_by_label("Value", exact=True).fill("30")
    inner.locator(":scope > .adds").get_by_role("button", name="+ group").click()
    excluded = inner.locator(".group").first
    excluded.get_by_label("exclude (NOT)").check()
    excluded.locator(":scope > .adds").get_by_role("button", name="+ behaviour").click()
    behaviour = excluded.locator(".cond").first
    behaviour.locator("[data-role=event]").select_option("view")
    behaviour.get_by_label("Value", exact=True).fill("3")
    behaviour.get_by_label("Operator", exact=True).select_option(">")
    total = wait_counted(page)

    text = page.locator("#rule-text").input_value()
    expected = 'city in ("北京", "上海") and (age >= 30 or not events("view", last="30d") > 3)'
    assert text == expected
    ws = server.workspace
    assert total == ws.count(expected)["size"]
    leaves = ['city in ("北京", "上海")', "age >= 30", 'events("view", last="30d") > 3']
    assert node_sizes(page) == [ws.count(rule)["size"] for rule in leaves]


def test_text_and_tree_follow_each_other(page: Any, server: Server) -> None:
    sign_in(page, server, "analyst")
    page.goto(f"{server.url}/builder")
    rule = 'gender = "女" and (age between 20 and 35 or segment("young")) and not city = "北京"'
    page.locator("#rule-text").fill(rule)
    page.get_by_role("button", name="Apply the text").click()
    expect(page.locator("#builder .cond")).to_have_count(4)
    wait_counted(page)
    assert page.locator("#rule-text").input_value() == rule
    # an edit in the tree rewrites the text
    between = page.locator("#builder .cond").nth(1)
    between.get_by_label("to", exact=True).fill("40")
    page.wait_for_function(
        "() => document.getElementById('rule-text').value.includes('between 20 and 40')"
    )
    total = wait_counted(page)
    edited = rule.replace("and 35", "and 40")
    assert page.locator("#rule-text").input_value() == edited
    assert total == server.workspace.count(edited)["size"]


def test_malformed_text_points_at_the_problem_and_keeps_the_tree(page: Any, server: Server) -> None:
    sign_in(page, server, "analyst")
    page.goto(f"{server.url}/builder")
    page.locator("#rule-text").fill("age >= 30")
    page.get_by_role("button", name="Apply the text").click()
    wait_counted(page)
    page.locator("#rule-text").fill('age >= 30 and city = "北京" and')
    page.get_by_role("button", name="Apply the text").click()
    problem = page.locator("#text-problem .problem")
    expect(problem).to_contain_text("cannot parse the rule")
    expect(problem).to_contain_text("line 1, column")
    expect(page.locator("#builder .cond")).to_have_count(1)  # the tree is as it was
    page.locator("#rule-text").fill("agee >= 30")
    page.get_by_role("button", name="Apply the text").click()
    expect(page.locator("#text-problem .problem")).to_contain_text("unknown tag 'agee'")
    expect(page.locator("#text-problem .problem")).to_contain_text("did you mean 'age'")


def test_an_unknown_value_type_shows_next_to_its_condition(page: Any, server: Server) -> None:
    sign_in(page, server, "analyst")
    page.goto(f"{server.url}/builder")
    page.locator("#rule-text").fill('registered_at >= "2026-01-01" and age > 20')
    page.get_by_role("button", name="Apply the text").click()
    wait_counted(page)
    date = page.locator("#builder .cond").first
    date.get_by_label("Value", exact=True).fill("not a date")
    expect(date.locator(".error")).not_to_be_empty()
    expect(date).to_have_class(re.compile(r"\bbad\b"))
    assert page.locator("#builder .cond").nth(1).locator(".count").get_attribute("data-size")


def test_saving_refuses_a_bad_name_and_saves_nothing(page: Any, server: Server) -> None:
    sign_in(page, server, "analyst")
    page.goto(f"{server.url}/builder")
    page.locator("#rule-text").fill("age > 60")
    page.get_by_role("button", name="Apply the text").click()
    wait_counted(page)
    before = {s["name"] for s in server.workspace.audiences.segments.all()}
    form = page.locator("#save-form")
    form.get_by_label("Name").evaluate("e => e.removeAttribute('pattern')")
    form.get_by_label("Name").fill("bad name!")
    form.get_by_role("button", name="Save segment").click()
    expect(page.locator("#save-result .problem")).to_be_visible()
    assert {s["name"] for s in server.workspace.audiences.segments.all()} == before


def test_an_id_list_upload_reports_and_joins_the_rule(
    page: Any, server: Server, tmp_path: Path
) -> None:
    ws = server.workspace
    known = ws.users.user_ids_of([0, 1, 2, 3, 4])
    name = f"ids_{uuid4().hex[:8]}"
    upload = tmp_path / "ids.csv"
    upload.write_text("\n".join(["user_id", *known, known[0], "nobody-1", "nobody-2"]) + "\n")
    sign_in(page, server, "analyst")
    page.goto(f"{server.url}/builder")
    form = page.locator("#ids-form")
    form.get_by_label("List name").fill(name)
    form.locator("input[type=file]").set_input_files(str(upload))
    form.get_by_role("button", name="Upload and add to the rule").click()
    report = page.get_by_test_id("ids-report")
    expect(report).to_contain_text("5 matched, 2 unmatched, 1 duplicates")
    total = wait_counted(page)
    assert page.locator("#rule-text").input_value() == f'ids("{name}")'
    assert total == server.workspace.count(f'ids("{name}")')["size"] == 5


def test_the_builder_is_usable_by_keyboard_alone(page: Any, server: Server) -> None:
    sign_in(page, server, "analyst")
    page.goto(f"{server.url}/builder")
    add = page.locator("#builder .adds button").first
    add.focus()
    page.keyboard.press("Enter")  # + tag condition; focus moves to its tag picker
    expect(page.locator("#builder .cond [data-role=tag]")).to_be_focused()
    for _ in range(60):  # arrow down the tag list until 'age' is chosen
        if page.locator("#builder .cond [data-role=tag]").input_value() == "age":
            break
        page.keyboard.press("ArrowDown")
    value = page.locator("#builder .cond").get_by_label("Value", exact=True)
    expect(value).to_be_visible()  # once the tag's values have come
    page.keyboard.press("Tab")  # the operator
    expect(page.locator("#builder .cond [data-role=op]")).to_be_focused()
    page.keyboard.press("Tab")  # the value
    expect(value).to_be_focused()
    page.keyboard.type("50")
    total = wait_counted(page)
    op = page.locator("#builder .cond [data-role=op]").input_value()
    assert total == server.workspace.count(f"age {op} 50")["size"]


def test_oversized_input_is_refused_next_to_its_field_and_saves_nothing(
    page: Any, server: Server
) -> None:
    sign_in(page, server, "analyst")
    page.goto(f"{server.url}/builder")
    csrf = page.locator("body").get_attribute("hx-headers") or ""
    token = {"X-CSRF-Token": csrf.split('"')[3], "HX-Request": "true"}
    long_name = page.request.post(
        f"{server.url}/builder/save", form={"name": "n" * 300, "rule": "age > 3"}, headers=token
    )
    assert long_name.status == 400
    assert "name: String should have at most 128 characters" in long_name.text()
    big = b"user_id\n" + b"x" * (33 * 2**20)
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    # straight over HTTP: the browser's request API is slow with 33 MB
    upload = httpx.post(
        f"{server.url}/builder/ids",
        data={"name": "too_big"},
        files={"file": ("ids.csv", big, "text/csv")},
        headers={"X-CSRF-Token": token["X-CSRF-Token"], "Accept": "application/json"},
        cookies=cookies,
        timeout=60,
    )
    assert upload.status_code == 400
    assert upload.json()["problem"]["message"] == "the file is larger than 32 MiB"
    ws = server.workspace
    assert "too_big" not in ws.metadata.id_list_names()
    assert "n" * 300 not in {s["name"] for s in ws.audiences.segments.all()}
