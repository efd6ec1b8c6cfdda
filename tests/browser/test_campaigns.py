"""The campaign pages in a real browser: create with a live template preview, dry run, launch
on the file channel, the effect report against the facade's, re-targeting in the builder;
bad input shown next to its field; roles without campaigns refused by page and by request."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from uuid import uuid4

import httpx
import pyarrow as pa
from playwright.sync_api import expect

from portrait.model.access import Caller
from tests.browser.conftest import Server, sign_in, wait_counted

MARKETER = Caller("marketer", "marketer")


def _unique(prefix: str) -> str:
    return f"{prefix}_{uuid4().hex[:8]}"


def _fill_variant(page: Any, index: int, name: str, weight: str, template: str) -> None:
    row = page.locator("#variants .variant").nth(index)
    row.get_by_label("Variant name").fill(name)
    row.get_by_label("Weight (%)").fill(weight)
    row.get_by_label("Message template").fill(template)


def _created(server: Server, name: str) -> bool:
    ws = server.workspace
    try:
        return name in {c["name"] for c in ws.campaigns.all(caller=MARKETER)}
    finally:
        ws.close()


def _responses(server: Server, name: str) -> None:
    """Everyone sent to was delivered; every third clicked; every other clicker converted."""
    ws = server.workspace
    try:
        report = ws.campaigns.report(name, caller=MARKETER)
        assert report["groups"], report
        sent = [
            m["user_id"]
            for path in sorted((ws.root / "campaigns" / "outbox" / name).rglob("*.jsonl"))
            for m in (json.loads(line) for line in path.read_text(encoding="utf-8").splitlines())
        ]
        now = dt.datetime.now(dt.UTC)
        rows = []
        for n, user in enumerate(sent):
            rows.append({"campaign": name, "user_id": user, "response": "delivered", "ts": now})
            if n % 3 == 0:
                rows.append({"campaign": name, "user_id": user, "response": "clicked", "ts": now})
                if n % 2 == 0:
                    rows.append(
                        {"campaign": name, "user_id": user, "response": "converted", "ts": now}
                    )
        table = pa.Table.from_pylist(
            [{**r, "ts": r["ts"].isoformat(), "revenue": None} for r in rows]
        )
        loaded = ws.campaigns.record_responses(table, caller=MARKETER)
        assert loaded["loaded"] == len(rows), loaded
    finally:
        ws.close()


def test_create_preview_dry_run_launch_report_and_retarget(page: Any, server: Server) -> None:
    name = _unique("autumn")
    sign_in(page, server, "marketer")
    page.goto(f"{server.url}/campaigns/new?segment=young")
    expect(page.get_by_label("Audience (a saved segment)")).to_have_value("young")
    page.get_by_label("Name", exact=True).fill(name)
    _fill_variant(page, 0, "A", "45", "{{ city }}的朋友，秋季 8 折")
    # the live preview renders the first users of the audience
    preview = page.locator("#preview-0")
    expect(preview.locator(".samples li")).to_have_count(3)
    assert "的朋友，秋季 8 折" in preview.inner_text()
    # an unknown placeholder is shown next to its template, with a did-you-mean
    _fill_variant(page, 1, "B", "45", "Hi {{ ctiy }}")
    expect(page.locator("#preview-1 .problem")).to_contain_text("'ctiy'")
    expect(page.locator("#preview-1 .problem")).to_contain_text("did you mean 'city'?")
    page.locator("#variants .variant").nth(1).get_by_label("Message template").fill(
        "{{ age_band }} 专属礼包"
    )
    expect(page.locator("#preview-1 .samples li")).to_have_count(3)
    page.get_by_role("button", name="Create the campaign (draft)").click()
    page.wait_for_url(f"{server.url}/campaigns/{name}")
    expect(page.get_by_test_id("state")).to_have_text("draft")

    page.get_by_role("button", name="Dry run").click()
    dry = page.get_by_test_id("dry-run")
    expect(dry).to_be_visible()
    ws = server.workspace
    try:
        plan = ws.campaigns.dry_run(name, caller=MARKETER)
    finally:
        ws.close()
    for group in plan["groups"]:
        cell = dry.locator(f"tr[data-group='{group['group']}'] td[data-field='users']")
        expect(cell).to_have_text(f"{group['users']:,}")

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Launch").click()
    page.wait_for_load_state("networkidle")
    expect(page.get_by_test_id("state")).to_have_text("completed")

    _responses(server, name)
    page.reload()
    ws = server.workspace
    try:
        report = ws.campaigns.report(name, caller=MARKETER)
        rule = ws.audiences.builder.retarget(name)
        retarget_size = ws.count(rule)["size"]
    finally:
        ws.close()
    shown = page.get_by_test_id("report")
    expect(shown.locator(".chart[data-drawn='yes'] svg")).to_have_count(2)  # funnel, effects
    for group in report["groups"]:
        row = shown.locator(f"tr[data-group='{group['group']}']")
        for field in ("targeted", "sent", "delivered", "clicked", "converted"):
            expect(row.locator(f"td[data-field='{field}']")).to_have_text(f"{group[field]:,}")
        if group["cvr"] is not None:
            expect(row.locator("td[data-field='cvr']")).to_have_text(f"{group['cvr'] * 100:.1f}%")
        if group["uplift"] is not None:
            expect(row.locator("td[data-field='uplift']")).to_contain_text(
                f"{group['uplift'] * 100:+.1f}"
            )
    verdict = shown.get_by_test_id("verdict").locator("li")
    expect(verdict).to_have_text(report["verdict"])

    # the list shows it under its state
    page.goto(f"{server.url}/campaigns")
    expect(
        page.locator("table[data-state='completed']").get_by_role("link", name=name)
    ).to_be_visible()

    # re-targeting opens the builder on "clicked but did not convert"
    page.goto(f"{server.url}/campaigns/{name}")
    page.get_by_role("button", name="Re-target: clicked but did not convert").click()
    page.wait_for_url(f"{server.url}/builder")
    assert wait_counted(page) == retarget_size
    assert retarget_size > 0


def test_bad_input_is_shown_next_to_its_field_and_creates_nothing(
    page: Any, server: Server
) -> None:
    name = _unique("bad")
    sign_in(page, server, "marketer")
    page.goto(f"{server.url}/campaigns/new?segment=beijing")
    page.get_by_label("Name", exact=True).fill(name)
    _fill_variant(page, 0, "A", "forty", "hello {{ city }}")
    _fill_variant(page, 1, "B", "45", "hi")
    create = page.get_by_role("button", name="Create the campaign (draft)")
    create.click()
    problem = page.locator("#problem-variants-0-weight .problem")
    expect(problem).to_contain_text("'forty' is not a number")
    assert not _created(server, name)

    # the weights must add up to 100 with the control
    _fill_variant(page, 0, "A", "50", "hello {{ city }}")
    create.click()
    expect(page.locator("#problem-variants .problem")).to_contain_text("must add up to 100")
    expect(problem).to_have_count(0)  # the old problem is gone
    assert not _created(server, name)

    # an unknown placeholder, next to its template
    _fill_variant(page, 0, "A", "45", "hello {{ citty }}")
    create.click()
    expect(page.locator("#problem-variants-0-template .problem")).to_contain_text(
        "template uses 'citty'"
    )
    assert not _created(server, name)

    # a segment that is gone by the time the form is sent
    page.locator("#audience").evaluate(
        "(s) => { const o = document.createElement('option'); o.value = 'no_such_seg'; "
        "o.textContent = 'x'; s.appendChild(o); s.value = 'no_such_seg'; }"
    )
    _fill_variant(page, 0, "A", "45", "hello {{ city }}")
    create.click()
    expect(page.locator("#problem-audience .problem").first).to_contain_text(
        "no segment named 'no_such_seg'"
    )
    assert not _created(server, name)


def test_an_analyst_cannot_reach_campaigns(page: Any, server: Server) -> None:
    sign_in(page, server, "analyst")
    expect(
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Campaigns")
    ).to_have_count(0)
    for path in ("/campaigns", "/campaigns/new"):
        response = page.goto(f"{server.url}{path}")
        assert response is not None and response.status == 403
        expect(page.get_by_role("alert")).to_contain_text("may not")

    # a marketer's campaign: its page and actions are refused to the analyst's own cookie
    name = _unique("guarded")
    ws = server.workspace
    try:
        ws.campaigns.create(
            {
                "name": name,
                "audience": "young",
                "channel": "file",
                "variants": [{"name": "A", "weight": 100, "template": "hi {{ phone }}"}],
            },
            caller=MARKETER,
        )
    finally:
        ws.close()
    response = page.goto(f"{server.url}/campaigns/{name}")
    assert response is not None and response.status == 403
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    page.goto(f"{server.url}/tags")
    csrf = json.loads(page.locator("body").get_attribute("hx-headers") or "{}")["X-CSRF-Token"]
    with httpx.Client(base_url=server.url, cookies=cookies) as client:
        headers = {"X-CSRF-Token": csrf, "HX-Request": "true"}
        for path in (f"/campaigns/{name}/dry-run", f"/campaigns/{name}/launch"):
            answer = client.post(path, headers=headers)
            assert answer.status_code == 403, (path, answer.text)
        answer = client.post(
            "/campaigns/preview",
            headers=headers,
            data={"audience": "young", "variant_name": "A", "variant_template": "{{ phone }}"},
        )
        assert answer.status_code == 403 and "138" not in answer.text
        answer = client.post(
            "/campaigns",
            headers=headers,
            data={
                "name": _unique("sneaky"),
                "audience": "young",
                "channel": "file",
                "variant_name": "A",
                "variant_weight": "100",
                "variant_subject": "",
                "variant_template": "hi",
                "control": "0",
            },
        )
        assert answer.status_code == 403
    ws = server.workspace
    try:
        assert ws.campaigns.show(name, caller=MARKETER)["state"] == "draft"
        assert ws.campaigns.show(name, caller=MARKETER)["runs"] == []
    finally:
        ws.close()


def test_the_live_preview_masks_personal_data_for_a_marketer(page: Any, server: Server) -> None:
    sign_in(page, server, "marketer")
    page.goto(f"{server.url}/campaigns/new?segment=young")
    _fill_variant(page, 0, "A", "90", "write to {{ email }}")
    samples = page.locator("#preview-0 .samples li .text")
    expect(samples).to_have_count(3)
    ws = server.workspace
    try:
        shown = ws.campaigns.preview("young", "write to {{ email }}", caller=MARKETER)
        clear = ws.campaigns.preview("young", "write to {{ email }}", caller=Caller("a", "admin"))
    finally:
        ws.close()
    expect(samples).to_have_text([s["text"] for s in shown["samples"]])
    for masked, real in zip(shown["samples"], clear["samples"], strict=True):
        assert "@example.com" in real["text"] and "@example.com" not in masked["text"]
        assert real["text"] not in page.content()
