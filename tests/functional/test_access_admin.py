"""The administration the facade offers (``ws.access``): API keys made and revoked by admins
only, audited without their secrets; the audit log read by actor, action and time range, by
admins only, through the facade and ``GET /v1/audit``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from portrait.api.app import create_app
from portrait.errors import AccessError, InputError
from portrait.model.access import Caller
from portrait.workspace import Workspace

ADMIN = Caller("user:ann", "admin")
MARKETER = Caller("user:mo", "marketer")


def test_keys_are_made_and_revoked_by_admins_only_and_audited(ws: Workspace) -> None:
    info, secret = ws.access.create_key("analyst", name="reports", expires_days=3, caller=ADMIN)
    assert info.role == "analyst" and info.name == "reports" and info.expires_at is not None
    assert ws.access.keys.verify(secret) == info
    revoked = ws.access.revoke_key(info.id, caller=ADMIN)
    assert revoked.revoked_at is not None
    assert ws.access.keys.verify(secret) is None
    entries = ws.access.audit_entries(10, "user:ann", caller=ADMIN)
    assert [(e["action"], e["target"]) for e in entries] == [
        ("key:revoke", f"{info.id} (analyst)"),
        ("key:create", f"{info.id} (analyst)"),
    ]
    assert all(secret.split("_")[2] not in e["target"] for e in entries)
    with pytest.raises(AccessError):
        ws.access.create_key("admin", caller=MARKETER)
    other, _ = ws.access.create_key("viewer", caller=ADMIN)
    with pytest.raises(AccessError):
        ws.access.revoke_key(other.id, caller=MARKETER)
    assert ws.access.keys.get(other.id).revoked_at is None
    with pytest.raises(InputError):
        ws.access.create_key("owner", caller=ADMIN)


def test_the_audit_log_by_actor_action_and_time(ws: Workspace) -> None:
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    ws.access.record(ADMIN, "user:read", "u1", 1)
    ws.access.record(MARKETER, "user:read", "u2", 1)
    ws.access.record(MARKETER, "campaign:launch", "spring", 10)
    after = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)

    def targets(**given: object) -> list[str]:
        rows = ws.access.audit_entries(100, caller=ADMIN, **given)  # type: ignore[arg-type]
        return [e["target"] for e in rows]

    assert targets(action="user:read") == ["u2", "u1"]
    assert targets(actor="user:mo", action="user:read") == ["u2"]
    assert targets(since=before, until=after) == ["spring", "u2", "u1"]
    assert targets(since=after) == []
    assert targets(until=before) == []
    naive = after.replace(tzinfo=None)  # a time without a zone is UTC
    assert targets(until=naive) == ["spring", "u2", "u1"]
    assert targets(actor="", action="") == ["spring", "u2", "u1"]  # empty filters: none
    assert {"user:read", "campaign:launch"} <= set(ws.access.audit_actions(caller=ADMIN))
    with pytest.raises(InputError) as empty:
        ws.access.audit_entries(caller=ADMIN, since=after, until=before)
    assert empty.value.where == "until"
    with pytest.raises(AccessError):
        ws.access.audit_entries(caller=MARKETER, action="user:read")
    with pytest.raises(AccessError):
        ws.access.audit_actions(caller=MARKETER)


@pytest.fixture
def client(ws: Workspace) -> Iterator[TestClient]:
    with TestClient(create_app(ws.root)) as test_client:
        yield test_client


def test_the_audit_route_takes_the_same_filters(ws: Workspace, client: TestClient) -> None:
    _, admin = ws.access.create_key("admin", caller=ADMIN)
    _, analyst = ws.access.create_key("analyst", caller=ADMIN)
    ws.access.record(MARKETER, "user:read", "u2", 1)
    ws.access.record(MARKETER, "campaign:launch", "spring", 10)
    headers = {"Authorization": f"Bearer {admin}"}
    everything = client.get("/v1/audit", headers=headers).json()
    assert [e["action"] for e in everything][:2] == ["campaign:launch", "user:read"]
    mine = client.get("/v1/audit", params={"action": "user:read"}, headers=headers).json()
    assert [(e["actor"], e["target"]) for e in mine] == [("user:mo", "u2")]
    by_actor = client.get("/v1/audit", params={"actor": "user:mo"}, headers=headers).json()
    assert [e["target"] for e in by_actor] == ["spring", "u2"]
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)).isoformat()
    assert client.get("/v1/audit", params={"since": later}, headers=headers).json() == []
    assert len(client.get("/v1/audit", params={"until": later}, headers=headers).json()) >= 4
    backwards = client.get(
        "/v1/audit", params={"since": later, "until": "2020-01-01T00:00:00"}, headers=headers
    )
    assert backwards.status_code == 400
    refused = client.get(
        "/v1/audit", params={"action": "user:read"}, headers={"Authorization": f"Bearer {analyst}"}
    )
    assert refused.status_code == 403
