"""Evaluate rules against one built profile version, with segment and ID-list references
resolved from the metadata database and results cached by (rule, data version)."""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from pyroaring import AbstractBitMap, BitMap, FrozenBitMap

from portrait.audience.evaluate import Sources, count_rule, evaluate_rule
from portrait.errors import NotFoundError, SegmentCycleError, suggest
from portrait.index.bitmaps import bitmap_from_sorted
from portrait.index.profile_index import ProfileIndex
from portrait.index.rollup import RollupIndex
from portrait.model.manifests import BuiltTag
from portrait.model.rules import BehaviourCondition, Rule, RuleDocument, RuleSize, rule_size
from portrait.rules import print_rule
from portrait.rules.validate import rule_references, rule_tags

if TYPE_CHECKING:
    from portrait.store.metadata import MetadataStore

CACHE_SIZE = 128


@dataclass(frozen=True)
class BuiltProfile:
    """What evaluation reads of one profile version."""

    version: str
    tags: Mapping[str, BuiltTag]  # built tags in profile column order
    profile_file: Path
    index: ProfileIndex
    rollup: RollupIndex | None
    as_of: dt.date | None

    @property
    def population(self) -> int:
        return self.index.n_users


def no_such_segment(name: str, store: MetadataStore) -> NotFoundError:
    """The error for a segment name that is not saved, with the nearest names."""
    names = [s["name"] for s in store.segments()]
    return NotFoundError(
        f"no segment named '{name}'", hint=suggest(name, names) or "see portrait segment list"
    )


def rule_key(rule: Rule) -> str:
    return json.dumps(RuleDocument(rule=rule).model_dump(mode="json"), sort_keys=True)


class RuleFacts:
    """What the counting path asks of a rule, each worked out once per rule object: its cache
    key, canonical text, size, tags and references. Rules are immutable, and parsing the same
    text gives the same object (:func:`portrait.rules.parse_rule` is cached), so a rule asked
    again costs a dictionary lookup instead of a JSON dump and a few tree walks."""

    def __init__(self, rule: Rule):
        self.rule = rule

    @functools.cached_property
    def key(self) -> str:
        return rule_key(self.rule)

    @functools.cached_property
    def text(self) -> str:
        return print_rule(self.rule)

    @functools.cached_property
    def size(self) -> RuleSize:
        return rule_size(self.rule)

    @functools.cached_property
    def tags(self) -> frozenset[str]:
        return frozenset(rule_tags(self.rule))

    @functools.cached_property
    def references(self) -> dict[str, frozenset[str]]:
        return {kind: frozenset(names) for kind, names in rule_references(self.rule).items()}


class _Same:
    """A rule keyed by identity (rules with list values are not hashable; the entry keeps the
    rule alive, so its id is not reused while cached)."""

    __slots__ = ("rule",)

    def __init__(self, rule: Rule):
        self.rule = rule

    def __hash__(self) -> int:
        return id(self.rule)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Same) and other.rule is self.rule


@functools.lru_cache(maxsize=512)
def _facts(same: _Same) -> RuleFacts:
    return RuleFacts(same.rule)


def rule_facts(rule: Rule) -> RuleFacts:
    """The :class:`RuleFacts` of ``rule`` (kept for the last 512 rule objects asked about)."""
    return _facts(_Same(rule))


class Selector:
    """Rules → members (frozen bitmaps) on one profile version."""

    def __init__(
        self,
        profile: BuiltProfile,
        store: Callable[[], MetadataStore],
        events_sql: Callable[[BehaviourCondition], AbstractBitMap] | None = None,
    ):
        self.profile = profile
        self._store = store  # opened on first use: rules without references never need it
        self.events_sql = events_sql
        self._cache: OrderedDict[tuple[str, int], FrozenBitMap] = OrderedDict()
        self._members: dict[tuple[str, str], tuple[int, AbstractBitMap]] = {}
        self._generation = 0
        self._every: tuple[int, dict[str, AbstractBitMap]] | None = None
        self.checked: set[str] = set()  # rule keys that passed validation on this version

    @property
    def store(self) -> MetadataStore:
        return self._store()

    def evaluate(
        self, rule: Rule, *, resolving: tuple[str, ...] = (), cache: bool = True
    ) -> FrozenBitMap:
        """Members of ``rule`` now. ``resolving``: segments being resolved (cycle guard);
        ``cache=False``: evaluate afresh (segment members are still reused while unchanged)."""
        facts = rule_facts(rule)
        refs = facts.references
        generation = 0
        if refs["segment"] or refs["ids"]:
            generation = self._generation = self.store.generation()
        if refs["campaign"]:
            cache = False  # deliveries and responses change without a generation bump
        key = (facts.key, generation)
        cached = self._cache.get(key) if cache else None
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        result = evaluate_rule(rule, self.profile.index, self._sources(resolving))
        if not isinstance(result, FrozenBitMap):  # index bitmaps are frozen: results mostly too
            result = FrozenBitMap(result)
        self._cache[key] = result
        if len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return result

    def remember(self, rule: Rule, members: AbstractBitMap) -> None:
        """Keep ``members`` as ``rule``'s result, as :meth:`evaluate` would have (a caller that
        has them already, such as the builder combining the results of a group's items)."""
        facts = rule_facts(rule)
        refs = facts.references
        if refs["campaign"]:
            return  # never cached (see evaluate)
        generation = 0
        if refs["segment"] or refs["ids"]:
            generation = self._generation = self.store.generation()
        frozen = members if isinstance(members, FrozenBitMap) else FrozenBitMap(members)
        self._cache[(facts.key, generation)] = frozen
        if len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)

    def count(self, rule: Rule) -> int:
        """How many users ``rule`` selects now, evaluated afresh: ``len(evaluate(rule,
        cache=False))`` without building the members where the rule allows
        (:func:`~portrait.audience.evaluate.count_rule`); nothing is cached."""
        refs = rule_facts(rule).references
        if refs["segment"] or refs["ids"]:
            self._generation = self.store.generation()
        return count_rule(rule, self.profile.index, self._sources(()))

    def _sources(self, resolving: tuple[str, ...]) -> Sources:
        return Sources(
            rollup=self.profile.rollup,
            as_of=self.profile.as_of,
            segment=lambda name: self.segment_members(name, resolving=resolving, fresh=False),
            id_list=lambda name: self.id_list_members(name, fresh=False),
            campaign=self.campaign_members,
            events_sql=self.events_sql,
        )

    def _remembered(self, kind: str, name: str) -> AbstractBitMap | None:
        """Members read earlier, while no segment or ID list has changed since."""
        entry = self._members.get((kind, name))
        return entry[1] if entry is not None and entry[0] == self._generation else None

    def _remember(self, kind: str, name: str, members: AbstractBitMap) -> AbstractBitMap:
        self._members[(kind, name)] = (self._generation, members)
        return members

    def campaign_members(self, name: str, outcome: str) -> AbstractBitMap:
        """Users of a campaign with an outcome, read from the delivery and response records."""
        if not self.store.campaign_exists(name):
            raise NotFoundError(
                f"no campaign named '{name}'",
                hint=suggest(name, self.store.campaign_names()) or "see 'portrait campaign list'",
            )
        return bitmap_from_sorted(
            np.asarray(self.store.campaign_members(name, outcome), dtype=np.uint32)
        )

    def id_list_members(self, name: str, *, fresh: bool = True) -> AbstractBitMap:
        """Members of an uploaded ID list (``fresh``: first see whether anything changed)."""
        if fresh:
            self._generation = self.store.generation()
        known = self._remembered("ids", name)
        if known is not None:
            return known
        row = self.store.id_list(name)
        if row is None:
            raise NotFoundError(
                f"no ID list named '{name}'",
                hint=suggest(name, self.store.id_list_names()) or "upload one: portrait ids upload",
            )
        return self._remember("ids", name, FrozenBitMap.deserialize(row["members"]))

    def segment_members(
        self, name: str, *, resolving: tuple[str, ...] = (), fresh: bool = True
    ) -> AbstractBitMap:
        """A segment's members: frozen ones for a static segment; for a dynamic one, its
        snapshot of this profile version, else its rule evaluated now."""
        if name in resolving:
            chain = " → ".join((*resolving, name))
            raise SegmentCycleError(f"segments reference each other in a circle: {chain}")
        if fresh:
            self._generation = self.store.generation()
        known = self._remembered("segment", name)
        if known is not None:
            return known
        row = self.store.segment(name)
        if row is None:
            raise no_such_segment(name, self.store)
        rule = RuleDocument.model_validate_json(row["rule"]).rule
        refs = rule_references(rule)
        snapshot = self.store.latest_snapshot(name)
        # A dynamic segment's snapshot of this version holds unless it refers to segments or
        # lists, which may have changed since: then its rule is evaluated (results are cached).
        if snapshot is not None and (
            row["mode"] == "static"
            or (
                snapshot["profile_version"] == self.profile.version
                and not (refs["segment"] or refs["ids"])
            )
        ):
            return self._remember("segment", name, FrozenBitMap.deserialize(snapshot["members"]))
        members = BitMap(self.evaluate(rule, resolving=(*resolving, name)))
        return self._remember("segment", name, members)

    def every_segment(self) -> dict[str, AbstractBitMap]:
        """Members of every saved segment, by name; one generation check while nothing
        changed (the per-user interfaces ask this on every request)."""
        generation = self.store.generation()
        if self._every is not None and self._every[0] == generation:
            return self._every[1]
        self._generation = generation
        names = [row["name"] for row in self.store.segments()]
        every = {name: self.segment_members(name, fresh=False) for name in names}
        self._every = (generation, every)
        return every
