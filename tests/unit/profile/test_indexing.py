"""The index step: computed tags are indexed from the profile, reused ones linked with their
recorded metadata."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from portrait.index.profile_index import index_file
from portrait.model.manifests import ProfileManifest
from portrait.model.tags import AttributeTag, TagSet
from portrait.profile.indexing import index_tags
from portrait.profile.versions import INDEX_DIR, PROFILE_FILE, ProfileSnapshot
from portrait.progress import NullProgress

TAGS = TagSet(
    [AttributeTag(name="city", category="basic", pii=True), AttributeTag(name="age", type="int")]
)


def write_profile(folder: Path) -> None:
    folder.mkdir()
    table = pa.table(
        {
            "uid": [0, 1, 2],
            "user_id": ["a", "b", "c"],
            "city": ["x", None, "x"],
            "age": [1, 2, None],
        }
    )
    pq.write_table(table, folder / PROFILE_FILE)


def test_computed_tags_are_indexed(tmp_path: Path) -> None:
    write_profile(tmp_path / "v1")
    prints = {"city": "c1", "age": "a1"}
    nothing = ProfileSnapshot(None, ProfileManifest())
    meta, users = index_tags(TAGS, set(TAGS), prints, nothing, tmp_path / "v1", NullProgress(), 2)
    assert users == 3
    assert list(meta) == ["city", "age"]
    city = meta["city"]
    assert (city.type, city.kind, city.category, city.pii, city.fingerprint) == (
        "string",
        "attribute",
        "basic",
        True,
        "c1",
    )
    assert city.stats["coverage"] == 2 / 3
    assert index_file(tmp_path / "v1" / INDEX_DIR, "age", "int").exists()


def test_reused_tags_are_taken_over(tmp_path: Path) -> None:
    write_profile(tmp_path / "v1")
    nothing = ProfileSnapshot(None, ProfileManifest())
    first, _ = index_tags(
        TAGS, set(TAGS), {"city": "c1", "age": "a1"}, nothing, tmp_path / "v1", NullProgress()
    )
    previous = ProfileSnapshot(tmp_path / "v1", dataclasses.replace(ProfileManifest(), tags=first))
    write_profile(tmp_path / "v2")
    meta, _ = index_tags(
        TAGS, {"age"}, {"city": "c2", "age": "a2"}, previous, tmp_path / "v2", NullProgress()
    )
    assert meta["city"] is first["city"]  # recorded metadata, old fingerprint
    assert meta["age"].fingerprint == "a2"
    old = index_file(tmp_path / "v1" / INDEX_DIR, "city", "string")
    assert (
        index_file(tmp_path / "v2" / INDEX_DIR, "city", "string").read_bytes() == old.read_bytes()
    )
