"""The personas pages (人群画像) in a real browser, on a workspace of their own where a persona
tag was fitted (through the facade) and built: its cards are the facade's, renaming a persona
updates its card, one segment per persona is saved; an analyst fits another tag from the page
and is told to build; bad input is shown next to its field; a viewer gets released numbers and
no control that fits, names or saves."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from portrait.model.access import Caller
from portrait.workspace import Workspace
from tests.browser.conftest import Server, served, sign_in
from tests.browser.test_accessibility import violations

PERSONA = "lifestyle"
FEATURES = ["sessions_per_week", "price_sensitivity", "social_shares_30d", "main_interest"]
K = 3  # a viewer's cards cost privacy budget per persona: three fit in a day's


@pytest.fixture(scope="module")
def persona_server(
    demo_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    def fitted(ws: Workspace) -> None:
        ws.personas.fit(PERSONA, FEATURES, k=K, sample=1_000)  # quick; every user is assigned
        ws.build()

    with served(demo_template, tmp_path_factory.mktemp("personas") / "ws", fitted) as running:
        yield running


def card(page: Any, persona: str) -> Any:
    return page.locator(f".persona-card[data-persona='{persona}']")


def test_the_cards_are_the_facades_and_renaming_a_persona_updates_its_card(
    page: Any, persona_server: Server
) -> None:
    server = persona_server
    sign_in(page, server, "analyst")
    page.goto(f"{server.url}/personas")
    page.locator("#persona-tags").get_by_role("link", name=PERSONA).click()
    page.wait_for_url(f"{server.url}/personas/{PERSONA}")
    cards = server.workspace.personas.show(PERSONA, caller=Caller("test", "analyst"))
    expect(page.locator(".persona-card")).to_have_count(K)
    for shown in cards["personas"]:
        box = card(page, shown["persona"])
        expect(box.get_by_test_id("persona-size")).to_have_text(f"{shown['size']:,}")
        if shown["distinctive"]:  # each value's TGI with its 95% interval
            d = shown["distinctive"][0]
            interval = f"{d['tgi_low']:.0f}–{d['tgi_high']:.0f}"
            expect(box.get_by_test_id("tgi-interval").first).to_have_text(interval)
        rule = shown["approximation"]["rule"]
        expect(box.get_by_test_id("approximation")).to_have_text(rule)
        if rule:
            hidden = box.locator("form[action='/builder'] input[name=rule]").first
            assert hidden.get_attribute("value") == rule
    # the personas' chart (the silhouette's is drawn when more than one k was tried)
    expect(page.locator(".chart[data-drawn=yes]")).to_have_count(1)

    first = card(page, "P1")
    first.get_by_text("Edit the name and description of P1").click()
    first.get_by_label("Name of P1").fill("Bargain hunters")
    first.get_by_label("Description of P1").fill("visit often, buy on discount")
    first.get_by_role("button", name="Save the name of P1").click()
    expect(first.get_by_test_id("persona-name")).to_have_text("Bargain hunters")
    expect(first.get_by_test_id("persona-description")).to_have_text("visit often, buy on discount")
    label = server.workspace.personas.definition(PERSONA).labels["P1"]
    assert (label.name, label.description) == ("Bargain hunters", "visit often, buy on discount")

    page.get_by_role("button", name="Save one segment per persona").click()
    saved = page.locator("#save-result li")
    expect(saved).to_have_count(K)
    ws = server.workspace
    for shown in cards["personas"]:
        name = f"{PERSONA}_{shown['persona'].lower()}"
        expect(page.locator(f"#save-result li[data-segment='{name}']")).to_contain_text(
            f"{shown['size']:,} users"
        )
        assert ws.count(f'segment("{name}")')["size"] == shown["size"]
    assert ws.segments[f"{PERSONA}_p1"].description == "Bargain hunters"


def test_an_analyst_fits_a_persona_tag_and_is_told_to_build(
    page: Any, persona_server: Server
) -> None:
    server = persona_server
    sign_in(page, server, "analyst")
    page.goto(f"{server.url}/personas")
    form = page.locator("#fit-form")
    form.get_by_label("Tag name").fill("habits")
    form.get_by_label("Features: the tags to cluster on").select_option(
        ["sessions_per_week", "price_sensitivity"]
    )
    form.get_by_label("Personas (k; empty: the best silhouette of 2–10)").fill("2")
    form.get_by_role("button", name="Fit personas").click()
    result = page.get_by_test_id("fit-result")
    expect(result).to_contain_text("Persona tag habits fitted: k = 2 (as given)")
    expect(result.get_by_test_id("build-next")).to_contain_text("portrait build")
    expect(page.locator("#persona-tags tr[data-tag='habits']")).to_contain_text("not built yet")
    tag = server.workspace.personas.definition("habits")
    assert (tag.k, list(tag.features)) == (2, ["sessions_per_week", "price_sensitivity"])

    # bad input next to its field; nothing is written
    form.get_by_label("Personas (k; empty: the best silhouette of 2–10)").fill("many")
    form.get_by_role("button", name="Fit personas").click()
    expect(page.locator("#problem-k .problem")).to_contain_text("'many' is not a number")
    expect(result).to_have_count(0)
    form.get_by_label("Personas (k; empty: the best silhouette of 2–10)").fill("")
    form.get_by_label("Tag name").fill(PERSONA)
    form.get_by_role("button", name="Fit personas").click()
    expect(page.locator("#problem-name .problem")).to_contain_text(
        f"persona tag '{PERSONA}' exists"
    )
    expect(page.locator("#problem-k")).to_be_empty()
    assert server.workspace.personas.definition(PERSONA).k == K


def test_a_viewer_gets_released_cards_and_no_fit_name_or_save_controls(
    page: Any, persona_server: Server
) -> None:
    server = persona_server
    sign_in(page, server, "viewer")
    page.goto(f"{server.url}/personas")
    expect(page.locator("#persona-tags tr[data-tag='lifestyle']")).to_be_visible()
    assert page.locator("#fit-form").count() == 0
    page.goto(f"{server.url}/personas/{PERSONA}")
    expect(page.get_by_test_id("privacy-note")).to_contain_text("suppressed")
    # the same question asked again by the same viewer is answered as before (no new noise)
    cards = server.workspace.personas.show(PERSONA, caller=Caller("user:viewer", "viewer"))
    for shown in cards["personas"]:
        size = card(page, shown["persona"]).get_by_test_id("persona-size")
        expect(size).to_have_text(f"{shown['size']:,}")
    assert page.get_by_text(re.compile("^Edit the name and description")).count() == 0
    assert page.get_by_role("button", name="Save one segment per persona").count() == 0
    assert page.get_by_role("button", name=re.compile("^Save as segment")).count() == 0

    # and a direct request is refused by the core, changing nothing
    token = page.evaluate("() => JSON.parse(document.body.getAttribute('hx-headers'))")
    headers = {"X-CSRF-Token": token["X-CSRF-Token"]}
    refused = page.request.post(
        f"{server.url}/personas/fit",
        headers=headers,
        form={"name": "viewer_personas", "features": "sessions_per_week", "k": "2"},
    )
    assert refused.status == 403
    refused = page.request.post(
        f"{server.url}/personas/{PERSONA}/describe",
        headers=headers,
        form={"persona": "P2", "display_name": "renamed by a viewer"},
    )
    assert refused.status == 403
    ws = server.workspace
    assert "viewer_personas" not in ws.catalog.tags.definitions
    assert ws.personas.definition(PERSONA).labels.get("P2") is None or (
        ws.personas.definition(PERSONA).labels["P2"].name != "renamed by a viewer"
    )


def test_the_persona_cards_have_no_serious_violations(
    axe_page: Any, persona_server: Server
) -> None:
    sign_in(axe_page, persona_server, "analyst")
    axe_page.goto(f"{persona_server.url}/personas/{PERSONA}")
    axe_page.wait_for_selector(".chart[data-drawn=yes]")
    assert violations(axe_page) == []
