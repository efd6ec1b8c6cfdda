"""Uploaded ID lists over a real metadata database: ids matched to users, unmatched ids written
to a file, names checked, and an ID list in use by a segment kept."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from pyroaring import BitMap

from portrait.audience.idlists import IdLists
from portrait.errors import NotFoundError, SegmentError
from portrait.store.metadata import MetadataStore
from tests.unit.audience.conftest import save_segments

USERS = pa.chunked_array([["u0", "u1", "u2", "u3"], ["u4", "u5"]])  # row number = dense id


@pytest.fixture
def lists(store: MetadataStore, tmp_path: Path) -> IdLists:
    return IdLists(store, lambda: USERS, tmp_path / "unmatched")


def test_an_upload_matches_ids_and_writes_the_unmatched_ones(
    lists: IdLists, store: MetadataStore, tmp_path: Path
) -> None:
    path = tmp_path / "vip.txt"
    path.write_text("user_id\nu5\nx9\nu1\nu5\nx7\nx9\n", encoding="utf-8")
    report = lists.upload("vip", path)
    assert report.to_dict() == {
        "name": "vip",
        "source": str(path.resolve()),
        "rows": 6,
        "matched": 2,
        "unmatched": 2,
        "duplicates": 2,
        "header": "user_id",
        "unmatched_file": str(tmp_path / "unmatched" / "vip.txt"),
    }
    assert (tmp_path / "unmatched" / "vip.txt").read_text(encoding="utf-8") == "x9\nx7\n"
    row = store.id_list("vip")
    assert row is not None
    assert BitMap.deserialize(row["members"]) == BitMap([1, 5])
    [listed] = lists.all()
    assert "members" not in listed
    assert listed["name"] == "vip" and listed["matched"] == 2
    assert listed["created_at"].endswith("+00:00")


def test_every_id_matched_writes_no_file(lists: IdLists, tmp_path: Path) -> None:
    path = tmp_path / "all.csv"
    path.write_text("u0\nu4\n", encoding="utf-8")
    report = lists.upload("all", path, unmatched_file=tmp_path / "elsewhere.txt")
    assert (report.matched, report.unmatched, report.unmatched_file) == (2, 0, None)
    assert not (tmp_path / "elsewhere.txt").exists()


def test_a_name_is_checked_and_replaced_only_when_asked(lists: IdLists, tmp_path: Path) -> None:
    path = tmp_path / "ids.txt"
    path.write_text("u2\n", encoding="utf-8")
    with pytest.raises(SegmentError, match="ID list name 'a b'"):
        lists.upload("a b", path)
    lists.upload("vip", path)
    with pytest.raises(SegmentError, match="an ID list named 'vip' exists"):
        lists.upload("vip", path)
    path.write_text("u3\nu4\n", encoding="utf-8")
    assert lists.upload("vip", path, replace=True).matched == 2
    assert [row["matched"] for row in lists.all()] == [2]


def test_a_list_in_use_is_kept(lists: IdLists, store: MetadataStore, tmp_path: Path) -> None:
    path = tmp_path / "ids.txt"
    path.write_text("u2\n", encoding="utf-8")
    lists.upload("vip", path)
    lists.upload("spare", path)
    save_segments(store, {"s1": 'ids("vip") and age > 1', "s2": 'not ids("vip")'})
    with pytest.raises(SegmentError, match="used by segments: s1, s2"):
        lists.delete("vip")
    lists.delete("spare")
    with pytest.raises(NotFoundError, match="no ID list named 'spare'"):
        lists.delete("spare")
    lists.discard("vip")  # undoing an upload does not look at the segments
    assert lists.all() == []
