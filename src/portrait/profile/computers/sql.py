"""The computers of the SQL kinds: each compiles its tags with :mod:`portrait.compile` (SQLGlot)
into parts the engine runs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from portrait.compile.derived import derived_parts
from portrait.compile.metrics import metric_parts
from portrait.compile.parts import BuildContext, SqlPart
from portrait.compile.preferences import preference_parts
from portrait.compile.rfm import rfm_parts
from portrait.compile.users import attribute_parts, bucket_parts
from portrait.model.tags import AnyTag, MetricTag, PreferenceTag, RfmTag
from portrait.profile.computers.base import Part


@dataclass(frozen=True)
class SqlComputer:
    """A kind whose values read the ``users`` table (and other tags), compiled by ``compile``."""

    kind: str
    compile: Callable[[Sequence[Any], BuildContext], list[SqlPart]]

    def tables(self, tag: AnyTag) -> tuple[str, ...]:
        return ("users",)

    def windowed(self, tag: AnyTag) -> bool:
        return False

    def parts(self, tags: Sequence[AnyTag], context: BuildContext) -> Sequence[Part]:
        return self.compile(tags, context)


@dataclass(frozen=True)
class WindowedSqlComputer(SqlComputer):
    """A kind over an event table (``from``) in a window ending on the as-of date."""

    def tables(self, tag: AnyTag) -> tuple[str, ...]:
        assert isinstance(tag, MetricTag | PreferenceTag | RfmTag), tag.kind
        return ("users", tag.from_)

    def windowed(self, tag: AnyTag) -> bool:
        return True


ATTRIBUTE = SqlComputer("attribute", attribute_parts)
BUCKET = SqlComputer("bucket", bucket_parts)
METRIC = WindowedSqlComputer("metric", metric_parts)
PREFERENCE = WindowedSqlComputer("preference", preference_parts)
RFM = WindowedSqlComputer("rfm", rfm_parts)
DERIVED = SqlComputer("derived", derived_parts)
