"""Check a rule against the tag catalog before it is evaluated: tags exist, values fit their
type, list operators go with list tags; unknown names get "did you mean"."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from portrait.errors import RuleValidationError, suggest
from portrait.model.expressions import (
    TEMPORAL as TEMPORAL_KINDS,
)
from portrait.model.expressions import (
    AsOf,
    Expression,
    ExpressionType,
    ExpressionTypeError,
    comparable,
    describe,
    expression_type,
)
from portrait.model.rules import (
    And,
    BehaviourCondition,
    CampaignRef,
    Comparison,
    IdListRef,
    Leaf,
    Not,
    Or,
    Rule,
    SegmentRef,
    TagCondition,
)
from portrait.model.schema import temporal_value
from portrait.rules.parser import clip, context, locate, window_problem

NUMERIC = frozenset({"int", "float"})
TEMPORAL = frozenset({"date", "timestamp"})


def rule_leaves(rule: Rule) -> Iterable[Leaf]:
    """Every leaf of a rule (conditions and references), depth first."""
    if isinstance(rule, And | Or):
        for item in rule.items:
            yield from rule_leaves(item)
    elif isinstance(rule, Not):
        yield from rule_leaves(rule.item)
    else:
        yield rule


def rule_references(rule: Rule) -> dict[str, set[str]]:
    """Names of the segments (``"segment"``), ID lists (``"ids"``) and campaigns
    (``"campaign"``) a rule refers to."""
    refs: dict[str, set[str]] = {"segment": set(), "ids": set(), "campaign": set()}
    for leaf in rule_leaves(rule):
        if isinstance(leaf, SegmentRef):
            refs["segment"].add(leaf.name)
        elif isinstance(leaf, IdListRef):
            refs["ids"].add(leaf.name)
        elif isinstance(leaf, CampaignRef):
            refs["campaign"].add(leaf.name)
    return refs


def rule_tags(rule: Rule) -> set[str]:
    """Names of the tags a rule's conditions read (in comparisons and ``size()`` too)."""
    names: set[str] = set()
    for leaf in rule_leaves(rule):
        if isinstance(leaf, TagCondition):
            names.add(leaf.tag)
        elif isinstance(leaf, Comparison):
            names |= leaf.tags
    return names


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
    if cond.op in ("is empty", "is not empty") and not is_list:
        raise RuleValidationError(
            f"'{cond.tag}' holds one value ({vtype}); '{cond.op}' is for multi-valued tags",
            where=text,
            hint=f"use {cond.tag} is {'not ' if cond.op == 'is not empty' else ''}null",
        )
    if is_list and cond.op not in (
        "contains any",
        "contains all",
        "is null",
        "is not null",
        "is empty",
        "is not empty",
    ):
        raise RuleValidationError(
            f"'{cond.tag}' holds several values; compare it with 'contains any' or 'contains all'",
            where=text,
            hint=f'e.g. {cond.tag} contains any ("a", "b"), or size({cond.tag}) >= 2',
        )
    if cond.op in ("is null", "is not null", "is empty", "is not empty"):
        return
    if any(isinstance(v, AsOf) for v in values) and vtype not in TEMPORAL:
        raise RuleValidationError(
            f"as_of is a date, and '{cond.tag}' is {vtype}",
            where=text,
            hint="compare dates and timestamps with as_of: registered_at >= as_of - 90d",
        )
    literals = [v for v in values if not isinstance(v, AsOf)]
    for value in literals:
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
        for value in literals:
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
        for value in literals:
            if isinstance(value, str) and value not in known:
                raise RuleValidationError(
                    f"'{cond.tag}' has no value {clip(repr(value), 60)}",
                    where=text,
                    hint=suggest(value, known) or "see portrait tags show " + cond.tag,
                )


def _side_type(
    side: Expression, tag_types: Mapping[str, str], other: ExpressionType | None
) -> ExpressionType:
    """A side's type; a text literal facing a date or timestamp is read as one."""
    kind = expression_type(side, tag_types)
    if kind == "text" and isinstance(side, str) and other in TEMPORAL_KINDS:
        assert other is not None
        try:
            temporal_value(side, other)
        except ValueError as exc:
            raise ExpressionTypeError(str(exc), hint='write dates as "2026-10-01"') from None
        return other
    return kind


def _check_comparison(cond: Comparison, tag_types: Mapping[str, str]) -> None:
    from portrait.rules.printer import print_rule

    text = clip(print_rule(cond))
    for name in sorted(cond.tags):
        if name not in tag_types:
            raise RuleValidationError(
                f"unknown tag '{clip(name, 60)}'",
                where=text,
                hint=suggest(name, tag_types) or "see portrait tags list",
            )
    try:
        left = expression_type(cond.left, tag_types)
        for side in cond.sides[1:]:
            right = _side_type(side, tag_types, left)
            left_kind = _side_type(cond.left, tag_types, right)
            problem = comparable(left_kind, right, "<=" if cond.op == "between" else cond.op)
            if problem:
                raise ExpressionTypeError(
                    f"{describe(cond.left, tag_types)} and {describe(side, tag_types)}: {problem}",
                    hint="compare numbers with numbers, dates and timestamps with each other "
                    "(as_of - 30d, registered_at + 7d), text with text",
                )
    except ExpressionTypeError as exc:
        raise RuleValidationError(str(exc), where=text, hint=exc.hint) from None


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
    text: str | None = None,
) -> None:
    """Raise :class:`RuleValidationError` for the first leaf that does not fit.

    ``tag_types``: tag → value type; ``tag_values``: known values of categorical tags (checked
    when given); ``events``: known event names; ``properties``: event columns → value type;
    ``text``: the rule as written, so the error can point at the condition's line and column.
    """
    for leaf in rule_leaves(rule):
        try:
            _check_leaf(leaf, tag_types, tag_values, events, business_lines, properties)
        except RuleValidationError as exc:
            raise _positioned(exc, text, leaf) from None


def _positioned(exc: RuleValidationError, text: str | None, leaf: Leaf) -> RuleValidationError:
    """``exc`` pointing at ``leaf``'s line and column in ``text``, with a caret."""
    found = locate(text, leaf) if text else None
    if text is None or found is None:
        return exc
    line, column = found
    return RuleValidationError(
        f"{exc.message}\n{context(text, line, column).rstrip()}",
        where=f"rule, line {line}, column {column}",
        hint=exc.hint,
        line=line,
        column=column,
    )


def _check_leaf(
    leaf: Leaf,
    tag_types: Mapping[str, str],
    tag_values: Mapping[str, Iterable[str]] | None,
    events: Iterable[str] | None,
    business_lines: Iterable[str] | None,
    properties: Mapping[str, str] | None,
) -> None:
    if isinstance(leaf, Comparison):
        _check_comparison(leaf, tag_types)
        return
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
