"""The HTTP API: a real server (``portrait serve``) on 127.0.0.1, keys and roles, JSON errors,
PII masking, small-cell suppression and the audit log; every route walked with every role."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from portrait.api.app import create_app, route_permissions
from portrait.model.access import ROLES, allows
from portrait.workspace import Workspace

PORTRAIT = str(Path(sys.executable).with_name("portrait"))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def server(demo_ws: Workspace, tmp_path: Path) -> Iterator[tuple[str, Workspace]]:
    demo_ws.segments.create("beijing", 'city = "北京"')
    port = _free_port()
    log = (tmp_path / "server.log").open("w")  # a file: a pipe nobody reads would fill up
    process = subprocess.Popen(
        [PORTRAIT, "serve", "--port", str(port), "-w", str(demo_ws.root)],
        stdout=log,
        stderr=log,
        env={**os.environ},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            raise AssertionError((tmp_path / "server.log").read_text())
        yield url, demo_ws
    finally:
        process.terminate()
        process.wait(timeout=20)


def _key(ws: Workspace, role: str) -> dict[str, str]:
    _, secret = ws.keys.create(role)
    return {"Authorization": f"Bearer {secret}"}


def test_end_to_end_over_http(server: tuple[str, Workspace]) -> None:
    url, ws = server
    viewer, analyst, admin = (_key(ws, r) for r in ("viewer", "analyst", "admin"))
    for _ in range(300):  # ready once the warm-up (id index, segment members) is done
        ready = httpx.get(f"{url}/readyz")
        if ready.status_code == 200:
            break
        assert ready.json()["status"] == "warming up"
        time.sleep(0.05)
    assert ready.json()["status"] == "ready"
    assert httpx.get(f"{url}/openapi.json").json()["info"]["title"] == "Portrait"

    # no key, a wrong key, a revoked key: 401 with a JSON error
    assert httpx.post(f"{url}/v1/count", json={"rule": "age > 1"}).status_code == 401
    wrong = httpx.post(f"{url}/v1/count", json={"rule": "age > 1"}, headers={"X-API-Key": "pk_x_y"})
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "unauthorized"
    info, secret = ws.keys.create("analyst")
    ws.keys.revoke(info.id)
    revoked = httpx.get(f"{url}/v1/tags", headers={"Authorization": f"Bearer {secret}"})
    assert revoked.status_code == 401

    # aggregates: a viewer sees noisy sizes, and nothing of a cell small enough to single
    # someone out; an analyst sees exact numbers
    big = httpx.post(f"{url}/v1/count", json={"rule": 'city = "北京"'}, headers=viewer).json()
    exact = ws.count('city = "北京"')["size"]
    assert big["size"] != exact or big["privacy"]["epsilon"] > 0
    assert abs(big["size"] - exact) <= 40 and big["privacy"]["min_count"] == 10
    again = httpx.post(f"{url}/v1/count", json={"rule": 'city = "北京"'}, headers=viewer).json()
    assert again["size"] == big["size"]  # the same question, the same answer
    rule = next(
        r
        for r in (f'value_tier = "高价值" and age >= {a}' for a in range(18, 90))
        if 0 < ws.count(r)["size"] < 5
    )
    small_size = ws.count(rule)["size"]
    small = httpx.post(f"{url}/v1/count", json={"rule": rule}, headers=viewer).json()
    assert small["size"] is None and small["suppressed"] is True
    assert (
        httpx.post(f"{url}/v1/count", json={"rule": rule}, headers=analyst).json()["size"]
        == small_size
    )

    # bad input: 400 with the rule error's code and position, never a 500
    bad = httpx.post(f"{url}/v1/count", json={"rule": "city = "}, headers=viewer)
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "bad_rule"
    unknown = httpx.post(f"{url}/v1/count", json={"rule": "citty = 1"}, headers=viewer)
    assert unknown.status_code == 400 and "city" in unknown.json()["error"]["hint"]
    assert httpx.post(f"{url}/v1/count", json={}, headers=viewer).status_code == 422

    # user-level reads: analysts see personal data masked; only admins may unmask
    user_id = ws.select('city = "北京"').ids()[0]
    view = httpx.get(f"{url}/v1/users/{user_id}", headers=analyst).json()
    basic = {t["tag"]: t["value"] for t in view["tags"]["basic"]}
    assert basic["email"] != f"{user_id}@example.com" and "*" in basic["email"]
    assert httpx.get(f"{url}/v1/users/{user_id}", headers=viewer).status_code == 403
    assert httpx.get(f"{url}/v1/users/{user_id}?unmask=true", headers=analyst).status_code == 403
    unmasked = httpx.get(f"{url}/v1/users/{user_id}?unmask=true", headers=admin).json()
    assert {t["tag"]: t["value"] for t in unmasked["tags"]["basic"]}["email"] == (
        f"{user_id}@example.com"
    )
    missing = httpx.get(f"{url}/v1/users/nobody", headers=analyst)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"

    # personalisation: which segments is this user in; a batch of users × segments
    segs = httpx.get(f"{url}/v1/users/{user_id}/segments", headers=analyst).json()
    assert segs == {"user_id": user_id, "segments": ["beijing"]}
    other = ws.select('city != "北京"').ids()[0]
    batch = httpx.post(
        f"{url}/v1/membership",
        json={"user_ids": [user_id, other, "nobody"], "segments": ["beijing"]},
        headers=analyst,
    ).json()["membership"]
    assert batch == {user_id: {"beijing": True}, other: {"beijing": False}, "nobody": None}
    assert httpx.get(f"{url}/v1/segments/beijing", headers=viewer).json()["name"] == "beijing"

    # a segment made over HTTP, its members a page at a time
    made = httpx.post(
        f"{url}/v1/segments", json={"name": "young", "rule": "age < 25"}, headers=analyst
    )
    assert made.status_code == 200 and made.json()["size"] == ws.count("age < 25")["size"]
    pages, cursor = [], -1
    while True:
        page = httpx.get(
            f"{url}/v1/segments/young/members?limit=100&cursor={cursor}", headers=analyst
        ).json()
        pages.append(page["user_ids"])
        if page["next_cursor"] is None:
            break
        cursor = page["next_cursor"]
    members = [u for p in pages for u in p]
    assert len(pages) > 1 and members == ws.select("age < 25").ids()
    assert (
        httpx.post(
            f"{url}/v1/segments", json={"name": "x", "rule": "age <"}, headers=viewer
        ).status_code
        == 403
    )

    # insight with its chart spec, and a campaign dry run by a marketer
    marketer = _key(ws, "marketer")
    report = httpx.post(
        f"{url}/v1/insight",
        json={"target": "young", "tags": ["gender"], "chart": True},
        headers=viewer,
    ).json()
    assert abs(report["target_size"] - len(members)) <= 40 and "privacy" in report
    assert report["chart"]["usermeta"]["portrait"]
    exact = httpx.post(
        f"{url}/v1/insight", json={"target": "young", "tags": ["gender"]}, headers=analyst
    ).json()
    assert exact["target_size"] == len(members) and "privacy" not in exact
    campaign = {
        "name": "spring",
        "audience": "young",
        "channel": "file",
        "control": 10,
        "variants": [{"name": "A", "weight": 90, "template": "{{ city }} 春季"}],
    }
    assert httpx.post(f"{url}/v1/campaigns", json=campaign, headers=analyst).status_code == 403
    assert httpx.post(f"{url}/v1/campaigns", json=campaign, headers=marketer).status_code == 200
    plan = httpx.post(f"{url}/v1/campaigns/spring/dry-run", headers=marketer).json()
    assert plan["audience"] == len(members) and plan["render_errors"] == 0

    # an ID list uploaded as a file, and a segment exported as CSV (personal data masked)
    crm = "\n".join(["user_id", *members[:7], "nobody"]) + "\n"
    uploaded = httpx.post(
        f"{url}/v1/id-lists/crm",
        files={"file": ("crm.csv", crm.encode(), "text/csv")},
        data={"column": "user_id"},
        headers=analyst,
    ).json()
    assert (uploaded["matched"], uploaded["unmatched"], uploaded["source"]) == (7, 1, "crm.csv")
    assert ws.count('ids("crm")')["size"] == 7
    export = httpx.get(
        f"{url}/v1/segments/young/export?format=csv&columns=city,email", headers=analyst
    )
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    lines = export.text.strip().splitlines()
    assert len(lines) == len(members) + 1 and "@example.com" not in export.text
    assert (
        httpx.get(f"{url}/v1/segments/young/export?unmask=true", headers=analyst).status_code == 403
    )

    launched = httpx.post(f"{url}/v1/campaigns/spring/launch", headers=marketer).json()
    assert launched["state"] == "completed" and launched["sent"] > 0

    # limits: a body over 64 MiB is refused before it is read; a rule nested too deep is a 400
    huge = httpx.post(f"{url}/v1/count", content=b" " * (65 * 2**20), headers=viewer)
    assert huge.status_code == 413 and huge.json()["error"]["code"] == "too_large"
    deep = httpx.post(f"{url}/v1/count", json={"rule": "not " * 300 + "age > 3"}, headers=viewer)
    assert deep.status_code == 400 and deep.json()["error"]["code"] == "bad_rule"

    # metrics and request ids
    traced = httpx.get(f"{url}/healthz", headers={"X-Request-ID": "abc123"})
    assert traced.headers["X-Request-ID"] == "abc123"
    assert len(httpx.get(f"{url}/healthz").headers["X-Request-ID"]) == 32
    # the access log: one JSON line per request, with the request id, route and status
    lines = [
        json.loads(line)
        for line in (ws.root.parent / "server.log").read_text().splitlines()
        if line.startswith("{")
    ]
    traced_line = next(entry for entry in lines if entry["request_id"] == "abc123")
    assert traced_line["route"] == "/healthz" and traced_line["status"] == 200
    assert any(e["route"] == "/v1/users/{user_id}/segments" for e in lines)
    text = httpx.get(f"{url}/metrics").text
    assert 'portrait_http_requests_total{method="POST",route="/v1/count",status="200"}' in text
    assert (
        f'portrait_campaign_messages_total{{channel="file",outcome="sent"}} {launched["sent"]}.0'
        in text
    )
    assert "portrait_audience_evaluation_seconds_count" in text

    # the audit log has every user-level read, with the key that made it
    log = httpx.get(f"{url}/v1/audit", headers=admin).json()
    actions = [(e["action"], e["target"], e["rows"]) for e in log]
    assert ("user:read", user_id, 1) in actions
    assert ("user:read:unmasked", user_id, 1) in actions
    assert ("membership", "beijing", 3) in actions
    assert ("segment:members", "young", 100) in actions
    assert ("campaign:dry-run", "spring", len(members)) in actions
    assert ("segment:export", "young", len(members)) in actions
    assert ("ids:upload", "crm", 7) in actions
    assert httpx.get(f"{url}/v1/audit", headers=analyst).status_code == 403


def test_every_route_with_every_role(demo_ws: Workspace) -> None:
    """Each /v1 route answers 403 exactly to the roles its permission leaves out; to the others
    it answers without an auth error and never with a 500."""
    demo_ws.segments.create("beijing", 'city = "北京"')
    campaign = {
        "name": "walk",
        "audience": "beijing",
        "channel": "file",
        "control": 10,
        "variants": [{"name": "A", "weight": 90, "template": "{{ city }}"}],
    }
    demo_ws.campaigns().create(campaign)
    app = create_app(demo_ws.root)
    client = TestClient(app)
    user_id = demo_ws.select('city = "北京"').ids()[0]
    routes = {k: v for k, v in route_permissions(app).items() if k[1].startswith("/v1/")}
    assert len(routes) >= 20 and all(p is not None for p in routes.values())
    for role in ROLES:
        headers = _key(demo_ws, role)
        demo_ws.segments.create(f"gone_{role}", "age > 60")
        bodies = {
            "/v1/count": {"rule": "age > 30"},
            "/v1/membership": {"user_ids": [user_id], "segments": ["beijing"]},
            "/v1/segments": {"name": f"new_{role}", "rule": "age > 30"},
            "/v1/insight": {"target": "age > 30", "tags": ["gender"], "chart": True},
            "/v1/insight/distinctive": {"target": "age > 30"},
            "/v1/cross": {"audiences": ['city = "北京"', "age > 30"]},
            "/v1/rank": {"target": "age > 30", "tags": ["gender", "city"]},
            "/v1/niche": {"tags": ["gender", "city"], "target": "age > 30"},
            "/v1/subgroups": {"target": "age > 30", "tags": ["gender", "city"], "depth": 1},
            "/v1/personas": {
                "name": f"p_{role}",
                "features": ["age", "city"],
                "k": 2,
                "sample": 500,
            },
            "/v1/personas/{name}/labels": {"persona": "P1", "name": "x"},
            "/v1/personas/{name}/segments": {},
            "/v1/cubes": {
                "definition": {
                    "name": f"c_{role}",
                    "dimensions": [{"name": "g", "tag": "gender"}, {"name": "c", "tag": "city"}],
                }
            },
            "/v1/cubes/{name}/needs": {"cell": {"g": "女"}, "need": "x"},
            "/v1/cubes/{name}/segments": {"cell": {"g": "女"}, "segment": f"s_{role}"},
            "/v1/cubes/{name}/campaigns": {"cell": {"g": "女"}, "campaign": f"k_{role}"},
            "/v1/campaigns": {**campaign, "name": f"c_{role}"},
            "/v1/events/responses": {
                "events": [
                    {
                        "campaign": "walk",
                        "user_id": user_id,
                        "response": "clicked",
                        "ts": "2026-11-23T10:00:00Z",
                    }
                ]
            },
        }
        for (method, path), permission in routes.items():
            name = f"gone_{role}" if method == "DELETE" else "beijing"
            concrete = path.replace("{user_id}", user_id).replace("/tags/{name}", "/tags/city")
            concrete = concrete.replace("{a}", "beijing").replace("{b}", f"gone_{role}")
            concrete = concrete.replace("/campaigns/{name}", "/campaigns/walk").replace(
                "{name}", name
            )
            response = client.request(method, concrete, headers=headers, json=bodies.get(path))
            assert permission is not None
            if allows(role, permission):
                assert response.status_code not in (401, 403), (role, method, path, response.text)
                assert response.status_code < 500, (role, method, path, response.text)
            else:
                assert response.status_code == 403, (role, method, path)
                assert response.json()["error"]["code"] == "forbidden"
