"""The ``derived`` kind: a checked SQL expression over other tags, computed in the assembly."""

from __future__ import annotations

from collections.abc import Sequence

from sqlglot import exp

from portrait.compile.parts import BuildContext, SqlPart, TagExpression, sql_type
from portrait.compile.validate import parse_derived
from portrait.model.tags import DerivedTag, TagSet


def derived_value(tag: DerivedTag, tags: TagSet) -> exp.Expr:
    """The tag's expression (parsed and checked against ``tags``), cast to its type."""
    return exp.cast(parse_derived(tag, tags, tags), sql_type(tag.value_type))


def derived_parts(tags: Sequence[DerivedTag], context: BuildContext) -> list[SqlPart]:
    """Each derived tag is a column the assembly adds after the tags it reads."""
    return [TagExpression(tag, derived_value(tag, context.tags)) for tag in tags]
