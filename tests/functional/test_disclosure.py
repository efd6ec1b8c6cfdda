"""Disclosure control through the HTTP API, as an attacker with a viewer key would try it:
singling out through shares, counts as an oracle (zero, differencing), unmasking a masked
value by ``in`` lists, rule texts and hints; and the same policy from the Python API with a
role. Every attack here revealed a person before the policy existed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

import portrait
from portrait.api.app import create_app
from portrait.errors import AccessError, PrivacyBudgetError
from portrait.workspace import Workspace


def _key(ws: Workspace, role: str) -> dict[str, str]:
    _, secret = ws.keys.create(role)
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def client(demo_ws: Workspace) -> Iterator[TestClient]:
    with TestClient(create_app(demo_ws.root)) as test_client:
        yield test_client


def _one_person(ws: Workspace) -> tuple[str, str]:
    """A rule without personal data that selects exactly one user, and that user's id."""
    for age in range(70, 18, -1):
        for city in ("北京", "上海", "成都", "广州", "深圳", "杭州"):
            rule = f'age = {age} and city = "{city}"'
            if ws.count(rule)["size"] == 1:
                return rule, ws.select(rule).ids()[0]
    raise AssertionError("the demo has a user alone in an (age, city) cell")


def test_a_rule_naming_personal_data_is_refused_below_admin(
    client: TestClient, demo_ws: Workspace
) -> None:
    user_id = demo_ws.select("age > 0").ids()[0]
    phone = demo_ws.user(user_id, unmask=True)["tags"]["basic"]
    phone = next(t["value"] for t in phone if t["tag"] == "phone")
    viewer, analyst, admin = (_key(demo_ws, r) for r in ("viewer", "analyst", "admin"))
    # attack 1: insight on one person's phone number, min_count 0
    for headers in (viewer, analyst):
        answer = client.post(
            "/v1/insight", json={"target": f'phone = "{phone}"', "min_count": 0}, headers=headers
        )
        assert answer.status_code == 403, answer.text
        error = answer.json()["error"]
        assert error["code"] == "forbidden" and "phone" in error["message"]
        assert phone not in answer.text
    # attack 3: recovering a masked number by counts over candidate lists
    candidates = ", ".join(f'"{phone[:-2]}{i:02d}"' for i in range(100))
    probe = client.post("/v1/count", json={"rule": f"phone in ({candidates})"}, headers=viewer)
    assert probe.status_code == 403
    # an admin may select by it; the size is exact for an admin
    assert (
        client.post("/v1/count", json={"rule": f'phone = "{phone}"'}, headers=admin).json()["size"]
        == 1
    )
    # a viewer's tag page shows no values of a pii tag, not even masked ones
    page = client.get("/v1/tags/phone", headers=viewer).json()
    assert "distribution" not in page and "personal data" in page["distribution_hidden"]


def test_one_person_s_profile_is_not_read_through_shares(
    client: TestClient, demo_ws: Workspace
) -> None:
    rule, _ = _one_person(demo_ws)
    viewer = _key(demo_ws, "viewer")
    body = client.post(
        "/v1/insight", json={"target": rule, "min_count": 0, "top": 0}, headers=viewer
    )
    report = body.json()
    assert body.status_code == 200 and report["target_size"] is None and report["suppressed"]
    assert report["rows"], "the report still lists the tags"
    for row in report["rows"]:  # nothing computed from the one person's counts
        assert row["target"] is None and row["target_share"] is None, row
        assert row["tgi"] is None and row["z"] is None and not row["significant"], row
    # the same through distinctive features and cross analysis
    distinctive = client.post("/v1/insight/distinctive", json={"target": rule}, headers=viewer)
    assert distinctive.json()["rows"] == []
    cross = client.post(
        "/v1/cross", json={"audiences": [rule, 'city = "北京"']}, headers=viewer
    ).json()["rows"]
    for row in cross:
        assert row["both"] is None and row["support"] is None and row["confidence"] is None
        assert row["lift"] is None and row["suppressed"]


def test_counts_are_no_oracle(client: TestClient, demo_ws: Workspace) -> None:
    rule, _ = _one_person(demo_ws)
    viewer = _key(demo_ws, "viewer")

    def size(text: str) -> int | None:
        answer = client.post("/v1/count", json={"rule": text}, headers=viewer)
        assert answer.status_code == 200, answer.text
        return answer.json()["size"]  # type: ignore[no-any-return]

    # attack 2: a known person's attribute by "does this cell hold 1 or 0": both suppressed
    age = int(rule.split()[2])
    assert size(rule) is None and size(rule.replace(f"age = {age}", f"age = {age + 100}")) is None
    assert size("age > 200") is None  # zero is a small cell too
    # differencing: a large group with and without the one person
    big = rule.split(" and ")[1]  # the person's city: 1,000 users or so
    without = f"{big} and not ({rule})"
    assert demo_ws.count(big)["size"] - demo_ws.count(without)["size"] == 1
    assert size(big) == size(big)  # repeating a question says nothing new
    # over many pairs the released difference is not the true one (noise, sd ≈ 4)
    pairs = [
        (f"{big} and age >= {a}", f"{big} and age >= {a} and not ({rule})") for a in range(18, 40)
    ]
    differences = []
    for with_, without_ in pairs:
        a, b = size(with_), size(without_)
        if a is not None and b is not None:
            differences.append(a - b)
    assert len(differences) >= 10
    assert len(set(differences)) > 3, differences  # not the constant true difference
    # the same sets asked in other words get the same answers (noise follows the set)
    assert size(f"not (not ({big}))") == size(big)


def test_the_daily_budget_stops_averaging(demo_ws: Workspace) -> None:
    ws = portrait.open(demo_ws.root, overrides={"privacy.daily_budget": 5}, role="viewer")
    for age in range(20, 30):  # each distinct question costs epsilon (0.5)
        ws.count(f"age >= {age}")
    with pytest.raises(PrivacyBudgetError, match="privacy budget") as caught:
        ws.count("age >= 31")
    assert caught.value.code == "privacy_budget"
    assert ws.count("age >= 20")["size"] is not None  # asked before: free, same answer
    # another actor has a budget of its own
    other = portrait.open(
        demo_ws.root, overrides={"privacy.daily_budget": 5}, role="viewer", actor="someone-else"
    )
    assert other.count("age >= 31")["privacy"]["spent_today"] == 0.5


def test_budget_over_http_is_429(demo_ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORTRAIT_PRIVACY_DAILY_BUDGET", "1")
    viewer = _key(demo_ws, "viewer")
    with TestClient(create_app(demo_ws.root)) as client:
        assert (
            client.post("/v1/count", json={"rule": "age > 30"}, headers=viewer).status_code == 200
        )
        assert (
            client.post("/v1/count", json={"rule": "age > 31"}, headers=viewer).status_code == 200
        )
        over = client.post("/v1/count", json={"rule": "age > 32"}, headers=viewer)
    assert over.status_code == 429 and over.json()["error"]["code"] == "privacy_budget"


def test_segments_overlap_history_and_rules_as_a_viewer_sees_them(
    client: TestClient, demo_ws: Workspace
) -> None:
    rule, user_id = _one_person(demo_ws)
    email = f"{user_id}@example.com"  # the demo's addresses
    demo_ws.segments.create("vip_mail", f'email = "{email}" or age > 60')
    demo_ws.segments.create("alone", rule)
    demo_ws.segments.create("beijing", 'city = "北京"')
    viewer, analyst = _key(demo_ws, "viewer"), _key(demo_ws, "analyst")
    for headers in (viewer, analyst):
        shown = client.get("/v1/segments/vip_mail", headers=headers)
        assert email not in shown.text and shown.json()["rule"].startswith('email = "')
        listed = client.get("/v1/segments", headers=headers)
        assert email not in listed.text and "vip_mail" in listed.text
    alone = client.get("/v1/segments/alone", headers=viewer).json()
    assert alone["size"] is None and alone["suppressed"]
    history = client.get("/v1/segments/alone/history", headers=viewer).json()
    assert history and all(h["size"] is None for h in history)
    # overlap: nothing of the one-person segment, no a_only next to size_a
    overlap = client.get("/v1/segments/beijing/overlap/alone", headers=viewer).json()
    for field in ("size_b", "intersection", "union", "jaccard", "a_only", "b_only"):
        assert overlap[field] is None, (field, overlap)
    assert client.get("/v1/segments/alone", headers=analyst).json()["size"] == 1


def test_hints_never_show_personal_data(demo_ws: Workspace) -> None:
    user_id = demo_ws.select("age > 0").ids()[0]
    basic = {t["tag"]: t["value"] for t in demo_ws.user(user_id, unmask=True)["tags"]["basic"]}
    near = basic["email"][:-1] + "x"
    answer = demo_ws.count(f'email = "{near}"')  # an admin: allowed, and no did-you-mean
    assert answer["size"] == 0
    viewer = portrait.open(demo_ws.root, role="viewer")
    with pytest.raises(AccessError) as refused:
        viewer.count(f'email = "{near}"')
    assert basic["email"] not in str(refused.value) + str(refused.value.hint)


def test_the_python_api_with_a_role_is_the_same_policy(
    client: TestClient, demo_ws: Workspace
) -> None:
    viewer_ws = portrait.open(demo_ws.root, role="viewer", actor="notebook")
    over_http = client.post(
        "/v1/count", json={"rule": 'city = "上海"'}, headers=_key(demo_ws, "viewer")
    ).json()
    local = viewer_ws.count('city = "上海"')
    assert local["size"] == over_http["size"]  # the noise is that of what is counted
    assert local["privacy"]["epsilon"] == 0.5
    with pytest.raises(AccessError, match="users:read"):
        viewer_ws.select('city = "上海"')
    with pytest.raises(AccessError, match="users:read"):
        viewer_ws.user(demo_ws.select("age > 0").ids()[0])
    analyst_ws = portrait.open(demo_ws.root, role="analyst")
    assert analyst_ws.count('city = "上海"')["size"] == len(demo_ws.select('city = "上海"'))


def test_rule_size_is_bounded_by_role(client: TestClient, demo_ws: Workspace) -> None:
    wide = " or ".join(
        f'events("view", item_category="lipstick", last="{d}d") >= 1' for d in range(1, 5)
    )
    viewer, analyst = _key(demo_ws, "viewer"), _key(demo_ws, "analyst")
    refused = client.post("/v1/count", json={"rule": wide}, headers=viewer)
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "too_costly"
    assert "property filters" in refused.json()["error"]["message"]
    assert client.post("/v1/count", json={"rule": wide}, headers=analyst).status_code == 200
    many = " or ".join(f"age = {a}" for a in range(100))
    assert client.post("/v1/count", json={"rule": many}, headers=viewer).status_code == 400


PERSONAL_TAGS = """
category: secret
tags:
  - {name: city_secret, kind: attribute, column: city, pii: true}
  - {name: city_lower, kind: derived, expr: "lower(city_secret)", type: string}
  - {name: age_secret, kind: attribute, column: age, type: int, pii: true}
  - {name: age_secret_band, kind: bucket, source: age_secret, bins: [30, 60]}
"""


def test_pii_propagates_to_derived_tags(small_ws: Workspace) -> None:
    (small_ws.root / "tags" / "secret.yaml").write_text(PERSONAL_TAGS, encoding="utf-8")
    small_ws.build()
    catalog = {row["name"]: row for row in small_ws.tags.summaries()}
    assert catalog["city_lower"]["pii"] and catalog["age_secret_band"]["pii"]
    row = small_ws.profile(["city_lower", "city"]).to_pylist()[0]
    assert row["city_lower"] == "****" != row["city"]  # masked like its source
    viewer = portrait.open(small_ws.root, role="viewer")
    with pytest.raises(AccessError, match="city_lower"):
        viewer.count('city_lower = "北京"')
    # a definition that calls such a tag not personal is refused, naming why
    (small_ws.root / "tags" / "secret.yaml").write_text(
        PERSONAL_TAGS.replace("type: string}", "type: string, pii: false}"), encoding="utf-8"
    )
    from portrait.errors import TagDefinitionError

    with pytest.raises(TagDefinitionError, match="computed from personal data") as refused:
        small_ws.build()
    assert "city_secret" in str(refused.value)


def test_campaign_previews_mask_personal_data_below_admin(
    client: TestClient, demo_ws: Workspace
) -> None:
    demo_ws.segments.create("beijing", 'city = "北京"')
    marketer, admin = _key(demo_ws, "marketer"), _key(demo_ws, "admin")
    spec = {
        "name": "hello",
        "audience": "beijing",
        "channel": "file",
        "variants": [{"name": "A", "weight": 100, "template": "hi {{ email }} {{ city }}"}],
    }
    assert client.post("/v1/campaigns", json=spec, headers=marketer).status_code == 200
    plan = client.post("/v1/campaigns/hello/dry-run", headers=marketer)
    assert plan.status_code == 200 and plan.json()["render_errors"] == 0
    assert "@example.com" not in plan.text and "****" in plan.text
    unmasked = client.post("/v1/campaigns/hello/dry-run", headers=admin)
    assert "@example.com" in unmasked.text
    log = client.get("/v1/audit", headers=admin).json()  # includes what waits to be written
    actions = [(e["action"], e["target"]) for e in log]
    assert ("campaign:dry-run", "hello") in actions
    assert ("campaign:dry-run:unmasked", "hello") in actions
    # an audience that selects by personal data is refused for a marketer
    by_mail = {**spec, "name": "by_mail", "audience": 'email = "u00000001@example.com"'}
    refused = client.post("/v1/campaigns", json=by_mail, headers=marketer)
    assert refused.status_code == 403 and "email" in refused.json()["error"]["message"]


def test_itemsets_and_rules_rest_on_k_baskets(client: TestClient, demo_ws: Workspace) -> None:
    """Association output over every basket: a viewer sees only itemsets and rules held by at
    least k baskets (an itemset of one basket would describe one order)."""
    k = demo_ws.access.disclosure.policy.min_count
    query = {"min_support": 0.0005, "max_size": 3, "top": 0}
    analyst = client.get("/v1/association/itemsets", params=query, headers=_key(demo_ws, "analyst"))
    viewer = client.get("/v1/association/itemsets", params=query, headers=_key(demo_ws, "viewer"))
    assert analyst.status_code == viewer.status_code == 200
    everything, shown = analyst.json()["rows"], viewer.json()["rows"]
    assert any(r["baskets"] < k for r in everything), "the attack needs rare itemsets"
    assert shown == [r for r in everything if r["baskets"] >= k]
    rules = client.get(
        "/v1/association/rules",
        params={**query, "min_confidence": 0},
        headers=_key(demo_ws, "viewer"),
    ).json()["rows"]
    assert rules and all(r["baskets"] >= k for r in rules)


def test_expressions_over_personal_data_are_refused_too(
    client: TestClient, demo_ws: Workspace
) -> None:
    """Comparisons, arithmetic and ``size()`` name their tags like a condition does: a rule
    reading a pii tag through them is refused below admin, and the refusal shows no value."""
    viewer, analyst = _key(demo_ws, "viewer"), _key(demo_ws, "analyst")
    for rule in ("phone = email", "city = phone", "age > 0 and not (email != city)"):
        for headers in (viewer, analyst):
            answer = client.post("/v1/count", json={"rule": rule}, headers=headers)
            assert answer.status_code == 403, (rule, answer.text)
            assert answer.json()["error"]["code"] == "forbidden"
    admin = _key(demo_ws, "admin")
    assert (
        client.post("/v1/count", json={"rule": "phone = email"}, headers=admin).status_code == 200
    )
