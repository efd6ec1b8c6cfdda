"""The kinds read from the ``users`` table: ``attribute`` (a column as it is) and ``bucket`` (a
number cut into labelled ranges; a bucket of another tag is computed in the assembly)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlglot import exp

from portrait.compile.parts import BuildContext, SqlPart, TagExpression, UsersColumn
from portrait.model.tags import AnyTag, AttributeTag, BucketTag


def bucket_expression(tag: BucketTag, source: exp.Expr) -> exp.Expr:
    """CASE over the bin edges: ``<b0``, ``b0-b1``, …, ``bn+``; NULL stays NULL."""
    labels = tag.bucket_labels()
    case = exp.Case().when(exp.Is(this=source.copy(), expression=exp.Null()), exp.Null())
    for edge, label in zip(tag.bins, labels, strict=False):
        case = case.when(
            exp.LT(this=source.copy(), expression=exp.convert(edge)), exp.Literal.string(label)
        )
    return case.else_(exp.Literal.string(labels[-1]))


def users_value(tag: AnyTag) -> exp.Expr:
    """The expression over users columns computing ``tag`` (an attribute, or a bucket of a
    users column)."""
    if isinstance(tag, AttributeTag):
        return exp.column(tag.source_column)
    if isinstance(tag, BucketTag):
        return bucket_expression(tag, exp.column(tag.source))
    raise ValueError(f"{tag.name} is not computed from the users table")


def users_select(columns: Sequence[UsersColumn]) -> exp.Select:
    """``SELECT uid, user_id, <value> AS <tag> … FROM users``."""
    select: list[exp.Expr] = [exp.column("uid"), exp.column("user_id")]
    select += [exp.alias_(c.value.copy(), c.tag.name, quoted=True) for c in columns]
    return exp.select(*select).from_("users")


def users_query(tags: Sequence[AnyTag]) -> exp.Select:
    """``SELECT uid, user_id, <attributes and buckets of users columns> FROM users``."""
    return users_select([UsersColumn(tag, users_value(tag)) for tag in tags])


def attribute_parts(tags: Sequence[AttributeTag], context: BuildContext) -> list[SqlPart]:
    """Each attribute is a column of the users query."""
    return [UsersColumn(tag, users_value(tag)) for tag in tags]


def bucket_parts(tags: Sequence[BucketTag], context: BuildContext) -> list[SqlPart]:
    """A bucket of a users column is a column of the users query; a bucket of a tag is computed
    in the assembly, after that tag."""
    parts: list[SqlPart] = []
    for tag in tags:
        if tag.source in context.tags:
            source = exp.column(tag.source, quoted=True)
            parts.append(TagExpression(tag, bucket_expression(tag, source)))
        else:
            parts.append(UsersColumn(tag, users_value(tag)))
    return parts
