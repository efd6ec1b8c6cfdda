"""``ws.audiences``: rules checked for a caller, counted and selected; the same rules as SQL;
audiences exported and sampled. Saved segments as callers see and change them are
``ws.audiences.segments`` (:mod:`portrait.workspace.segments`)."""

from __future__ import annotations

import os
import time
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from portrait.audience.audience import Audience
from portrait.errors import NotFoundError
from portrait.index.profile_index import index_kind
from portrait.model.access import Caller
from portrait.model.rules import BehaviourCondition, Rule
from portrait.rules import parse_rule
from portrait.rules.validate import rule_tags, validate_rule
from portrait.workspace.builder import BuilderService
from portrait.workspace.segments import SegmentService

if TYPE_CHECKING:
    import pyarrow as pa
    from pyroaring import AbstractBitMap

    from portrait.audience.selector import RuleFacts, Selector
    from portrait.compile.rules import RuleSQL
    from portrait.workspace.root import Workspace

AudienceSpec = str | Rule | Audience
"""An audience as callers name it: a saved segment's name, a rule (text or model), or an
:class:`Audience` already selected."""


class AudienceService:
    def __init__(self, ws: Workspace):
        self._ws = ws

    @cached_property
    def segments(self) -> SegmentService:
        """Saved segments as callers see them (sizes released, rules masked) and change them
        (audited)."""
        return SegmentService(self._ws)

    @cached_property
    def builder(self) -> BuilderService:
        """What an interactive rule builder needs: counts of a rule tree and of each of its
        nodes, text to tree, and the pickers' vocabulary."""
        return BuilderService(self._ws)

    # -- rules -------------------------------------------------------------------------------
    def check_rule(self, rule: str | Rule, caller: Caller | None = None) -> Rule:
        """Parse (if text) and check a rule against the catalog of the live profile: tags,
        values, types, events, business lines and event properties; and against what the
        caller's role may ask (:meth:`AccessService.check_rule`). Returns the rule.

        A rule that passed once is not checked again on the same profile version.
        """
        return self._check(rule, self._ws.who(caller), self._ws.selector()).rule

    def _check(self, rule: str | Rule, caller: Caller, selector: Selector) -> RuleFacts:
        """:meth:`check_rule` on ``selector``'s version, giving the rule's facts (worked out
        once per rule: the same text parses to the same rule object)."""
        from portrait.audience.selector import rule_facts

        ws = self._ws
        facts = rule_facts(parse_rule(rule) if isinstance(rule, str) else rule)
        parsed = facts.rule
        ws.access.check_facts(facts, caller)
        if facts.key in selector.checked:
            return facts
        index = selector.profile.index
        types = {n: m.type for n, m in selector.profile.tags.items()}
        pii = ws.catalog.pii_tags()
        values: dict[str, list[str]] = {}
        for name in facts.tags:
            # suggestions never draw on personal data
            if name in types and name not in pii and index_kind(types[name]) == "values":
                value_index = index.values(name)
                if not value_index.sparse:
                    values[name] = value_index.values
        rollup = selector.profile.rollup
        validate_rule(
            parsed,
            types,
            tag_values=values,
            events=rollup.events if rollup else None,
            business_lines=rollup.business_lines if rollup else None,
            properties=ws.built_warehouse().schema().get("events"),
            text=rule if isinstance(rule, str) else None,
        )
        selector.checked.add(facts.key)
        return facts

    def is_segment(self, spec: object) -> bool:
        """Whether ``spec`` names a saved segment (else it is a rule, or an audience)."""
        return (
            isinstance(spec, str) and self._ws.has_metadata() and spec.strip() in self._ws.segments
        )

    def own_tags(self, spec: AudienceSpec) -> set[str]:
        """The tags a rule reads (none for a segment's name or an audience)."""
        if isinstance(spec, Audience) or self.is_segment(spec):
            return set()
        return rule_tags(parse_rule(spec) if isinstance(spec, str) else spec)

    def circular_tags(self, spec: AudienceSpec) -> dict[str, str]:
        """The tags computed from the same data as the audience's own conditions, with why
        (:mod:`portrait.analysis.circularity`): a segment is followed to its rule, a rule's
        segment references too; an audience given as members has none."""
        from portrait.analysis.circularity import circular_tags

        if isinstance(spec, Audience):
            return {}
        ws = self._ws
        if self.is_segment(spec):
            assert isinstance(spec, str)
            spec = f'segment("{spec.strip()}")'
        rule = parse_rule(spec) if isinstance(spec, str) else spec

        def segment_rule(name: str) -> Rule | None:
            if not (ws.has_metadata() and name in ws.segments):
                return None
            return parse_rule(str(ws.segments[name].to_dict()["rule"]))

        as_of = ws.built.as_of
        return circular_tags(rule, ws.catalog.tags.definitions, segment_rule, as_of)

    def members(self, spec: AudienceSpec, caller: Caller | None = None) -> Audience:
        """The members an analysis reads (its answer goes through disclosure control): a
        saved segment's (by name), a rule's (checked for ``caller``), or the audience."""
        if isinstance(spec, Audience):
            return spec
        ws = self._ws
        if self.is_segment(spec):
            assert isinstance(spec, str)
            profile = ws.selector().profile
            return Audience(
                ws.segments.members(spec.strip()),
                profile.profile_file,
                profile.population,
                ws.catalog.pii_tags,
            )
        if isinstance(spec, str) and spec.strip().isidentifier():  # a name, not a rule
            from portrait.audience.selector import no_such_segment

            raise no_such_segment(spec.strip(), ws.metadata)
        return self._select(self.check_rule(spec, ws.who(caller)))

    # -- counting and selecting --------------------------------------------------------------
    def select(
        self, rule: str | Rule, *, cache: bool = True, caller: Caller | None = None
    ) -> Audience:
        """The users a rule selects now, from the bitmap index. Results are cached by (rule,
        data version, segment/ID-list changes); ``cache=False`` evaluates afresh. Members
        are user-level data: the caller needs ``users:read`` (analyst and above).

        Example: ``ws.select('city in ("北京", "上海") and events("search", last="7d") > 3')``.
        """
        who = self._ws.access.require(caller, "users:read", "the members of an audience")
        return self._select(self.check_rule(rule, who), cache=cache)

    def _select(self, parsed: Rule, *, cache: bool = True) -> Audience:
        selector = self._ws.selector()
        members = selector.evaluate(parsed, cache=cache)
        profile = selector.profile
        return Audience(
            members, profile.profile_file, profile.population, self._ws.catalog.pii_tags
        )

    def audience(self, spec: AudienceSpec, caller: Caller | None = None) -> Audience:
        """An audience from a saved segment's name, a rule (text or model) or an Audience.
        Members are user-level data: the caller needs ``users:read``."""
        who = self._ws.access.require(caller, "users:read", "the members of an audience")
        return self.members(spec, who)

    def count(
        self, rule: str | Rule, *, cache: bool = True, caller: Caller | None = None
    ) -> dict[str, Any]:
        """Size of a rule's audience: size, share of all users, seconds taken, as-of date.

        A caller under disclosure control (the viewer role) gets a noisy size, ``None`` (and
        ``suppressed: true``) below ``privacy.min_count``, and a ``privacy`` note."""
        from portrait.access import releases
        from portrait.access.disclosure import ratio

        ws = self._ws
        who = ws.who(caller)
        started = time.perf_counter()
        selector = ws.selector()  # one version for the check, the members and the answer
        facts = self._check(rule, who, selector)
        disclosure = ws.access.disclosure
        if cache or disclosure.controlled(who):  # a controlled size is keyed by the members
            size = releases.count(disclosure, who, selector.evaluate(facts.rule, cache=cache))
        else:
            size = selector.count(facts.rule)
        profile = selector.profile
        population = profile.population
        privacy = ws.access.privacy(who)
        result: dict[str, Any] = {
            "rule": facts.text,
            "size": size,
            "population": population,
            "share": ratio(size, population),
            "seconds": time.perf_counter() - started,
            "as_of": profile.as_of.isoformat() if profile.as_of else None,
            "profile_version": profile.version,
        }
        if privacy is not None:
            result.update(suppressed=size is None, privacy=privacy)
        return result

    # -- the same rules as SQL ---------------------------------------------------------------
    def _sql_context(self, behaviour_source: str = "rollup") -> RuleSQL:
        from portrait.compile.rules import RuleSQL

        snap = self._ws.built
        return RuleSQL(
            tag_types=snap.manifest.tag_types(),
            as_of=snap.as_of,
            behaviour_source="events" if behaviour_source == "events" else "rollup",
        )

    def rule_sql(self, rule: str | Rule, dialect: str = "duckdb") -> str:
        """The SQL selecting a rule's users from the profile and rollup tables, in ``dialect``."""
        from portrait.compile.rules import rule_query
        from portrait.compile.tags import check_dialect

        check_dialect(dialect)
        parsed = self.check_rule(rule)
        return rule_query(parsed, self._sql_context()).sql(dialect=dialect, pretty=True)

    def _sql_members(self, rule: Rule, behaviour_source: str) -> AbstractBitMap:
        from portrait.audience.sqlpath import SqlInputs, evaluate_sql
        from portrait.profile.versions import GROUPS_FILE

        ws = self._ws
        snap = ws.built
        rollup = snap.manifest.rollup
        inputs = SqlInputs(
            profile_file=snap.profile_file,
            rollup_file=snap.rollup_file,
            rollup_groups_file=(
                snap.rollup_file.with_name(GROUPS_FILE) if snap.rollup_file else None
            ),
            rollup_sums=list(rollup.sums if rollup else []),
            events_files=ws.built_warehouse().files("events"),
        )
        selector = ws.selector()
        with ws.engine() as engine:
            return evaluate_sql(
                rule,
                self._sql_context(behaviour_source),
                inputs,
                engine,
                selector.segment_members,
                selector.id_list_members,
                selector.campaign_members,
            )

    def events_sql(self, cond: BehaviourCondition) -> AbstractBitMap:
        """A behaviour condition the rollup cannot answer, run over the raw events."""
        return self._sql_members(cond, "events")

    def select_sql(self, rule: str | Rule, *, behaviour_source: str = "rollup") -> Audience:
        """The same as :meth:`select`, computed by the SQL engine from the Parquet files
        (behaviour from the rollup table, or from the raw events with ``"events"``)."""
        parsed = self.check_rule(rule)
        members = self._sql_members(parsed, behaviour_source)
        snap = self._ws.built
        return Audience(members, snap.profile_file, snap.users, self._ws.catalog.pii_tags)

    # -- members as rows ---------------------------------------------------------------------
    def check_columns(self, columns: list[str] | None) -> list[str]:
        """``columns`` (none: ``[]``), each a built tag."""
        snap = self._ws.built
        names = list(columns or [])
        unknown = [c for c in names if c not in snap.tags]
        if unknown:
            raise NotFoundError(
                f"no built tag named '{unknown[0]}'", hint="see 'portrait tags list'"
            )
        return names

    def export(
        self,
        audience: Audience | str,
        output: str | os.PathLike[str],
        columns: list[str] | None = None,
        *,
        unmask: bool = False,
        caller: Caller | None = None,
    ) -> int:
        """Stream an audience (or a segment, by name) to .csv/.parquet: ``user_id`` and the
        given tag columns, PII masked unless ``unmask``. Returns rows written; audited."""
        from portrait.audience.export import export_members, output_format

        ws = self._ws
        who = ws.access.user_level(caller, unmask, "an audience's members")
        names = self.check_columns(columns)
        out = Path(output)
        output_format(out)
        members = ws.segments.members(audience) if isinstance(audience, str) else audience.bitmap
        rows = export_members(
            ws.built.profile_file, members, out, names, ws.access.masker(names, unmask)
        )
        target = audience if isinstance(audience, str) else "audience"
        ws.access.record(who, "segment:export" + (":unmasked" if unmask else ""), target, rows)
        return rows

    def sample(
        self,
        segment: str,
        n: int,
        *,
        seed: int = 0,
        columns: list[str] | None = None,
        unmask: bool = False,
        caller: Caller | None = None,
    ) -> pa.Table:
        """``n`` random members of a segment (the same for the same seed), with tag columns;
        audited."""
        from portrait.index.rows import take_rows

        ws = self._ws
        who = ws.access.user_level(caller, unmask, "a segment's members")
        names = self.check_columns(columns)
        uids = ws.segments.sample(segment, n, seed)
        table = take_rows(ws.built.profile_file, uids, ["user_id", *names])
        ws.access.record(
            who, "segment:sample" + (":unmasked" if unmask else ""), segment, table.num_rows
        )
        return ws.access.masker(names, unmask)(table)
