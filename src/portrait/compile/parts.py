"""What the SQL tag kinds compile to: the parts one build query plan is assembled from.

Each SQL kind turns the tags it computes into parts (see the ``*_parts`` function of its module):

- :class:`UsersColumn`: a column of the one query over ``users`` (attributes, buckets of a users
  column);
- :class:`TagRelation`: a per-user relation keyed by ``user_id`` (one scan of an event table for
  all its metrics, or one tag's own query), materialized before the assembly joins it;
- :class:`TagExpression`: a column the assembly computes from earlier tag columns (derived tags,
  buckets of a tag).

:mod:`portrait.compile.assembly` orders the parts and joins them into the profile query.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlglot import exp

from portrait.model.schema import SQL_TYPES, Schema
from portrait.model.tags import AnyTag, TagSet

#: the column every per-user relation is keyed by
TAG_TABLE_KEY = "user_id"


def sql_type(value_type: str) -> exp.DataType:
    return exp.DataType.build(SQL_TYPES[value_type], dialect="duckdb")


@dataclass(frozen=True)
class BuildContext:
    """What compiling a tag may depend on besides its definition: the whole tag set (a bucket
    reads a tag or a users column), the as-of date, the loaded schema and the time zone."""

    tags: TagSet
    as_of: dt.date
    schema: Schema
    timezone: str = "UTC"

    def columns_of(self, table: str) -> set[str]:
        """The stored columns of ``table`` (a virtual column of the same name is not one)."""
        return set(self.schema.get(table, {}))


@dataclass(frozen=True)
class UsersColumn:
    """A tag computed in the one query over ``users``; ``value`` reads users columns."""

    tag: AnyTag
    value: exp.Expr


@dataclass(frozen=True)
class TagRelation:
    """A relation of ``user_id`` and one column per tag in ``tags``.

    ``shared``: one scan computing several tags, keyed by its source table (``key``), joined as
    ``a0``, ``a1``, …; otherwise one tag's own query, keyed by the tag's name, joined as ``p0``, …
    """

    key: str
    shared: bool
    query: exp.Select
    tags: tuple[AnyTag, ...]

    @property
    def name(self) -> str:
        """``agg_<table>`` or ``tag_<name>`` (the engine's temp table is ``t_<name>``)."""
        return f"{'agg' if self.shared else 'tag'}_{self.key}"

    @property
    def table(self) -> str:
        return f"t_{self.name}"

    @property
    def label(self) -> str:
        """The build step's name in timings and errors: ``metric:events``, ``preference:cars``."""
        return f"{self.tags[0].kind}:{self.key}"


@dataclass(frozen=True)
class TagExpression:
    """A tag the assembly computes from earlier tag columns; ``value`` names them quoted."""

    tag: AnyTag
    value: exp.Expr


SqlPart = UsersColumn | TagRelation | TagExpression
