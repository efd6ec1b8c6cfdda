"""The experiment pages in a real browser: importing an A/B test run elsewhere (files written
here from the demo's users) lands on its campaign page with the sizes uploaded; a bad file
is shown next to its field and stores nothing; roles without campaigns are refused by page
and by request; the size calculator shows the facade's numbers."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest
from playwright.sync_api import expect

from portrait.model.access import Caller
from portrait.workspace.campaigning import CampaignService
from tests.browser.conftest import Server, sign_in

MARKETER = Caller("marketer", "marketer")
SIZES = {"control": 30, "A": 45, "B": 45}


def _unique(prefix: str) -> str:
    return f"{prefix}_{uuid4().hex[:8]}"


def _users(server: Server, count: int) -> list[str]:
    ws = server.workspace
    try:
        return ws.users.user_ids_of(list(range(count)))
    finally:
        ws.close()


def _names(server: Server) -> list[str]:
    ws = server.workspace
    try:
        return ws.campaigns().names()
    finally:
        ws.close()


def _experiment_files(server: Server, folder: Path) -> tuple[Path, Path]:
    """Assignments (control 30, A 45, B 45, the last user twice in one group) and a row of
    outcomes per user (every third converted)."""
    users = _users(server, sum(SIZES.values()))
    groups = [g for g, n in SIZES.items() for _ in range(n)]
    assignments = folder / "assigned.csv"
    rows = ["user_id,group,ts"]
    rows += [f"{u},{g},2024-05-01T10:00:00" for u, g in zip(users, groups, strict=True)]
    rows.append(f"{users[-1]},{groups[-1]},2024-05-01T10:00:00")  # a repeated row counts once
    assignments.write_text("\n".join(rows) + "\n", encoding="utf-8")
    outcomes = folder / "outcomes.jsonl"
    outcomes.write_text(
        "".join(
            json.dumps({"user_id": u, "clicked": n % 2 == 0, "converted": n % 3 == 0}) + "\n"
            for n, u in enumerate(users)
        ),
        encoding="utf-8",
    )
    return assignments, outcomes


def test_an_imported_experiment_lands_on_its_report(
    page: Any, server: Server, tmp_path: Path
) -> None:
    name = _unique("vendor_ab")
    assignments, outcomes = _experiment_files(server, tmp_path)
    sign_in(page, server, "marketer")
    page.goto(f"{server.url}/campaigns/import")
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Assignments file (who was in which group)").set_input_files(assignments)
    page.get_by_label("Outcomes file (optional)").set_input_files(outcomes)
    page.get_by_label("Planned weights (percent of the users per group)").fill(
        "control=25,A=37.5,B=37.5"
    )
    page.get_by_role("button", name="Import the experiment").click()
    page.wait_for_url(f"{server.url}/campaigns/{name}")
    expect(page.get_by_test_id("state")).to_have_text("completed")

    ws = server.workspace
    try:
        report = ws.campaigns.report(name, caller=MARKETER)
    finally:
        ws.close()
    targeted = {g["group"]: g["targeted"] for g in report["groups"]}
    assert targeted == SIZES
    converted = sum(g["converted"] for g in report["groups"])
    assert converted >= sum(1 for n in range(sum(SIZES.values())) if n % 3 == 0)
    shown = page.get_by_test_id("report")
    for group, size in SIZES.items():
        expect(shown.locator(f"tr[data-group='{group}'] td[data-field='targeted']")).to_have_text(
            f"{size:,}"
        )

    # the same name again is refused next to the name; with "replace" it is imported again
    page.goto(f"{server.url}/campaigns/import")
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Assignments file (who was in which group)").set_input_files(assignments)
    page.get_by_label("Planned weights (percent of the users per group)").fill(
        "control=25,A=37.5,B=37.5"
    )
    page.get_by_role("button", name="Import the experiment").click()
    expect(page.locator("#problem-name .problem")).to_contain_text("already exists")
    page.get_by_label("Replace an earlier import of this name").check()
    page.get_by_role("button", name="Import the experiment").click()
    page.wait_for_url(f"{server.url}/campaigns/{name}")
    expect(page.get_by_test_id("state")).to_have_text("completed")


@pytest.mark.parametrize(
    ("bad", "field", "message"),
    [
        ("two_groups", "assignments", "in two groups"),
        ("unknown_group", "assignments", "unknown group 'C'"),
        ("never_assigned", "outcomes", "never assigned"),
        ("weights", "weights", "'ten' is not a number"),
        ("empty", "assignments", "the file is empty"),
        ("txt", "assignments", "unknown file type '.txt'"),
        ("days", "attribution_days", "greater than or equal to 1"),
    ],
)
def test_a_bad_file_is_shown_next_to_its_field_and_stores_nothing(
    page: Any, server: Server, tmp_path: Path, bad: str, field: str, message: str
) -> None:
    name = _unique("bad_import")
    users = _users(server, 40)
    rows = [f"{u},{'control' if n % 2 else 'A'}" for n, u in enumerate(users[:30])]
    if bad == "two_groups":
        rows.append(f"{users[0]},control")  # users[0] is in A
    if bad == "unknown_group":
        rows.append(f"{users[31]},C")
    assignments = tmp_path / ("assigned.txt" if bad == "txt" else "assigned.csv")
    text = "" if bad == "empty" else "user_id,group\n" + "\n".join(rows) + "\n"
    assignments.write_text(text, encoding="utf-8")
    outcomes = tmp_path / "outcomes.csv"
    outcomes.write_text(f"user_id,converted\n{users[1]},1\n{users[35]},1\n", encoding="utf-8")
    sign_in(page, server, "marketer")
    page.goto(f"{server.url}/campaigns/import")
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Assignments file (who was in which group)").set_input_files(assignments)
    if bad == "never_assigned":
        page.get_by_label("Outcomes file (optional)").set_input_files(outcomes)
    page.get_by_label("Planned weights (percent of the users per group)").fill(
        "control=ten,A=50" if bad == "weights" else "control=50,A=50"
    )
    if bad == "days":
        page.get_by_label(
            "Attribution days (an order or conversion counts this long after assignment)"
        ).fill("-1")
    page.get_by_role("button", name="Import the experiment").click()
    problem = page.locator(f"#problem-{field} .problem")
    expect(problem).to_contain_text(message)
    if field in ("assignments", "outcomes"):
        # the file is named as uploaded, never by the server's temporary path
        uploaded = assignments.name if field == "assignments" else "outcomes.csv"
        expect(problem).to_contain_text(uploaded if bad != "empty" else "assignments")
        assert "portrait-import-" not in problem.inner_text()
    expect(page.locator(".field-problem .problem")).to_have_count(1)
    assert name not in _names(server)


def test_the_plain_form_imports_without_scripts(page: Any, server: Server, tmp_path: Path) -> None:
    """Without htmx (the token as a form field): a redirect to the campaign, or the form again
    with the problem next to its field."""
    assignments, _ = _experiment_files(server, tmp_path)
    sign_in(page, server, "marketer")
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    page.goto(f"{server.url}/campaigns/import")
    csrf = page.locator("input[name='csrf']").first.get_attribute("value")
    name = _unique("plain")
    with httpx.Client(base_url=server.url, cookies=cookies) as client:
        for weights in ("control=25,A=75", "control=25,A=37.5,B=37.5"):
            with assignments.open("rb") as file:
                answer = client.post(
                    "/campaigns/import",
                    data={"csrf": csrf, "name": name, "weights": weights, "replace": "true"},
                    files={"assignments": ("assigned.csv", file, "text/csv")},
                    follow_redirects=False,
                )
            if weights == "control=25,A=75":  # B is assigned but not planned
                assert answer.status_code == 400, answer.text
                slot = re.search(r'id="problem-assignments"[^>]*>(.*?)</div>', answer.text, re.S)
                assert slot is not None and 'class="problem"' in slot.group(1)
                assert "unknown group &#39;B&#39;" in answer.text
                assert name not in _names(server)
            else:
                assert answer.status_code == 303, answer.text
                assert answer.headers["location"] == f"/campaigns/{name}"
    assert name in _names(server)


def test_roles_without_campaigns_cannot_import_or_plan(
    page: Any, server: Server, tmp_path: Path
) -> None:
    assignments, _ = _experiment_files(server, tmp_path)
    for role in ("viewer", "analyst"):
        page.context.clear_cookies()
        sign_in(page, server, role)
        for path in ("/campaigns/import", "/campaigns/plan"):
            response = page.goto(f"{server.url}{path}")
            assert response is not None and response.status == 403, (role, path)
            expect(page.get_by_role("alert")).to_contain_text("may not")
        cookies = {c["name"]: c["value"] for c in page.context.cookies()}
        page.goto(f"{server.url}/tags")
        csrf = json.loads(page.locator("body").get_attribute("hx-headers") or "{}")
        name = _unique("sneaky")
        with httpx.Client(base_url=server.url, cookies=cookies) as client:
            headers = {"X-CSRF-Token": csrf["X-CSRF-Token"], "HX-Request": "true"}
            with assignments.open("rb") as file:
                answer = client.post(
                    "/campaigns/import",
                    headers=headers,
                    data={"name": name, "weights": "control=25,A=37.5,B=37.5"},
                    files={"assignments": ("assigned.csv", file, "text/csv")},
                )
            assert answer.status_code == 403, (role, answer.text)
            # the plain form's way (the token as a field) is refused the same
            with assignments.open("rb") as file:
                answer = client.post(
                    "/campaigns/import",
                    data={
                        "csrf": csrf["X-CSRF-Token"],
                        "name": name,
                        "weights": "control=25,A=37.5,B=37.5",
                    },
                    files={"assignments": ("assigned.csv", file, "text/csv")},
                    follow_redirects=False,
                )
            assert answer.status_code == 403, (role, answer.text)
            answer = client.post(
                "/campaigns/plan",
                headers=headers,
                data={"baseline": "0.05", "effect": "10%"},
            )
            assert answer.status_code == 403 and "users in all" not in answer.text
        assert name not in _names(server)


def test_a_marketer_import_without_the_token_is_refused(
    page: Any, server: Server, tmp_path: Path
) -> None:
    """CSRF: a signed-in marketer's cookie alone does not import."""
    assignments, _ = _experiment_files(server, tmp_path)
    sign_in(page, server, "marketer")
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    name = _unique("no_token")
    with (
        httpx.Client(base_url=server.url, cookies=cookies) as client,
        assignments.open("rb") as file,
    ):
        answer = client.post(
            "/campaigns/import",
            data={"name": name, "weights": "control=25,A=37.5,B=37.5"},
            files={"assignments": ("assigned.csv", file, "text/csv")},
            follow_redirects=False,
        )
    assert answer.status_code == 403, answer.text
    assert name not in _names(server)


@pytest.mark.parametrize(
    ("inputs", "plan"),
    [
        (
            {"baseline": "0.05", "effect": "10%", "weights": "control=10,A=45,B=45"},
            {"baseline": 0.05, "effect": 0.1, "relative": True},
        ),
        (
            {"baseline": "20", "effect": "1.5", "sd": "12", "power": "0.9", "correction": "none"},
            {"baseline": 20.0, "effect": 1.5, "sd": 12.0, "power": 0.9, "correction": "none"},
        ),
    ],
)
def test_the_calculator_shows_the_facades_plan(
    page: Any, server: Server, inputs: dict[str, str], plan: dict[str, Any]
) -> None:
    sign_in(page, server, "marketer")
    page.goto(f"{server.url}/campaigns/plan")
    labels = {
        "baseline": "Baseline (the control's rate, e.g. 0.05; or its mean, with a standard "
        "deviation)",
        "effect": "Smallest effect worth finding (absolute, e.g. 0.01, or relative, e.g. 10%)",
        "weights": "Planned weights (percent of the users per group)",
        "sd": "Standard deviation per user (optional; for a mean metric)",
        "power": "Power",
    }
    for field, value in inputs.items():
        if field == "correction":
            page.get_by_label("Correction").select_option(value)
        else:
            page.get_by_label(labels[field], exact=True).fill(value)
    page.get_by_role("button", name="Plan", exact=True).click()
    shown = page.get_by_test_id("plan")
    expect(shown).to_be_visible()
    weights = CampaignService.parse_weights(inputs.get("weights", "control=50,A=50"))
    expected = CampaignService.plan_size(
        plan["baseline"],
        plan["effect"],
        weights,
        relative=plan.get("relative", False),
        sd=plan.get("sd"),
        power=plan.get("power", 0.8),
        correction=plan.get("correction", "holm"),
    )
    expect(shown.get_by_test_id("plan-summary")).to_have_text(expected["summary"])
    for group in expected["groups"]:
        cell = shown.locator(f"tr[data-group='{group['group']}'] td[data-field='users']")
        expect(cell).to_have_text(f"{group['users']:,}")
    expect(shown.locator("td[data-field='total']")).to_have_text(f"{expected['users']:,}")


def test_a_bad_plan_is_shown_next_to_its_field(page: Any, server: Server) -> None:
    sign_in(page, server, "marketer")
    page.goto(f"{server.url}/campaigns/plan")
    baseline = page.get_by_label(
        "Baseline (the control's rate, e.g. 0.05; or its mean, with a standard deviation)"
    )
    effect = page.get_by_label(
        "Smallest effect worth finding (absolute, e.g. 0.01, or relative, e.g. 10%)"
    )
    baseline.fill("0.05")
    effect.fill("0.01")
    plan = page.get_by_role("button", name="Plan", exact=True)
    plan.click()
    expect(page.get_by_test_id("plan")).to_be_visible()

    baseline.fill("1.5")
    plan.click()
    problem = page.locator("#problem-baseline .problem")
    expect(problem).to_contain_text("a baseline rate is between 0 and 1, not 1.5")
    expect(page.get_by_test_id("plan")).to_have_count(0)  # the old plan is gone

    baseline.fill("0.05")
    page.get_by_label("Planned weights (percent of the users per group)").fill("control=50")
    plan.click()
    expect(page.locator("#problem-weights .problem")).to_contain_text("two groups at least")
    expect(problem).to_have_count(0)

    page.get_by_label("Planned weights (percent of the users per group)").fill("control=50,A=50")
    effect.fill("ten percent")
    plan.click()
    expect(page.locator("#problem-effect .problem")).to_contain_text("is not a number")

    effect.fill("0.000000001")  # too small for any sample size
    plan.click()
    expect(page.locator("#problem-effect .problem")).to_contain_text(
        "no sample size finds an effect"
    )
