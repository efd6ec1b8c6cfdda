"""A tag kind computed in Python builds with the SQL kinds: it reads a SQL tag, a derived tag and
a bucket read it (the build runs in two stages), incremental builds and errors work as for any
kind, and rules select on it.

The kind is the test-only ``doubled`` (tests/python_kind.py); its computer is registered for the
test only, its definitions join the workspace's tag files as they are loaded.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pytest

from portrait.compile.parts import BuildContext
from portrait.errors import BuildError
from portrait.model.tags import AnyTag, BucketTag, DerivedTag, TagSet
from portrait.profile import pipeline
from portrait.profile.computers import TagComputer, kinds
from portrait.workspace import Workspace
from tests.python_kind import DoubledComputer, DoubledTag, registered, with_tags

EXTRA = (
    DoubledTag(name="views_twice", source="views_30d", type="int"),
    DerivedTag(name="heavy_viewer", expr="views_twice >= 2", type="bool"),
    BucketTag(name="views_twice_band", source="views_twice", bins=[1, 3]),
)
NAMES = [t.name for t in EXTRA]


@contextmanager
def python_kind(monkeypatch: pytest.MonkeyPatch, computer: TagComputer) -> Iterator[None]:
    """``computer`` registered and the ``EXTRA`` tags defined, for the duration of the block."""
    load = pipeline.load_tag_files

    def load_with_extra(tags_dir: Path) -> TagSet:
        return with_tags(load(tags_dir), *EXTRA)

    with monkeypatch.context() as patch, registered(computer):
        patch.setattr(pipeline, "load_tag_files", load_with_extra)
        yield
    assert "doubled" not in kinds()


@pytest.fixture
def doubled(monkeypatch: pytest.MonkeyPatch) -> Iterator[DoubledComputer]:
    computer = DoubledComputer()
    with python_kind(monkeypatch, computer):
        yield computer


def values(ws: Workspace, *names: str) -> dict[str, tuple[object, ...]]:
    rows = ws.profile([*names]).to_pylist()
    return {r["user_id"]: tuple(r[n] for n in names) for r in rows}


def test_python_kind_between_sql_kinds(small_ws: Workspace, doubled: DoubledComputer) -> None:
    report = small_ws.build()
    assert len(report.computed) == 16 and report.reused == []
    steps = list(report.timings)
    assert steps[steps.index("assemble+derived (stage 1)") :] == [
        "assemble+derived (stage 1)",
        "doubled:views_twice",
        "assemble+derived+write",
        "index",
        "rollup",
    ]
    assert doubled.calls == [["uid", "user_id", "views_30d"]]
    assert values(small_ws, "views_30d", *NAMES) == {
        "u1": (1, 2, True, "1-3"),
        "u2": (1, 2, True, "1-3"),
        "u3": (0, 0, False, "<1"),
        "u4": (0, 0, False, "<1"),
    }
    built = small_ws.built.manifest.tags["views_twice"]
    assert (built.kind, built.type) == ("doubled", "int")
    assert small_ws.count("views_twice >= 2")["size"] == 2
    assert small_ws.count('heavy_viewer = true and city = "北京"')["size"] == 1


def test_incremental_builds_with_python_kind(small_ws: Workspace, doubled: DoubledComputer) -> None:
    first = small_ws.build()
    assert small_ws.build().up_to_date

    tags_file = small_ws.root / "tags" / "basic.yaml"
    text = tags_file.read_text(encoding="utf-8")
    tags_file.write_text(text.replace("window: 30d", "window: 60d"), encoding="utf-8")
    second = small_ws.build()
    assert sorted(second.computed) == sorted(["busy", "views_30d", *NAMES])
    assert values(small_ws, "views_30d", "views_twice")["u2"] == (2, 4)

    forced = small_ws.build(tags=["views_twice"])  # views_30d comes from the previous profile
    assert sorted(forced.computed) == sorted(NAMES)
    assert values(small_ws, "views_twice", "views_twice_band")["u2"] == (4, "3+")
    assert forced.profile_version != first.profile_version


class Broken(DoubledComputer):
    def column(self, tag: AnyTag, inputs: pa.Table, context: BuildContext) -> pa.Array:
        raise RuntimeError("the model file is missing")


def test_python_kind_failure_leaves_the_profile(
    small_ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    small_ws.build()  # SQL kinds only
    before = small_ws.built.version
    with (
        python_kind(monkeypatch, Broken()),
        pytest.raises(BuildError, match="computing doubled:views_twice failed: the model"),
    ):
        small_ws.build()
    assert small_ws.built.version == before
