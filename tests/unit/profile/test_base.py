"""A kind computed in Python: one Arrow column per tag, from the tag's inputs."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from portrait.compile.parts import BuildContext
from portrait.model.tags import AttributeTag, TagSet
from portrait.profile.computers import ArrowColumn
from tests.python_kind import DoubledComputer, DoubledTag

AGE = AttributeTag(name="age", type="int")
TWICE = DoubledTag(name="twice", source="age")
TAGS = TagSet([AGE, TWICE])


def test_python_computer_reads_users_and_is_not_windowed() -> None:
    computer = DoubledComputer()
    assert computer.tables(TWICE) == ("users",)
    assert computer.windowed(TWICE) is False


def test_one_arrow_column_per_tag() -> None:
    computer = DoubledComputer()
    context = BuildContext(TAGS, dt.date(2026, 10, 31), {})
    (part,) = computer.parts([TWICE], context)
    assert isinstance(part, ArrowColumn) and part.tag is TWICE
    inputs = pa.table({"uid": [0, 1], "user_id": ["a", "b"], "age": [20, None]})
    assert part.compute(inputs).to_pylist() == [40, None]
    assert computer.calls == [["uid", "user_id", "age"]]
