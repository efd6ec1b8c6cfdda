"""Saving a segment over a version the caller loaded (an edit form's guard): the save goes
through only if nobody changed the segment since, else a conflict and nothing is written; the
check and the change are one statement, on SQLite and on PostgreSQL alike."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa

import portrait
from portrait.errors import AccessError, ConflictError, InputError
from portrait.model.access import Caller
from portrait.store.metadata import MetadataStore, open_database
from portrait.workspace import Workspace


def test_a_save_over_the_loaded_version_replaces_the_segment(demo_ws: Workspace) -> None:
    loaded = demo_ws.audiences.segments.create("grown", "age >= 30")
    saved = demo_ws.audiences.segments.create(
        "grown", "age >= 40", description="forty", expected_version=loaded["updated_at"]
    )
    assert saved["rule"] == "age >= 40"
    assert saved["description"] == "forty"
    assert saved["size"] == demo_ws.count("age >= 40")["size"]
    assert saved["updated_at"] > loaded["updated_at"]
    assert len(demo_ws.segments.history("grown")) == 2


def test_a_save_over_a_stale_version_is_refused_and_writes_nothing(
    demo_template: Path, tmp_path: Path
) -> None:
    import shutil

    root = tmp_path / "ws"
    shutil.copytree(demo_template, root, symlinks=True)
    first, second = portrait.open(root), portrait.open(root)  # two people, one workspace
    loaded = first.audiences.segments.create("grown", "age >= 30")
    version = loaded["updated_at"]
    # both opened the edit form on the same version; the first saves
    first.audiences.segments.create("grown", "age >= 40", expected_version=version)
    with pytest.raises(ConflictError) as refused:
        second.audiences.segments.create("grown", "age >= 50", expected_version=version)
    assert refused.value.http_status == 409
    assert "changed by someone else since you opened it" in refused.value.message
    assert "reload" in (refused.value.hint or "")
    kept = second.audiences.segments.info("grown")
    assert kept["rule"] == "age >= 40"
    assert len(second.segments.history("grown")) == 2  # no snapshot of the refused save
    first.close()
    second.close()


def test_a_deleted_segment_or_a_bad_version_is_refused(demo_ws: Workspace) -> None:
    loaded = demo_ws.audiences.segments.create("gone", "age >= 30")
    demo_ws.audiences.segments.delete("gone")
    with pytest.raises(ConflictError, match="deleted by someone else"):
        demo_ws.audiences.segments.create(
            "gone", "age >= 40", expected_version=loaded["updated_at"]
        )
    assert "gone" not in demo_ws.segments
    demo_ws.audiences.segments.create("kept", "age >= 30")
    with pytest.raises(InputError, match="not a segment version"):
        demo_ws.audiences.segments.create("kept", "age >= 40", expected_version="yesterday")
    assert demo_ws.audiences.segments.info("kept")["rule"] == "age >= 30"


def test_a_viewer_may_not_save_over_a_version(demo_ws: Workspace) -> None:
    loaded = demo_ws.audiences.segments.create("grown", "age >= 30")
    with pytest.raises(AccessError):
        demo_ws.audiences.segments.create(
            "grown",
            "age >= 40",
            expected_version=loaded["updated_at"],
            caller=Caller("v", "viewer"),
        )
    assert demo_ws.audiences.segments.info("grown")["rule"] == "age >= 30"


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> MetadataStore:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'metadata.db'}"
    else:
        url = str(request.getfixturevalue("postgres_url"))
    return MetadataStore(open_database(url, tmp_path))


def test_the_store_compares_and_changes_in_one_statement(store: MetadataStore) -> None:
    values = {"mode": "dynamic", "rule": "{}", "rule_text": "age > 1", "description": ""}
    with store.transaction() as conn:
        store.insert_segment(conn, name="s", **values)
    row = store.segment("s")
    assert row is not None
    version = row["updated_at"]
    if version.tzinfo is None:
        version = version.replace(tzinfo=dt.UTC)
    with store.transaction() as conn:
        assert store.update_segment(conn, "s", expected_updated_at=version, rule_text="age > 2")
    with store.transaction() as conn:  # the same version again: it is no longer current
        assert not store.update_segment(conn, "s", expected_updated_at=version, rule_text="age > 3")
    changed = store.segment("s")
    assert changed is not None and changed["rule_text"] == "age > 2"
    with store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM segments")).scalar() == 1
    store.engine.dispose()


def test_the_http_api_takes_the_expected_version_too(demo_ws: Workspace) -> None:
    from fastapi.testclient import TestClient

    from portrait.api.app import create_app

    _, secret = demo_ws.keys.create("analyst")
    headers = {"Authorization": f"Bearer {secret}"}
    loaded = demo_ws.audiences.segments.create("grown", "age >= 30")
    body = {"name": "grown", "expected_version": loaded["updated_at"]}
    with TestClient(create_app(demo_ws.root)) as client:
        first = client.post("/v1/segments", json=body | {"rule": "age >= 40"}, headers=headers)
        assert first.status_code == 200, first.text
        assert first.json()["rule"] == "age >= 40"
        second = client.post("/v1/segments", json=body | {"rule": "age >= 50"}, headers=headers)
        assert second.status_code == 409
        assert second.json()["error"]["code"] == "conflict"
    assert demo_ws.audiences.segments.info("grown")["rule"] == "age >= 40"
