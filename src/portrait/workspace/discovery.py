"""``ws.discovery``: finding customer groups beyond hand-written rules — feature ranking (选特征),
niche groups from feature combinations (利基客群) and subgroup discovery — every number
released for its caller as insight releases it (:mod:`portrait.access.releases`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from portrait.model.access import Caller

if TYPE_CHECKING:
    from portrait.analysis.ranking import Ranking, TagFacts
    from portrait.audience.audience import Audience
    from portrait.workspace.audiences import AudienceSpec
    from portrait.workspace.root import Workspace


class DiscoveryService:
    def __init__(self, ws: Workspace):
        self._ws = ws

    # -- shared ------------------------------------------------------------------------------
    def tag_facts(self, tags: Sequence[str]) -> dict[str, TagFacts]:
        """Title and kind (numeric, categorical, multi-valued) of built tags."""
        from portrait.analysis.counting import NUMERIC_BINS
        from portrait.analysis.ranking import TagFacts
        from portrait.index.profile_index import index_kind
        from portrait.index.ranges import RangeIndex

        profile = self._ws.selector().profile
        definitions = self._ws.catalog.tags.definitions
        facts = {}
        for tag in tags:
            value_type = profile.tags[tag].type
            title = definitions[tag].title if tag in definitions else ""
            if index_kind(value_type) == "range":
                index = profile.index.tag(tag)
                exact = isinstance(index, RangeIndex) and (
                    index.exact and index.breakpoints.size <= NUMERIC_BINS
                )
                facts[tag] = TagFacts(title or tag, "numeric", value_type, exact)
            elif value_type.startswith("list"):
                facts[tag] = TagFacts(title or tag, "multi", value_type)
            else:
                facts[tag] = TagFacts(title or tag, "categorical", value_type)
        return facts

    def _within(
        self, target: AudienceSpec, baseline: AudienceSpec | None, who: Caller
    ) -> tuple[Audience, str]:
        """The target's members inside the universe (a baseline audience, or every user)."""
        from portrait.audience.audience import Audience

        ws = self._ws
        members = ws.audiences.members(target, who)
        if baseline is None:
            return members, "population"
        base = ws.audiences.members(baseline, who)
        name = baseline if isinstance(baseline, str) else "baseline"
        inside = members.bitmap & base.bitmap
        profile = ws.selector().profile
        return Audience(inside, profile.profile_file, profile.population, ws.catalog.pii_tags), name

    # -- feature ranking ---------------------------------------------------------------------
    def rank(
        self,
        target: AudienceSpec,
        *,
        baseline: AudienceSpec | None = None,
        tags: list[str] | None = None,
        by: str = "mutual_info",
        include_circular: bool = False,
        min_count: int = 30,
        caller: Caller | None = None,
    ) -> Ranking:
        """Rank every tag (or ``tags``) by how much it tells the target (segment name, rule or
        Audience) apart from the rest of the universe (``baseline``, default every user):
        mutual information, Cramér's V, Spearman / point-biserial correlation, coverage,
        balance and direction (:mod:`portrait.analysis.ranking`). Tags computed from the same
        data as the target's own conditions are left out (listed in ``left_out`` with why)
        unless ``include_circular`` (then flagged ``circular``).

        Example: ``ws.discovery.rank('age < 30 and active_days(last="30d") >= 5').rows[0]``.
        """
        import numpy as np

        from portrait.analysis import ranking
        from portrait.analysis.ranking import Moments
        from portrait.errors import InputError

        ws = self._ws
        who = ws.who(caller)
        if by not in ranking.RANK_BY:
            raise InputError(
                f"cannot rank by '{by}'", where="--by", hint="one of " + ", ".join(ranking.RANK_BY)
            )
        circular = ws.audiences.circular_tags(target)
        chosen = ws.insights.comparable_tags(tags, who)
        left_out = {} if include_circular else {t: circular[t] for t in chosen if t in circular}
        chosen = [t for t in chosen if t not in left_out]
        if not chosen:
            raise InputError(
                "no tag left to rank: every tag asked for is computed from the target's own "
                "conditions",
                where="--tags",
                hint="name other tags, or pass --include-circular",
            )
        inside, universe = self._within(target, baseline, who)
        report = ws.insights.insight(
            inside,
            baseline=baseline,
            tags=chosen,
            include_missing=True,
            min_count=min_count,
            caller=who,
        )
        facts = self.tag_facts(chosen)
        exact: dict[str, float | None] = {}
        if not ws.access.disclosure.controlled(who) and report.target_size:
            profile = ws.selector().profile
            members = np.asarray(inside.bitmap.to_array(), dtype=np.int64)
            base_bitmap = None if baseline is None else ws.audiences.members(baseline, who).bitmap
            base = None if base_bitmap is None else np.asarray(base_bitmap.to_array())
            for tag, fact in facts.items():
                if fact.kind != "numeric":
                    continue
                index = profile.index.range(tag)
                column = profile.index.column(tag)
                shift = float(index.breakpoints[index.breakpoints.size // 2])
                missing = index.missing
                u_missing = (
                    len(missing)
                    if base_bitmap is None
                    else missing.intersection_cardinality(base_bitmap)
                )
                u = Moments.of(column, u_missing, shift, base)
                t = Moments.of(
                    column, missing.intersection_cardinality(inside.bitmap), shift, members
                )
                exact[tag] = ranking.point_biserial(u, t)
        result = ranking.rank(
            report,
            facts,
            by=by,
            point_biserial=exact,
            circular={t: circular[t] for t in chosen if t in circular},
        )
        result.universe = universe
        result.left_out = left_out
        return result
