"""The HTTP API as a service: time limits with clear errors, a busy workspace, configurable
small-cell suppression, grouped audit writes (nothing lost at shutdown), warm-up and
readiness, and the per-user interfaces staying current as segments change."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from portrait.api.app import create_app
from portrait.workspace import Workspace


def _key(ws: Workspace, role: str) -> dict[str, str]:
    _, secret = ws.keys.create(role)
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def client(demo_ws: Workspace) -> Iterator[TestClient]:
    demo_ws.segments.create("beijing", 'city = "北京"')
    with TestClient(create_app(demo_ws.root)) as client:  # runs the lifespan: warm-up etc.
        yield client


def _ready(client: TestClient) -> None:
    for _ in range(200):
        answer = client.get("/readyz")
        if answer.status_code == 200:
            return
        assert answer.json()["status"] == "warming up"
        threading.Event().wait(0.05)
    raise AssertionError("never ready")


def test_a_slow_analysis_times_out_with_a_clear_error(
    demo_ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PORTRAIT_API_TIMEOUT", "0.001")
    headers = _key(demo_ws, "analyst")
    with TestClient(create_app(demo_ws.root)) as client:
        _ready(client)
        answer = client.post("/v1/insight", json={"target": 'city = "北京"'}, headers=headers)
    assert answer.status_code == 504
    error = answer.json()["error"]
    assert error["code"] == "timeout"
    assert "insight report took longer than 0.001 s (api.timeout)" in error["message"]
    assert "PORTRAIT_API_TIMEOUT" in error["hint"]


def test_a_busy_workspace_answers_503_instead_of_hanging(
    demo_ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PORTRAIT_API_TIMEOUT", "0.3")
    headers = _key(demo_ws, "analyst")
    app = create_app(demo_ws.root)
    with TestClient(app) as client:
        _ready(client)
        with app.state.core():  # another request holds the workspace
            answer = client.get("/v1/tags", headers=headers)
        assert answer.status_code == 503
        assert answer.json()["error"]["code"] == "busy"
        assert client.get("/v1/tags", headers=headers).status_code == 200


def test_disclosure_control_is_a_setting(
    demo_ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    rule = next(
        r
        for r in (f'value_tier = "高价值" and age >= {a}' for a in range(18, 90))
        if 1 <= demo_ws.count(r)["size"] < 10
    )
    size = demo_ws.count(rule)["size"]
    viewer = _key(demo_ws, "viewer")
    with TestClient(create_app(demo_ws.root)) as client:  # default k = 10: suppressed
        body = client.post("/v1/count", json={"rule": rule}, headers=viewer).json()
    assert body["size"] is None and body["share"] is None and body["suppressed"] is True
    assert body["privacy"]["min_count"] == 10
    # the former name of the threshold still works; no threshold and no noise: exact
    monkeypatch.setenv("PORTRAIT_API_SMALL_CELL", "0")
    monkeypatch.setenv("PORTRAIT_PRIVACY_EPSILON", "0")
    with TestClient(create_app(demo_ws.root)) as client:
        body = client.post("/v1/count", json={"rule": rule}, headers=viewer).json()
    assert body["size"] == size and "privacy" not in body


def test_grouped_audit_writes_lose_nothing_at_shutdown(demo_ws: Workspace) -> None:
    headers = _key(demo_ws, "analyst")
    admin = _key(demo_ws, "admin")
    demo_ws.segments.create("beijing", 'city = "北京"')
    ids = demo_ws.user_ids_of(range(40))
    before = len(demo_ws.audit.entries(limit=100_000))
    app = create_app(demo_ws.root)
    with TestClient(app) as client:
        _ready(client)
        for user_id in ids:
            assert client.get(f"/v1/users/{user_id}/segments", headers=headers).status_code == 200
        # a read of the log in the same process includes what is still waiting
        read = client.get("/v1/audit", params={"limit": 10_000}, headers=admin).json()
        assert sum(e["action"] == "user:segments" for e in read) == len(ids)
        for user_id in ids[:10]:
            client.get(f"/v1/users/{user_id}/segments", headers=headers)
    # the lifespan's end wrote the rest: another process (a fresh workspace object) sees it
    from portrait import open as open_workspace

    entries = open_workspace(demo_ws.root).audit.entries(limit=100_000)
    assert sum(e["action"] == "user:segments" for e in entries) == len(ids) + 10
    assert len(entries) >= before + len(ids) + 10


def test_user_segments_follow_segment_changes(client: TestClient, demo_ws: Workspace) -> None:
    headers = _key(demo_ws, "admin")
    _ready(client)
    beijing = demo_ws.segments.members("beijing")
    inside = demo_ws.user_ids_of([beijing.min()])[0]
    outside = demo_ws.user_ids_of([next(u for u in range(10_000) if u not in beijing)])[0]
    assert client.get(f"/v1/users/{inside}/segments", headers=headers).json()["segments"] == [
        "beijing"
    ]
    assert client.get(f"/v1/users/{outside}/segments", headers=headers).json()["segments"] == []
    # a segment saved through another surface (the Python API) shows at once
    demo_ws.segments.create("everyone", "age >= 0")
    got = client.get(f"/v1/users/{outside}/segments", headers=headers).json()["segments"]
    assert got == ["everyone"]
    created = client.post(
        "/v1/segments", json={"name": "nobody", "rule": "age < 0"}, headers=headers
    )
    assert created.status_code == 200
    body = client.post(
        "/v1/membership",
        json={"user_ids": [inside, outside, "no-such-user"], "segments": ["beijing", "nobody"]},
        headers=headers,
    ).json()["membership"]
    assert body == {
        inside: {"beijing": True, "nobody": False},
        outside: {"beijing": False, "nobody": False},
        "no-such-user": None,
    }
    demo_ws.segments.delete("everyone")
    assert client.get(f"/v1/users/{outside}/segments", headers=headers).json()["segments"] == []
    unknown = client.post(
        "/v1/membership", json={"user_ids": [inside], "segments": ["everyone"]}, headers=headers
    )
    assert unknown.status_code == 404 and "everyone" in unknown.json()["error"]["message"]
    missing = client.get("/v1/users/no-such-user/segments", headers=headers)
    assert missing.status_code == 404


def test_tag_detail_and_segment_overlap(client: TestClient, demo_ws: Workspace) -> None:
    analyst, viewer = _key(demo_ws, "analyst"), _key(demo_ws, "viewer")
    detail = client.get("/v1/tags/city", headers=analyst).json()
    stats = demo_ws.tags["city"].stats
    assert detail["name"] == "city" and detail["definition"]["kind"] == "attribute"
    assert "SELECT" in detail["sql"] and detail["coverage"] == stats["coverage"]
    assert detail["distribution"] == stats["distribution"]
    assert "city" in client.get("/v1/tags/cty", headers=analyst).json()["error"]["hint"]

    # viewers see noisy counts, and values held by fewer than 10 users merged into one
    # suppressed row
    seen = client.get("/v1/tags/car_price_band", headers=viewer).json()["distribution"]
    full = {r["value"]: r["count"] for r in demo_ws.tags["car_price_band"].stats["distribution"]}
    rare = [value for value, count in full.items() if count < 10]
    assert rare, "the demo has a rare car price band"
    (merged,) = [r for r in seen if r.get("suppressed")]
    assert merged["count"] is None and merged["share"] is None and merged["values"] >= len(rare)
    shown = {r["value"]: r["count"] for r in seen if not r.get("suppressed")}
    assert not set(shown) & set(rare)
    assert all(abs(count - full[value]) <= 40 for value, count in shown.items())

    demo_ws.segments.create("young", "age < 30")
    overlap = client.get("/v1/segments/beijing/overlap/young", headers=analyst).json()
    assert overlap == demo_ws.segments.overlap("beijing", "young")
    assert overlap["intersection"] == len(demo_ws.select('city = "北京" and age < 30'))
    missing = client.get("/v1/segments/beijing/overlap/nope", headers=analyst)
    assert missing.status_code == 404


def test_a_warm_worker_keeps_what_it_loaded_out_of_full_collections(demo_ws: Workspace) -> None:
    gc.unfreeze()
    try:
        with TestClient(create_app(demo_ws.root)) as client:
            _ready(client)
            assert gc.get_freeze_count() > 10_000  # modules, caches: not scanned again
    finally:
        gc.unfreeze()


def test_the_openapi_document_declares_the_api_key(client: TestClient, demo_ws: Workspace) -> None:
    document = client.get("/openapi.json").json()
    schemes = document["components"]["securitySchemes"]
    assert schemes["apiKey"] == {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    assert schemes["bearer"]["scheme"] == "bearer"
    segments = document["paths"]["/v1/users/{user_id}/segments"]["get"]
    assert segments["security"] == [{"bearer": []}, {"apiKey": []}]
    assert "security" not in document["paths"]["/healthz"]["get"]
    # either header works; the header wins over nothing, a wrong one is a 401
    _, secret = demo_ws.keys.create("viewer")
    assert client.get("/v1/tags", headers={"X-API-Key": secret}).status_code == 200
    assert client.get("/v1/tags", headers={"Authorization": "Bearer pk_no_such"}).status_code == 401


def test_segment_evaluations_are_timed_in_the_metrics(
    client: TestClient, demo_ws: Workspace
) -> None:
    headers = _key(demo_ws, "admin")

    def evaluations() -> float:
        for line in client.get("/metrics").text.splitlines():
            if line.startswith("portrait_audience_evaluation_seconds_count"):
                return float(line.split()[-1])
        raise AssertionError("no evaluation histogram")

    before = evaluations()
    client.post("/v1/segments", json={"name": "older", "rule": "age > 40"}, headers=headers)
    client.post("/v1/segments/older/refresh", headers=headers)
    client.post("/v1/count", json={"rule": "age > 41"}, headers=headers)
    assert evaluations() == before + 3


def test_a_new_profile_version_is_picked_up_without_a_restart(
    client: TestClient, demo_ws: Workspace
) -> None:
    headers = _key(demo_ws, "analyst")
    _ready(client)
    server_side = client.app.state.workspace  # type: ignore[attr-defined]
    someone = demo_ws.user_ids_of([0])[0]
    before = client.get(f"/v1/users/{someone}/segments", headers=headers).json()
    assert server_side.is_warm()
    old = server_side.built.version
    demo_ws.build(full=True)  # another process swaps in a new profile version
    assert server_side.built.version != old and not server_side.is_warm()
    # the first call rebuilds the caches (in a worker thread: the event loop keeps serving)
    after = client.get(f"/v1/users/{someone}/segments", headers=headers).json()
    assert after == before and server_side.is_warm()


def _count_route_calls(app: Any, path: str) -> list[int]:
    """Count the requests the framework's route for ``path`` handles itself."""
    route = next(r for r in app.router.routes if getattr(r, "path", None) == path)
    calls, handler = [0], route.app

    async def counted(scope: Any, receive: Any, send: Any) -> None:
        calls[0] += 1
        await handler(scope, receive, send)

    route.app = counted
    return calls


def test_the_personalisation_fast_path_answers_as_the_framework_route(
    demo_ws: Workspace,
) -> None:
    """``GET /v1/users/{id}/segments`` is answered without FastAPI's per-request machinery
    when the workspace is warm and free: the same statuses, bodies and headers for every
    kind of request, the same metrics and audit entries; busy, it leaves the request to the
    route."""
    demo_ws.segments.create("beijing", 'city = "北京"')
    demo_ws.segments.create("young", "age < 30")
    beijing = demo_ws.segments.members("beijing")
    inside = demo_ws.user_ids_of([beijing.min()])[0]
    outside = demo_ws.user_ids_of([next(u for u in range(10_000) if u not in beijing)])[0]
    _, analyst = demo_ws.keys.create("analyst")
    _, viewer = demo_ws.keys.create("viewer")
    requests: list[tuple[str, dict[str, str]]] = [
        (f"/v1/users/{inside}/segments", {"Authorization": f"Bearer {analyst}"}),
        (f"/v1/users/{outside}/segments", {"X-API-Key": analyst}),
        ("/v1/users/no-such-user/segments", {"Authorization": f"Bearer {analyst}"}),
        ("/v1/users/%E5%8C%97%20x/segments", {"Authorization": f"Bearer {analyst}"}),
        ("/v1/users/a%2Fb/segments", {"Authorization": f"Bearer {analyst}"}),
        (f"/v1/users/{inside}/segments", {}),
        (f"/v1/users/{inside}/segments", {"Authorization": "Bearer pk_nosuch_key"}),
        (f"/v1/users/{inside}/segments", {"Authorization": f"Bearer {viewer}"}),
        (f"/v1/users/{inside}/segments/", {"Authorization": f"Bearer {analyst}"}),
        (f"/v1/users/{inside}/segments?x=1", {"Authorization": f"Bearer {analyst}"}),
    ]
    answers: dict[bool, list[tuple[int, bytes, str | None]]] = {}
    calls: dict[bool, int] = {}
    audits: dict[bool, list[tuple[str, str]]] = {}
    metrics: dict[bool, list[str]] = {}
    for fast in (True, False):
        app = create_app(demo_ws.root, fast_path=fast)
        route_calls = _count_route_calls(app, "/v1/users/{user_id}/segments")
        with TestClient(app, follow_redirects=False) as client:
            _ready(client)
            before = len(demo_ws.audit.entries(limit=100_000))
            answers[fast] = [
                (a.status_code, a.content, a.headers.get("content-type"))
                for a in (client.get(path, headers=headers) for path, headers in requests)
            ]
            entries = client.app.state.workspace.audit.entries(limit=100_000)  # type: ignore[attr-defined]
            audits[fast] = [(e["action"], e["target"]) for e in entries[: len(entries) - before]]
            metrics[fast] = [
                line
                for line in client.get("/metrics").text.splitlines()
                if line.startswith("portrait_http_requests_total{") and "segments" in line
            ]
        calls[fast] = route_calls[0]
    assert answers[True] == answers[False]
    statuses = [status for status, _, _ in answers[True]]
    assert statuses == [200, 200, 404, 404, 404, 401, 401, 403, 307, 200], statuses
    assert b'"beijing"' in answers[True][0][1]
    assert audits[True] == audits[False] and len(audits[True]) == 3
    assert metrics[True] == metrics[False] and metrics[True]
    # the fast path answered every request the route would have (not "a/b" nor the trailing
    # slash: no route has them, the router answers those)
    assert calls[False] == len(requests) - 2 and calls[True] == 0

    # a busy workspace: the fast path leaves the request to the route, which waits its turn
    app = create_app(demo_ws.root)
    route_calls = _count_route_calls(app, "/v1/users/{user_id}/segments")
    with TestClient(app) as client:
        _ready(client)
        held, release = threading.Event(), threading.Event()

        def hold() -> None:  # another request holds the workspace for a moment
            with app.state.core():
                held.set()
                release.wait(0.2)

        holder = threading.Thread(target=hold)
        holder.start()
        held.wait()
        answer = client.get(requests[0][0], headers=requests[0][1])
        holder.join()
    assert (answer.status_code, answer.content) == answers[True][0][:2]
    assert route_calls[0] == 1
