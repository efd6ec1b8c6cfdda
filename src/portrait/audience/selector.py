"""Evaluate rules against one built profile version, with segment and ID-list references
resolved from the metadata database and results cached by (rule, data version)."""

from __future__ import annotations

import datetime as dt
import json
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pyroaring import BitMap, FrozenBitMap

from portrait.audience.evaluate import Sources, evaluate_rule
from portrait.errors import NotFoundError, SegmentCycleError
from portrait.index.profile_index import ProfileIndex
from portrait.index.rollup import RollupIndex
from portrait.model.rules import BehaviourCondition, Rule, RuleDocument
from portrait.rules.validate import rule_references, suggest
from portrait.store.metadata import MetadataStore

CACHE_SIZE = 128


@dataclass(frozen=True)
class BuiltProfile:
    """What evaluation reads of one profile version."""

    version: str
    profile_file: Path
    index: ProfileIndex
    rollup: RollupIndex | None
    as_of: dt.date | None

    @property
    def population(self) -> int:
        return self.index.n_users


def rule_key(rule: Rule) -> str:
    return json.dumps(RuleDocument(rule=rule).model_dump(mode="json"), sort_keys=True)


class Selector:
    """Rules → members (frozen bitmaps) on one profile version."""

    def __init__(
        self,
        profile: BuiltProfile,
        store: MetadataStore,
        events_sql: Callable[[BehaviourCondition], BitMap] | None = None,
    ):
        self.profile = profile
        self.store = store
        self.events_sql = events_sql
        self._cache: OrderedDict[tuple[str, int], FrozenBitMap] = OrderedDict()

    def evaluate(self, rule: Rule, *, resolving: tuple[str, ...] = ()) -> FrozenBitMap:
        """Members of ``rule`` now. ``resolving``: segments being resolved (cycle guard)."""
        refs = rule_references(rule)
        generation = self.store.generation() if refs["segment"] or refs["ids"] else 0
        key = (rule_key(rule), generation)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        sources = Sources(
            rollup=self.profile.rollup,
            as_of=self.profile.as_of,
            segment=lambda name: self.segment_members(name, resolving=resolving),
            id_list=self.id_list_members,
            events_sql=self.events_sql,
        )
        result = FrozenBitMap(evaluate_rule(rule, self.profile.index, sources))
        self._cache[key] = result
        if len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return result

    def id_list_members(self, name: str) -> BitMap:
        row = self.store.id_list(name)
        if row is None:
            raise NotFoundError(
                f"no ID list named '{name}'",
                hint=suggest(name, self.store.id_list_names()) or "upload one: portrait ids upload",
            )
        return BitMap.deserialize(row["members"])

    def segment_members(self, name: str, *, resolving: tuple[str, ...] = ()) -> BitMap:
        """A segment's members: frozen ones for a static segment; for a dynamic one, its
        snapshot of this profile version, else its rule evaluated now."""
        if name in resolving:
            chain = " → ".join((*resolving, name))
            raise SegmentCycleError(f"segments reference each other in a circle: {chain}")
        row = self.store.segment(name)
        if row is None:
            names = [s["name"] for s in self.store.segments()]
            raise NotFoundError(
                f"no segment named '{name}'",
                hint=suggest(name, names) or "see portrait segment list",
            )
        snapshot = self.store.latest_snapshot(name)
        if snapshot is not None and (
            row["mode"] == "static" or snapshot["profile_version"] == self.profile.version
        ):
            return BitMap.deserialize(snapshot["members"])
        rule = RuleDocument.model_validate_json(row["rule"]).rule
        return BitMap(self.evaluate(rule, resolving=(*resolving, name)))
