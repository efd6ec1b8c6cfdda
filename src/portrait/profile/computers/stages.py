"""The order of a build: the parts of the tags to compute, grouped into stages by dependency.

A stage is SQL, then Python: its SQL parts make one relation (the users query and the per-user
relations in the first stage, expressions over tags in every stage), from which its Python
columns are computed. A Python tag goes in the stage of the latest tag it reads; a SQL tag that
reads a Python tag goes in the stage after that tag's. So a build whose tags are all SQL kinds
has one stage, assembled and written in one query.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from portrait.compile.parts import BuildContext, SqlPart, TagExpression, TagRelation
from portrait.model.tags import AnyTag, TagSet
from portrait.profile.computers.base import ArrowColumn, Part
from portrait.profile.computers.registry import computer_for


@dataclass
class Stage:
    sql: list[SqlPart] = field(default_factory=list)
    #: computed after the SQL part, in dependency order
    python: list[ArrowColumn] = field(default_factory=list)


def part_tags(part: Part) -> tuple[AnyTag, ...]:
    return part.tags if isinstance(part, TagRelation) else (part.tag,)


def collect_parts(tags: TagSet, compute: Iterable[str], context: BuildContext) -> list[Part]:
    """The parts computing the tags ``compute``, from each kind's computer (kinds in the order of
    their first tag, tags in declaration order)."""
    wanted = set(compute)
    by_kind: dict[str, list[AnyTag]] = {}
    for name in tags:
        if name in wanted:
            by_kind.setdefault(tags[name].kind, []).append(tags[name])
    parts: list[Part] = []
    for kind, group in by_kind.items():
        made = list(computer_for(group[0]).parts(group, context))
        covered = sorted(t.name for part in made for t in part_tags(part))
        if covered != sorted(t.name for t in group):
            raise AssertionError(
                f"the computer of kind '{kind}' made parts for {covered}, "
                f"not for {[t.name for t in group]}"
            )
        parts += made
    return parts


def plan_stages(parts: Sequence[Part], tags: TagSet) -> list[Stage]:
    """``parts`` in stages (at least one); the last stage has no Python columns."""
    python = {p.tag.name for p in parts if isinstance(p, ArrowColumn)}
    computed = {t.name for p in parts for t in part_tags(p)}
    order = tags.build_order()
    stage_of: dict[str, int] = {}
    for name in order:
        if name not in computed:
            continue
        reads = tags.tag_dependencies(name) & computed  # the others are taken over: stage 0
        stage_of[name] = max(
            (stage_of[d] + 1 if d in python and name not in python else stage_of[d] for d in reads),
            default=0,
        )
    stages = [Stage() for _ in range(max(stage_of.values(), default=0) + 1)]
    for part in parts:
        if isinstance(part, ArrowColumn):
            stages[stage_of[part.tag.name]].python.append(part)
            continue
        names = [t.name for t in part_tags(part)]
        if not isinstance(part, TagExpression) and any(tags.tag_dependencies(n) for n in names):
            # the users query and the per-user relations run before any assembly
            raise AssertionError(f"{type(part).__name__} of {names} reads other tags")
        stages[max(stage_of[n] for n in names)].sql.append(part)
    position = {name: i for i, name in enumerate(order)}
    for stage in stages:
        stage.python.sort(key=lambda c: position[c.tag.name])
    if stages[-1].python:
        stages.append(Stage())  # to join the last Python columns and write the profile
    return stages
