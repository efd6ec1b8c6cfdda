"""The order of a build: one stage when every tag is SQL; a stage boundary after Python columns
that later SQL tags read."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pytest
from sqlglot import exp

from portrait.compile import validate_tags
from portrait.compile.parts import BuildContext, TagRelation
from portrait.model.tags import AnyTag, DerivedTag, TagSet
from portrait.profile.computers import Part
from portrait.profile.computers.stages import Stage, collect_parts, plan_stages
from tests.python_kind import DoubledComputer, DoubledTag, registered, with_tags
from tests.unit.tag_files import SCHEMA, parse

BASE = validate_tags(
    parse(
        "tags:\n"
        "  - {name: city, kind: attribute}\n"
        "  - {name: age, kind: attribute, type: int}\n"
        "  - {name: views, kind: metric, from: events, agg: count}\n"
        '  - {name: busy, kind: derived, type: bool, expr: "views > 3"}\n'
    ),
    SCHEMA,
)


def derived(name: str, expr: str, *reads: str) -> DerivedTag:
    return DerivedTag(name=name, expr=expr, type="float", depends_on=reads)


def shape(stages: Sequence[Stage]) -> list[tuple[list[str], list[str]]]:
    """Per stage: the tags of its SQL parts and of its Python columns."""
    out = []
    for stage in stages:
        sql = [
            t.name for p in stage.sql for t in (p.tags if isinstance(p, TagRelation) else (p.tag,))
        ]
        out.append((sorted(sql), [c.tag.name for c in stage.python]))
    return out


def stages_of(tags: TagSet, compute: set[str] | None = None) -> list[Stage]:
    context = BuildContext(tags, dt.date(2026, 10, 31), SCHEMA)
    return plan_stages(
        collect_parts(tags, set(tags) if compute is None else compute, context), tags
    )


def test_all_sql_is_one_stage() -> None:
    assert shape(stages_of(BASE)) == [(["age", "busy", "city", "views"], [])]


def test_python_after_sql_then_sql_after_python() -> None:
    tags = with_tags(
        BASE,
        DoubledTag(name="twice_views", source="views"),
        derived("plus", "twice_views + age", "twice_views", "age"),
        DoubledTag(name="quad", source="twice_views"),
        DoubledTag(name="plus_twice", source="plus"),
    )
    with registered(DoubledComputer()):
        stages = stages_of(tags)
    assert shape(stages) == [
        (["age", "busy", "city", "views"], ["twice_views", "quad"]),  # quad: same stage, after
        (["plus"], ["plus_twice"]),
        ([], []),  # joins plus_twice and writes the profile
    ]


def test_taken_over_tags_need_no_stage() -> None:
    tags = with_tags(
        BASE,
        DoubledTag(name="twice_age", source="age"),
        derived("plus", "twice_age + 1", "twice_age"),
    )
    with registered(DoubledComputer()):
        # twice_age is taken over from the previous profile: plus reads it in the first stage
        assert shape(stages_of(tags, {"plus", "views"})) == [(["plus", "views"], [])]
        assert shape(stages_of(tags, {"twice_age", "plus"})) == [
            ([], ["twice_age"]),
            (["plus"], []),
        ]


class _Lopsided:
    """A computer that forgets one of its tags."""

    kind = "doubled"

    def tables(self, tag: AnyTag) -> tuple[str, ...]:
        return ("users",)

    def windowed(self, tag: AnyTag) -> bool:
        return False

    def parts(self, tags: Sequence[AnyTag], context: BuildContext) -> Sequence[Part]:
        return DoubledComputer().parts(tags[:1], context)


def test_a_computer_must_make_every_tag_it_is_given() -> None:
    tags = with_tags(BASE, DoubledTag(name="a", source="age"), DoubledTag(name="b", source="age"))
    with registered(_Lopsided()), pytest.raises(AssertionError, match=r"made parts for \['a'\]"):
        stages_of(tags)


def test_relations_read_only_tables() -> None:
    tags = with_tags(BASE, DoubledTag(name="twice", source="age"))
    reader = DoubledTag(name="reader", source="twice")
    relation = TagRelation(key="reader", shared=False, query=exp.select("1"), tags=(reader,))
    tags = with_tags(tags, reader)
    with registered(DoubledComputer()):
        parts = collect_parts(tags, {"twice"}, BuildContext(tags, dt.date(2026, 10, 31), SCHEMA))
        with pytest.raises(AssertionError, match=r"TagRelation of \['reader'\] reads other tags"):
            plan_stages([*parts, relation], tags)
