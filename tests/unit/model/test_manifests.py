"""The typed profile manifest: parsed once, written back the same, versioned."""

from __future__ import annotations

import datetime as dt

import pytest

from portrait.errors import WorkspaceError
from portrait.model.manifests import PROFILE_FORMAT, BuiltTag, ProfileManifest, RollupManifest

STORED = {
    "format": 1,
    "index_format": 2,
    "built_at": "2026-11-01T08:00:00+00:00",
    "warehouse_version": "000003",
    "users_version": 2,
    "as_of": "2026-10-31",
    "users": 1200,
    "columns": ["city", "cars"],
    "tags": {
        "cars": {"type": "list<string>", "kind": "preference", "fingerprint": "b", "stats": {}},
        "city": {
            "type": "string",
            "kind": "attribute",
            "category": "basic",
            "pii": False,
            "fingerprint": "a",
            "built_at": "2026-11-01T08:00:00+00:00",
            "stale": True,
            "index_seconds": 0.25,
            "stats": {"coverage": 0.9, "distinct": 12},
        },
        "dropped": {"type": "int"},  # recorded, but no longer a column: not a built tag
    },
    "rollup": {"format": 3, "sums": ["price"], "events_version": 4, "users_version": 2,
               "seconds": 1.5, "rows": 77, "first_day": "2026-01-01"},
    "timings": {"index": 0.5},
}  # fmt: skip


def test_a_stored_manifest_is_parsed_into_types() -> None:
    manifest = ProfileManifest.from_json(STORED)
    assert manifest.as_of == dt.date(2026, 10, 31)
    assert manifest.users == 1200
    assert manifest.columns == ["city", "cars"]  # column order, not the recorded dict's
    city = manifest.tags["city"]
    assert isinstance(city, BuiltTag)
    assert (city.type, city.stale, city.index_seconds) == ("string", True, 0.25)
    assert manifest.tags["cars"].multi_valued and not city.multi_valued
    assert manifest.tag_types() == {"city": "string", "cars": "list<string>"}
    assert isinstance(manifest.rollup, RollupManifest)
    assert manifest.rollup.sums == ("price",)
    assert manifest.rollup.details == {"rows": 77, "first_day": "2026-01-01"}


def test_writing_and_reading_again_gives_the_same_manifest() -> None:
    manifest = ProfileManifest.from_json(STORED)
    again = ProfileManifest.from_json(manifest.to_json())
    assert again == manifest
    assert "dropped" not in manifest.to_json()["tags"]


def test_fields_read_by_name_give_the_json_form() -> None:
    manifest = ProfileManifest.from_json(STORED)
    assert manifest["as_of"] == "2026-10-31"
    assert manifest["rollup"]["rows"] == 77
    assert manifest.tags["city"]["type"] == "string"
    assert manifest.get("missing", "default") == "default"


def test_nothing_built_is_the_empty_manifest() -> None:
    empty = ProfileManifest.from_json({})
    assert (empty.users, empty.as_of, empty.rollup, empty.columns) == (0, None, None, [])


def test_a_newer_format_is_refused_with_what_to_do() -> None:
    with pytest.raises(WorkspaceError, match=f"reads up to {PROFILE_FORMAT}") as raised:
        ProfileManifest.from_json({**STORED, "format": PROFILE_FORMAT + 1})
    assert raised.value.hint is not None and "portrait build --full" in raised.value.hint
