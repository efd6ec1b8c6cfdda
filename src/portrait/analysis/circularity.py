"""Circular tags: the tags an audience is trivially distinguished by, because they are
computed from the same data as the audience's own conditions.

An analysis that explains a target (distinctive features, feature ranking, subgroups) learns
nothing from a tag the target's rule already decides: ``age < 30 and active_days(last="30d")
>= 5`` is "distinguished" by ``age``, by ``age_band`` (a bucket of age), by
``active_days_30d`` and ``events_7d`` (the same events counted) and by ``activity_level``
(derived from ``active_days_30d``). A tag is **circular** for a rule when:

1. the rule reads it (a tag condition or a comparison), or a segment the rule refers to does
   (followed to its own rule, any depth);
2. it is a ``metric`` tag over events whose filters can match the events a behaviour condition
   of the rule counts: neither filters the event name or both allow the same one, and the same
   for the business line (windows always overlap: both end on the as-of date);
3. it is a ``preference`` tag over events whose property is one the behaviour condition
   filters on (``event``, ``business_line`` or a ``where`` key): being active in a line makes
   that line a preference;
4. it is a ``metric``, ``rfm`` or ``preference`` tag over the same table as a windowed tag
   the rule reads, with filters that can match the same rows (``orders_365d >= 1`` decides
   ``spend_365d``, the RFM scores and ``preferred_items``: users without orders have none);
5. it is a ``persona`` tag clustering some of the tags a persona tag the rule reads clusters
   (``lp = "P1"`` is trivially told apart by another clustering of the same features);
6. a tag the rule reads is computed from it (``age_band = "25-30"`` decides ``age``;
   ``value_tier = "未购买"`` decides ``orders_365d`` and ``spend_365d``, and so, by 4, every
   tag over orders), any depth; not the features of a persona tag, which are what its cards
   describe it by;
7. it is computed from a circular tag (a bucket of it, a derived tag reading it, any depth).

:func:`circular_tags` returns each circular tag with the reason, written for the report.

Every tag's window ends on the as-of date, so a behaviour condition whose window starts after
it (an **outcome**: ``events("order", start=as_of + 1d, end=as_of + 30d) >= 1``) shares no
events with any tag: past orders are what such a target is to be told apart by, not a
tautology.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from portrait.model.rules import BehaviourCondition, Comparison, Rule, SegmentRef, TagCondition
from portrait.model.tags import AnyTag, MetricTag, PersonaTag, PreferenceTag, RfmTag
from portrait.rules import print_rule
from portrait.rules.validate import rule_leaves as leaves


class Definitions(Protocol):
    """What is needed of the tag definitions (a :class:`portrait.model.tags.TagSet`)."""

    def __getitem__(self, name: str) -> AnyTag: ...

    def __iter__(self) -> Any: ...

    def tag_dependencies(self, name: str) -> frozenset[str]: ...


def _allowed(condition: Any) -> set[str] | None:
    """The values a tag's ``where`` condition on one column allows (None: any, or a
    condition too complex to tell, which then counts as allowing the value)."""
    if isinstance(condition, str | int | float | bool):
        return {str(condition)}
    if isinstance(condition, list):
        return {str(v) for v in condition}
    if isinstance(condition, Mapping):
        for op in ("in", "="):
            if op in condition:
                found = condition[op]
                return {str(v) for v in found} if isinstance(found, list) else {str(found)}
    return None


def _matches(tag_where: Mapping[str, Any], column: str, wanted: str | None) -> bool:
    """Whether a tag's filter on ``column`` can hold events with the value ``wanted`` (None:
    the condition does not filter that column)."""
    if wanted is None or column not in tag_where:
        return True
    allowed = _allowed(tag_where[column])
    return allowed is None or wanted in allowed


def _overlaps(
    tag: MetricTag | PreferenceTag, condition: BehaviourCondition, as_of: dt.date | None
) -> bool:
    """Whether the days of ``condition``'s window meet those of ``tag``'s (which ends on the
    as-of date); True when that cannot be told (no as-of date)."""
    if as_of is None:
        return True
    try:
        start, end = condition.window.days(as_of)
    except ValueError:
        return True
    days = tag.window_days
    return start <= as_of and (days is None or end > as_of - dt.timedelta(days=days))


def _shares_events(tag: AnyTag, condition: BehaviourCondition, as_of: dt.date | None) -> str | None:
    """Why ``tag`` counts the events ``condition`` counts (None when it does not)."""
    if not isinstance(tag, MetricTag | PreferenceTag) or not _overlaps(tag, condition, as_of):
        return None
    if (
        isinstance(tag, MetricTag)
        and tag.from_ == "events"
        and _matches(tag.where, "event", condition.event)
        and _matches(tag.where, "business_line", condition.business_line)
    ):
        return f"counts the events {print_rule(condition)} counts"
    if isinstance(tag, PreferenceTag) and tag.from_ == "events":
        filtered = {"event": condition.event, "business_line": condition.business_line}
        filtered.update({k: str(v) for k, v in condition.where.items()})
        if filtered.get(tag.property_name) is not None:
            return f"prefers the {tag.property_name} {print_rule(condition)} selects"
    return None


def _names(definitions: Definitions) -> set[str]:
    return set(definitions)


def _same_rows(tag: AnyTag, source: MetricTag | RfmTag | PreferenceTag) -> bool:
    """Whether ``tag`` aggregates rows of the table ``source`` aggregates, with filters that
    can match the same rows (an equality filter on a column both filter must agree)."""
    if not isinstance(tag, MetricTag | RfmTag | PreferenceTag) or tag.from_ != source.from_:
        return False
    for column in set(tag.where) & set(source.where):
        mine, theirs = _allowed(tag.where[column]), _allowed(source.where[column])
        if mine is not None and theirs is not None and not mine & theirs:
            return False
    return True


def read_by(
    rule: Rule | None, segment_rule: Callable[[str], Rule | None]
) -> tuple[set[str], list[BehaviourCondition]]:
    """The tags a rule reads and its behaviour conditions, following segment references to
    their rules (``segment_rule``: a segment's rule, None for one without)."""
    tags: set[str] = set()
    behaviour: list[BehaviourCondition] = []
    seen: set[str] = set()
    pending = [] if rule is None else [rule]
    while pending:
        for leaf in leaves(pending.pop()):
            if isinstance(leaf, TagCondition):
                tags.add(leaf.tag)
            elif isinstance(leaf, Comparison):
                tags |= leaf.tags
            elif isinstance(leaf, BehaviourCondition):
                behaviour.append(leaf)
            elif isinstance(leaf, SegmentRef) and leaf.name not in seen:
                seen.add(leaf.name)
                found = segment_rule(leaf.name)
                if found is not None:
                    pending.append(found)
    return tags, behaviour


def circular_tags(
    rule: Rule | None,
    definitions: Definitions,
    segment_rule: Callable[[str], Rule | None] = lambda name: None,
    as_of: dt.date | None = None,
) -> dict[str, str]:
    """Every tag circular for ``rule`` (see the module docstring), with its reason;
    ``as_of`` is the date the tags' windows end on (None: every window counts as
    overlapping)."""
    read, behaviour = read_by(rule, segment_rule)
    names = list(definitions)
    reasons: dict[str, str] = dict.fromkeys(read, "the rule reads it")
    pending = [t for t in read if t in _names(definitions)]
    while pending:  # what the tags the rule reads are computed from
        name = pending.pop()
        if isinstance(definitions[name], PersonaTag):
            continue
        for computed_from in sorted(definitions.tag_dependencies(name)):
            if computed_from not in reasons:
                reasons[computed_from] = f"{name} is computed from it"
                pending.append(computed_from)
    sources = [t for t in reasons if t not in read]
    for name in names:
        if name in reasons:
            continue
        for condition in behaviour:
            why = _shares_events(definitions[name], condition, as_of)
            if why:
                reasons[name] = why
                break
    for source in [definitions[t] for t in [*read, *sources] if t in _names(definitions)]:
        if not isinstance(source, MetricTag | RfmTag | PreferenceTag):
            continue
        for name in names:
            if name not in reasons and _same_rows(definitions[name], source):
                reasons[name] = f"computed from the same {source.from_} as {source.name}"
    personas = [definitions[t] for t in read if t in _names(definitions)]
    for read_persona in personas:
        if not isinstance(read_persona, PersonaTag):
            continue
        for name in names:
            other = definitions[name]
            if (
                name not in reasons
                and isinstance(other, PersonaTag)
                and set(other.features) & set(read_persona.features)
            ):
                reasons[name] = f"clusters the same tags as {read_persona.name}"
    changed = True
    while changed:  # computed from a circular tag, any depth
        changed = False
        for name in names:
            if name in reasons:
                continue
            sources = sorted(definitions.tag_dependencies(name) & reasons.keys())
            if sources:
                reasons[name] = f"computed from {sources[0]}"
                changed = True
    return reasons


def after_as_of(rule: Rule | None, as_of: dt.date | None) -> list[BehaviourCondition]:
    """The behaviour conditions of ``rule`` (not followed into segments) whose window starts
    after the as-of date: outcomes, which have members only when the data goes on past it."""
    if rule is None or as_of is None:
        return []
    found = []
    for leaf in leaves(rule):
        if isinstance(leaf, BehaviourCondition):
            try:
                start, _ = leaf.window.days(as_of)
            except ValueError:
                continue
            if start > as_of:
                found.append(leaf)
    return found
