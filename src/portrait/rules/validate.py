"""Check a rule against the tag catalog before it is evaluated: tags exist, values fit their
type, list operators go with list tags; unknown names get "did you mean"."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from portrait.errors import RuleValidationError, suggest
from portrait.model.rules import (
    And,
    BehaviourCondition,
    CampaignRef,
    IdListRef,
    Not,
    Or,
    Rule,
    SegmentRef,
    TagCondition,
)
from portrait.model.schema import temporal_value
from portrait.rules.parser import clip, window_problem

NUMERIC = frozenset({"int", "float"})
TEMPORAL = frozenset({"date", "timestamp"})


def _leaves(rule: Rule) -> Iterable[Rule]:
    if isinstance(rule, And | Or):
        for item in rule.items:
            yield from _leaves(item)
    elif isinstance(rule, Not):
        yield from _leaves(rule.item)
    else:
        yield rule


def rule_references(rule: Rule) -> dict[str, set[str]]:
    """Names of the segments (``"segment"``), ID lists (``"ids"``) and campaigns
    (``"campaign"``) a rule refers to."""
    refs: dict[str, set[str]] = {"segment": set(), "ids": set(), "campaign": set()}
    for leaf in _leaves(rule):
        if isinstance(leaf, SegmentRef):
            refs["segment"].add(leaf.name)
        elif isinstance(leaf, IdListRef):
            refs["ids"].add(leaf.name)
        elif isinstance(leaf, CampaignRef):
            refs["campaign"].add(leaf.name)
    return refs


def rule_tags(rule: Rule) -> set[str]:
    """Names of the tags a rule's conditions read."""
    return {leaf.tag for leaf in _leaves(rule) if isinstance(leaf, TagCondition)}


def _check_tag(cond: TagCondition, vtype: str, known_values: Iterable[str] | None) -> None:
    from portrait.rules.printer import print_rule

    text = clip(print_rule(cond))
    values = cond.value if isinstance(cond.value, list) else [cond.value]
    is_list = vtype == "list<string>"
    if cond.op in ("contains any", "contains all") and not is_list:
        raise RuleValidationError(
            f"'{cond.tag}' holds one value ({vtype}); 'contains' is for multi-valued tags",
            where=text,
            hint=f"use {cond.tag} in (...)",
        )
    if is_list and cond.op not in ("contains any", "contains all", "is null", "is not null"):
        raise RuleValidationError(
            f"'{cond.tag}' holds several values; compare it with 'contains any' or 'contains all'",
            where=text,
            hint=f'e.g. {cond.tag} contains any ("a", "b")',
        )
    if cond.op in ("is null", "is not null"):
        return
    for value in values:
        ok = (
            (vtype in NUMERIC and isinstance(value, int | float) and not isinstance(value, bool))
            or (vtype == "bool" and isinstance(value, bool))
            or (vtype in ("string", "list<string>") and isinstance(value, str))
            or (vtype in TEMPORAL and isinstance(value, str))
        )
        if not ok:
            raise RuleValidationError(
                f"'{cond.tag}' is {vtype}, so {clip(repr(value), 60)} cannot be compared with it",
                where=text,
                hint="quote text values; numbers go without quotes",
            )
    if vtype in TEMPORAL:
        for value in values:
            try:
                temporal_value(value, vtype)
            except ValueError as exc:
                raise RuleValidationError(f"'{cond.tag}' is a {vtype}: {exc}", where=text) from None
    if vtype in ("string", "list<string>") and cond.op in ("<", "<=", ">", ">=", "between"):
        raise RuleValidationError(
            f"'{cond.tag}' is text; '{cond.op}' compares numbers and dates",
            where=text,
            hint=f"use = or in for {cond.tag}",
        )
    if known_values is not None and vtype in ("string", "list<string>"):
        known = set(known_values)
        for value in values:
            if isinstance(value, str) and value not in known:
                raise RuleValidationError(
                    f"'{cond.tag}' has no value {clip(repr(value), 60)}",
                    where=text,
                    hint=suggest(value, known) or "see portrait tags show " + cond.tag,
                )


def _check_property_value(column: str, value: object, vtype: str) -> None:
    """A property filter's value must fit the property's type."""
    fits = {
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": isinstance(value, int | float) and not isinstance(value, bool),
        "bool": isinstance(value, bool),
        "string": isinstance(value, str),
    }.get(vtype, isinstance(value, str))
    if not fits:
        raise RuleValidationError(
            f"event property '{column}' is {vtype}, so {clip(repr(value), 60)} cannot be "
            "compared with it",
            where="rule",
            hint="quote text values; numbers go without quotes",
        )


def validate_rule(
    rule: Rule,
    tag_types: Mapping[str, str],
    *,
    tag_values: Mapping[str, Iterable[str]] | None = None,
    events: Iterable[str] | None = None,
    business_lines: Iterable[str] | None = None,
    properties: Mapping[str, str] | None = None,
) -> None:
    """Raise :class:`RuleValidationError` for the first leaf that does not fit.

    ``tag_types``: tag → value type; ``tag_values``: known values of categorical tags (checked
    when given); ``events``: known event names; ``properties``: event columns → value type.
    """
    for leaf in _leaves(rule):
        if isinstance(leaf, TagCondition):
            if leaf.tag not in tag_types:
                raise RuleValidationError(
                    f"unknown tag '{clip(leaf.tag, 60)}'",
                    where="rule",
                    hint=suggest(leaf.tag, tag_types) or "see portrait tags list",
                )
            known = None if tag_values is None else tag_values.get(leaf.tag)
            _check_tag(leaf, tag_types[leaf.tag], known)
        elif isinstance(leaf, BehaviourCondition):
            if leaf.window.last is not None:
                problem = window_problem(leaf.window.last, f"last={leaf.window.last}")
                if problem:
                    raise RuleValidationError(problem, where="rule")
            if events is not None and leaf.event is not None and leaf.event not in set(events):
                names = list(events)
                raise RuleValidationError(
                    f"no event named '{clip(leaf.event, 60)}'",
                    where="rule",
                    hint=suggest(leaf.event, names) or "events: " + ", ".join(sorted(names)[:20]),
                )
            if business_lines is not None and leaf.business_line is not None:
                lines = list(business_lines)
                if leaf.business_line not in lines:
                    raise RuleValidationError(
                        f"no business line named '{clip(leaf.business_line, 60)}'",
                        where="rule",
                        hint=suggest(leaf.business_line, lines)
                        or (
                            "business lines: " + ", ".join(sorted(lines)[:20])
                            if lines
                            else "the events have no business_line column"
                        ),
                    )
            if properties is not None:
                for column in [*leaf.where, *([leaf.of] if leaf.of else [])]:
                    if column not in properties:
                        raise RuleValidationError(
                            f"events have no property '{clip(column, 60)}'",
                            where="rule",
                            hint=suggest(column, properties) or None,
                        )
                for column, value in leaf.where.items():
                    _check_property_value(column, value, properties[column])
                if leaf.of and properties[leaf.of] not in NUMERIC:
                    raise RuleValidationError(
                        f"sum(of={leaf.of!r}) needs a numeric property; it is {properties[leaf.of]}",
                        where="rule",
                    )
