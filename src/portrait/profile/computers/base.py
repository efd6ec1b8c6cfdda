"""The interface every tag kind's computer implements, and the Python-side part.

A computer says, for the tags of its kind:

- which warehouse tables a tag's values read (:meth:`TagComputer.tables`) and whether they move
  with the as-of date and time zone (:meth:`TagComputer.windowed`): both enter the tag's
  fingerprint; the other tags it reads are its definition's dependencies
  (``TagSet.tag_dependencies``), which order the build;
- how the tags become profile columns (:meth:`TagComputer.parts`): SQL parts run by the engine
  (:mod:`portrait.compile.parts`: a column of the users query, a per-user relation, an
  expression over earlier tags), or an :class:`ArrowColumn` computed in Python from earlier
  columns.
"""

from __future__ import annotations

import abc
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import pyarrow as pa

from portrait.compile.parts import BuildContext, SqlPart
from portrait.model.tags import AnyTag


@dataclass(frozen=True)
class ArrowColumn:
    """A tag computed in Python.

    ``compute`` gets an Arrow table of ``uid``, ``user_id`` and the tag's dependencies (one row
    per user, by uid) and returns the tag's values in the same order; the build casts them to
    the tag's value type.
    """

    tag: AnyTag
    compute: Callable[[pa.Table], pa.Array | pa.ChunkedArray]


Part = SqlPart | ArrowColumn


class TagComputer(Protocol):
    """How the build computes the tags of one kind (registered by ``kind``)."""

    @property
    def kind(self) -> str: ...

    def tables(self, tag: AnyTag) -> tuple[str, ...]:
        """The warehouse tables the tag's values read (their versions enter its fingerprint)."""
        ...

    def windowed(self, tag: AnyTag) -> bool:
        """Whether the tag's values move with the as-of date and the time zone."""
        ...

    def parts(self, tags: Sequence[AnyTag], context: BuildContext) -> Sequence[Part]:
        """The parts computing ``tags`` (this kind's tags to compute in this build, in
        declaration order): every tag in exactly one part."""
        ...


class PythonComputer(abc.ABC):
    """Base of a kind computed in Python from other tags (a model's probability, a persona's
    cluster id): one :class:`ArrowColumn` per tag; its values read no table but ``users``."""

    kind: str

    def tables(self, tag: AnyTag) -> tuple[str, ...]:
        return ("users",)

    def windowed(self, tag: AnyTag) -> bool:
        return False

    def parts(self, tags: Sequence[AnyTag], context: BuildContext) -> Sequence[Part]:
        return [
            ArrowColumn(tag, functools.partial(self.column, tag, context=context)) for tag in tags
        ]

    @abc.abstractmethod
    def column(
        self, tag: AnyTag, inputs: pa.Table, context: BuildContext
    ) -> pa.Array | pa.ChunkedArray:
        """The values of ``tag`` for the users of ``inputs`` (``uid``, ``user_id`` and the tag's
        dependencies, by uid), in that order."""
