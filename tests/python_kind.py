"""A tag kind computed in Python, for the tests only: ``doubled`` is twice another tag's value.

It stands for the coming Python kinds (a model's probability, a persona's cluster id): its
definition extends the tag definitions' base as a real kind's would, and its computer registers
through :func:`portrait.profile.computers.register` like any other (:func:`registered` removes
it again, so the production registry stays the SQL kinds).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc

from portrait.compile.parts import BuildContext
from portrait.model.schema import ValueType
from portrait.model.tags import AnyTag, TagSet, _TagBase
from portrait.profile.computers import PythonComputer, TagComputer, register, unregister


class DoubledTag(_TagBase):
    """Twice the value of the tag ``source``."""

    kind: Literal["doubled"] = "doubled"
    source: str
    type: ValueType = "float"

    @property
    def value_type(self) -> ValueType:
        return self.type

    def dependencies(self) -> frozenset[str]:
        return frozenset({self.source})


class DoubledComputer(PythonComputer):
    kind = "doubled"

    def __init__(self) -> None:
        self.calls: list[list[str]] = []  # the input columns of each call

    def column(self, tag: AnyTag, inputs: pa.Table, context: BuildContext) -> pa.Array:
        assert isinstance(tag, DoubledTag)
        self.calls.append(inputs.column_names)
        return pc.multiply(inputs.column(tag.source), 2)


@contextmanager
def registered(computer: TagComputer) -> Iterator[TagComputer]:
    """``computer`` registered for the duration of the block."""
    register(computer)
    try:
        yield computer
    finally:
        unregister(computer.kind)


def with_tags(tags: TagSet, *extra: AnyTag) -> TagSet:
    """``tags`` and ``extra`` (appended in order), with the same sources."""
    return TagSet([*tags.values(), *extra], tags.sources)
