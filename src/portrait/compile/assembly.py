"""The assembly: the parts of the SQL kinds (:mod:`portrait.compile.parts`) → the queries of one
build stage.

A stage runs its per-user relations into temp tables (``t_users`` and ``t_<relation>``), then one
query that left-joins them on the user, casts each tag to its type, takes reused tags from the
previous profile and adds the tags computed from tags, level by level. When tags computed outside
SQL are in between, a later stage starts from the earlier stage's table joined with their columns
(:func:`join_columns`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from sqlglot import exp

from portrait.compile.parts import (
    SqlPart,
    TagExpression,
    TagRelation,
    UsersColumn,
    sql_type,
)
from portrait.compile.users import bucket_expression, users_select
from portrait.model.tags import ZERO_WHEN_EMPTY, AnyTag, BucketTag, DerivedTag, MetricTag, TagSet

#: the engine's temp table of the users query
USERS_TABLE = "t_users"


@dataclass
class BuildQueries:
    """Everything one build stage runs, in order. Relation names are for the engine's temp
    tables."""

    users: exp.Select
    aggregates: dict[str, exp.Select] = field(default_factory=dict)  # table → query
    per_tag: dict[str, exp.Select] = field(default_factory=dict)  # tag → query of its own
    assemble: exp.Select | None = None
    kinds: dict[str, list[str]] = field(default_factory=dict)  # relation → tag names
    #: the per-user relations to materialize after ``users``, in order
    relations: list[TagRelation] = field(default_factory=list)


def typed(tag: AnyTag, column: exp.Expr) -> exp.Expr:
    """``CAST(column AS <tag's type>) AS "<tag>"``; counts and sums of no rows are 0."""
    if isinstance(tag, MetricTag) and tag.agg in ZERO_WHEN_EMPTY:
        column = exp.Coalesce(this=column, expressions=[exp.convert(0)])
    return exp.alias_(exp.cast(column, sql_type(tag.value_type)), tag.name, quoted=True)


def split_parts(
    parts: Iterable[SqlPart], tags: TagSet
) -> tuple[list[UsersColumn], list[TagRelation], list[TagExpression]]:
    """The parts by sort, each in declaration order of its (first) tag; shared scans before the
    relations of one tag."""
    order = {name: i for i, name in enumerate(tags)}
    users: list[UsersColumn] = []
    relations: list[TagRelation] = []
    expressions: list[TagExpression] = []
    for part in parts:
        if isinstance(part, UsersColumn):
            users.append(part)
        elif isinstance(part, TagRelation):
            relations.append(part)
        else:
            expressions.append(part)
    users.sort(key=lambda c: order[c.tag.name])
    relations.sort(key=lambda r: (not r.shared, order[r.tags[0].name]))
    expressions.sort(key=lambda e: order[e.tag.name])
    return users, relations, expressions


def source_query(
    users: Sequence[UsersColumn],
    relations: Sequence[TagRelation],
    reused: Sequence[str] = (),
    reuse_relation: str | None = None,
) -> exp.Select:
    """users ⟕ shared scans ⟕ relations of one tag ⟕ previous profile (for ``reused`` tags),
    each tag typed: ``uid, user_id, <tags>``."""
    select: list[exp.Expr] = [exp.column("uid", table="u"), exp.column("user_id", table="u")]
    query = exp.select().from_(exp.to_table(USERS_TABLE).as_("u"))
    for column in users:
        select.append(typed(column.tag, exp.column(column.tag.name, table="u", quoted=True)))
    shared = [r for r in relations if r.shared]
    own = [r for r in relations if not r.shared]
    for prefix, group in (("a", shared), ("p", own)):
        for i, relation in enumerate(group):
            alias = f"{prefix}{i}"
            query = query.join(
                exp.to_table(relation.table).as_(alias), using=["user_id"], join_type="left"
            )
            for tag in relation.tags:
                select.append(typed(tag, exp.column(tag.name, table=alias, quoted=True)))
    if reused:
        assert reuse_relation is not None, "tags to reuse need the previous profile"
        query = query.join(
            exp.to_table(reuse_relation).as_("prev"), using=["uid"], join_type="left"
        )
        select.extend(exp.column(n, table="prev", quoted=True) for n in reused)
    return query.select(*select)


def add_columns(relation: exp.Expr, columns: Sequence[TagExpression]) -> exp.Select:
    """``SELECT *, <value> AS tag … FROM (relation) AS t``: one level of tags from tags."""
    select: list[exp.Expr] = [exp.Star()]
    select += [exp.alias_(c.value.copy(), c.tag.name, quoted=True) for c in columns]
    return exp.select(*select).from_(
        exp.Subquery(this=relation, alias=exp.TableAlias(this=exp.to_identifier("t")))
    )


def derived_select(
    relation: exp.Expr,
    tags: Iterable[DerivedTag | BucketTag],
    parsed: Mapping[str, exp.Expr],
) -> exp.Select:
    """``SELECT *, <expr> AS tag … FROM (relation)``: one level of tags computed from tags."""
    columns: list[TagExpression] = []
    for tag in tags:
        if isinstance(tag, BucketTag):
            value = bucket_expression(tag, exp.column(tag.source, quoted=True))
        else:
            value = exp.cast(parsed[tag.name].copy(), sql_type(tag.value_type))
        columns.append(TagExpression(tag, value))
    return add_columns(relation, columns)


def add_levels(
    relation: exp.Select, expressions: Sequence[TagExpression], tags: TagSet
) -> exp.Select:
    """``relation`` with the ``expressions`` added level by level (a tag after those it reads)."""
    if not expressions:
        return relation
    level_of = {name: i for i, names in enumerate(tags.levels()) for name in names}
    levels: dict[int, list[TagExpression]] = {}
    for expression in expressions:
        levels.setdefault(level_of[expression.tag.name], []).append(expression)
    for level in sorted(levels):
        relation = add_columns(relation, levels[level])
    return relation


def join_columns(stage_table: str, columns_table: str, tags: Sequence[AnyTag]) -> exp.Select:
    """``SELECT s.*, <typed columns of tags> FROM stage_table AS s LEFT JOIN columns_table AS x
    USING (uid)``: an earlier stage with the columns computed outside SQL after it."""
    select: list[exp.Expr] = [exp.Column(this=exp.Star(), table=exp.to_identifier("s"))]
    select += [typed(tag, exp.column(tag.name, table="x", quoted=True)) for tag in tags]
    return (
        exp.select(*select)
        .from_(exp.to_table(stage_table).as_("s"))
        .join(exp.to_table(columns_table).as_("x"), using=["uid"], join_type="left")
    )


def profile_query(relation: exp.Expr, names: Iterable[str]) -> exp.Select:
    """``uid, user_id, <tags in declaration order>`` of ``relation``, ordered by uid."""
    final = [exp.column("uid"), exp.column("user_id")]
    final += [exp.column(n, quoted=True) for n in names]
    return (
        exp.select(*final)
        .from_(exp.Subquery(this=relation, alias=exp.TableAlias(this=exp.to_identifier("p"))))
        .order_by("uid")
    )


def stage_queries(
    parts: Iterable[SqlPart],
    tags: TagSet,
    *,
    reused: Sequence[str] = (),
    reuse_relation: str | None = None,
    final: bool = True,
) -> BuildQueries:
    """The queries of the first (or only) stage of a build: the users query, the per-user
    relations and the assembly. ``final``: the assembly yields the profile (``uid, user_id,
    <tags>`` in declaration order, by uid); otherwise the relation a later stage starts from."""
    users, relations, expressions = split_parts(parts, tags)
    plan = BuildQueries(users=users_select(users), relations=relations)
    plan.kinds["users"] = [c.tag.name for c in users]
    for relation in relations:
        target = plan.aggregates if relation.shared else plan.per_tag
        target[relation.key] = relation.query
        plan.kinds[relation.name] = [t.name for t in relation.tags]
    assembled = add_levels(
        source_query(users, relations, reused, reuse_relation), expressions, tags
    )
    plan.assemble = profile_query(assembled, tags) if final else assembled
    return plan
