"""``ws.discovery``: finding customer groups beyond hand-written rules — feature ranking (选特征),
niche groups from feature combinations (利基客群) and subgroup discovery — every number
released for its caller as insight releases it (:mod:`portrait.access.releases`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from portrait.model.access import Caller

if TYPE_CHECKING:
    from portrait.analysis.cells import Cell
    from portrait.analysis.niches import Cube
    from portrait.analysis.ranking import Ranking, TagFacts
    from portrait.audience.audience import Audience
    from portrait.workspace.audiences import AudienceSpec
    from portrait.workspace.root import Workspace


MIN_IMPROVEMENT = 0.05
"""A subgroup is reported only when its quality beats every reported subgroup made of some
of its conditions by this share: adding ``preferred_car_brands is null`` to a good subgroup
raises its quality a little and says nothing new."""


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

    def _compared(
        self,
        target: AudienceSpec,
        tags: list[str] | None,
        include_circular: bool,
        who: Caller,
        what: str,
    ) -> tuple[dict[str, str], list[str], dict[str, str]]:
        """The target's circular tags, the tags an analysis compares (``tags`` or every
        comparable one, less the circular ones unless ``include_circular``) and those left out
        with why; refused when none is left (``what`` the analysis does: rank, search)."""
        from portrait.errors import InputError

        ws = self._ws
        circular = ws.audiences.circular_tags(target)
        chosen = ws.insights.comparable_tags(tags, who)
        left_out = {} if include_circular else {t: circular[t] for t in chosen if t in circular}
        chosen = [t for t in chosen if t not in left_out]
        if not chosen:
            raise InputError(
                f"no tag left to {what}: every tag asked for is computed from the target's own "
                "conditions",
                where="--tags",
                hint="name other tags, or pass --include-circular",
            )
        return circular, chosen, left_out

    def _within(
        self, target: AudienceSpec, baseline: AudienceSpec | None, who: Caller
    ) -> tuple[Audience, str]:
        """The target's members inside the universe (a baseline audience, or every user)."""
        from portrait.audience.audience import Audience

        ws = self._ws
        self._no_outcome_yet(target)
        members = ws.audiences.members(target, who)
        if baseline is None:
            return members, "population"
        base = ws.audiences.members(baseline, who)
        name = baseline if isinstance(baseline, str) else "baseline"
        inside = members.bitmap & base.bitmap
        profile = ws.selector().profile
        return Audience(inside, profile.profile_file, profile.population, ws.catalog.pii_tags), name

    def _no_outcome_yet(self, target: AudienceSpec) -> None:
        """Refuse a target whose rule counts events after the as-of date when the events end
        on it (an outcome with no data yet), saying why. Decided from the data alone, not from
        the target's members: the same answer whoever the rule singles out."""
        from portrait.analysis.circularity import after_as_of
        from portrait.audience.audience import Audience
        from portrait.errors import InputError
        from portrait.rules import parse_rule

        ws = self._ws
        if isinstance(target, Audience) or ws.audiences.is_segment(target):
            return
        as_of = ws.built.as_of
        rule = parse_rule(target) if isinstance(target, str) else target
        if not after_as_of(rule, as_of):
            return
        rollup = ws.selector().profile.rollup
        if as_of is not None and rollup is not None and rollup.last_day <= as_of:
            raise InputError(
                f"the target counts events after the as-of date ({as_of}), and the events end "
                "there: there is nothing to count yet",
                where="target",
                hint="to explain an outcome, build the profile as of an earlier date: "
                'data.as_of = "YYYY-MM-DD" in portrait.toml (or PORTRAIT_DATA_AS_OF), then '
                "portrait build",
            )

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
        circular, chosen, left_out = self._compared(target, tags, include_circular, who, "rank")
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
                u = (
                    ranking.everyone_moments(index, column, u_missing, shift)
                    if base is None
                    else Moments.of(column, u_missing, shift, base)
                )
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

    def rank_metric(
        self,
        metric: str,
        *,
        baseline: AudienceSpec | None = None,
        tags: list[str] | None = None,
        by: str = "mutual_info",
        include_circular: bool = False,
        caller: Caller | None = None,
    ) -> Ranking:
        """Rank every tag (or ``tags``) by how much it says about a numeric tag ``metric``:
        the metric's users are split into its insight bins (at most 12, in order) and each
        tag is measured against those classes (:func:`portrait.analysis.ranking.rank_by_classes`:
        mutual information, Cramér's V, Spearman's ρ, coverage, balance). Tags computed from
        the same data as the metric are left out unless ``include_circular``. For roles with
        exact numbers only (the classes cut users by their own values)."""
        import numpy as np

        from portrait.analysis import ranking
        from portrait.analysis.counting import tag_counter
        from portrait.errors import AccessError, InputError
        from portrait.index.counting import Shape

        ws = self._ws
        who = ws.who(caller)
        if ws.access.disclosure.controlled(who):
            raise AccessError(
                "ranking against a number is for roles that see exact numbers",
                where="--metric",
                hint="rank against an audience instead (a rule on the metric, e.g. 'x >= 100')",
            )
        profile = ws.selector().profile
        self._numeric(metric, "rank against an audience instead: portrait rank 'RULE'")
        circular = ws.audiences.circular_tags(f"{metric} is not null")
        chosen = [t for t in ws.insights.comparable_tags(tags, who) if t != metric]
        left_out = {} if include_circular else {t: circular[t] for t in chosen if t in circular}
        chosen = [t for t in chosen if t not in left_out]
        if not chosen:
            raise InputError("no tag left to rank", where="--tags", hint="--include-circular")
        universe = ws.audiences.members(baseline, who).bitmap if baseline is not None else None
        classes = [
            c.members if universe is None else c.members & universe
            for c in self.cells(metric, max_values=None, include_missing=False, other=False)
        ]
        sizes = np.array([len(c) for c in classes], dtype=np.float64)
        if (sizes > 0).sum() < 2:
            raise InputError(
                f"'{metric}' has fewer than two values among these users: nothing to rank by",
                where="--metric",
            )
        shapes = [Shape.of(c) for c in classes]
        facts = self.tag_facts(chosen)
        tables = {}
        for tag in chosen:
            counter = tag_counter(profile.index.tag(tag), profile.tags[tag].type)
            counted = [counter.count(c, shape) for c, shape in zip(classes, shapes, strict=True)]
            tables[tag] = (
                list(counted[0].labels),
                np.array([c.counts for c in counted], dtype=np.float64),
                np.array([c.missing for c in counted], dtype=np.float64),
            )
        rows = ranking.rank_by_classes(tables, facts, sizes, by=by)
        for row in rows:
            if row["tag"] in circular:
                row["circular"] = circular[row["tag"]]
        result = ranking.Ranking(
            None,
            int(sizes.sum()),
            baseline if isinstance(baseline, str) else "population",
            by,
            rows=rows,
            left_out=left_out,
        )
        result.metric = metric
        return result

    # -- cells of tags -----------------------------------------------------------------------
    def cells(
        self,
        tag: str,
        *,
        max_values: int | None = 12,
        include_missing: bool = True,
        other: bool = True,
        min_size: int = 1,
    ) -> list[Cell]:
        """The cells of a built tag (:func:`portrait.analysis.cells.tag_cells`)."""
        from portrait.analysis.cells import tag_cells

        profile = self._ws.selector().profile
        return tag_cells(
            tag,
            profile.index.tag(tag),
            profile.tags[tag].type,
            max_values=max_values,
            include_missing=include_missing,
            other=other,
            min_size=min_size,
        )

    def _release(self, who: Caller, kind: str) -> Any:
        from portrait.access import releases

        disclosure = self._ws.access.disclosure
        if not disclosure.controlled(who):
            return None
        return lambda sets: releases.member_sets(disclosure, who, kind, sets)

    # -- niche groups ------------------------------------------------------------------------
    def niche(
        self,
        tags: list[str] | None = None,
        *,
        target: AudienceSpec | None = None,
        metric: str | None = None,
        baseline: AudienceSpec | None = None,
        top_tags: int = 3,
        max_values: int = 12,
        groups: int = 8,
        highlight_share: float = 0.05,
        highlight_lift: float = 1.5,
        caller: Caller | None = None,
    ) -> Cube:
        """Niche groups (利基客群) from the combinations of 2–4 tags' values
        (:mod:`portrait.analysis.niches`): every non-empty cell with its users, share, metric
        (the rate of ``target``, or the mean of the numeric tag ``metric``), lift, corrected
        significance and highlight flag, then the cells merged into ``groups`` groups, each
        with a rule. Without ``tags``, the ``top_tags`` best of the target's feature ranking
        (single-valued, not circular). The universe is ``baseline`` (default every user).

        Example: ``ws.discovery.niche(["city", "age_band"], target="orders_365d >= 1")``."""
        from portrait.analysis import niches
        from portrait.errors import AccessError, InputError
        from portrait.index.profile_index import index_kind

        ws = self._ws
        who = ws.who(caller)
        if (target is None) == (metric is None):
            raise InputError(
                "name what the cells are measured by: a target audience or a numeric metric",
                where="--target",
                hint="--target 'orders_365d >= 1' (a rate) or --metric spend_365d (a mean)",
            )
        profile = ws.selector().profile
        if tags is None:
            if target is None:
                raise InputError("name the tags to combine", where="--tags")
            ranking = self.rank(target, baseline=baseline, caller=who)
            tags = [r["tag"] for r in ranking.rows if r["kind"] != "multi"][:top_tags]
        chosen = ws.insights.comparable_tags(tags, who)
        if len(set(chosen)) != len(chosen):
            raise InputError("a tag is named twice", where="--tags")
        if not 2 <= len(chosen) <= 4:
            raise InputError(
                f"a cube combines 2 to 4 tags, not {len(chosen)}",
                where="--tags",
                hint="name 2–4 tags",
            )
        if not 1 <= max_values <= 100:
            raise InputError("--max-values must be between 1 and 100", where="--max-values")
        values = []
        for tag in chosen:
            value_type = profile.tags[tag].type
            cells = self.cells(tag, max_values=max_values)
            if len(cells) < 2:
                raise InputError(
                    f"'{tag}' has one value only: it cannot split anyone", where="--tags"
                )
            numeric = index_kind(value_type) == "range"
            multi = value_type.startswith("list")
            complete = not multi or profile.index.values(tag).distinct <= max_values
            values.append(niches.TagValues(tag, cells, numeric, multi, complete))
        universe = (
            ws.audiences.members(baseline, who).bitmap if baseline is not None else self._everyone()
        )
        if target is not None:
            self._no_outcome_yet(target)
            members = ws.audiences.members(target, who).bitmap
            inside = members.intersection_cardinality(universe)
            # under disclosure control an empty (or full) target is answered like any other,
            # its cells' counts released: refusing it would tell 0 from 1
            if not ws.access.disclosure.controlled(who) and inside in (0, len(universe)):
                what = "no members" if inside == 0 else "every user"
                raise InputError(
                    f"the target holds {what} of the universe: every cell's rate would be the same",
                    where="--target",
                    hint="choose a target some users are in and others are not",
                )
            measure = niches.Metric(
                "rate", target if isinstance(target, str) else "target", target=members
            )
        else:
            assert metric is not None
            if ws.access.disclosure.controlled(who):
                raise AccessError(
                    "the mean of a number per cell is for roles that see exact numbers: "
                    "means of two overlapping cubes would give away one user's value",
                    where="--metric",
                    hint="measure the cells by the rate of an audience (--target) instead",
                )
            self._numeric(metric, "use --target with a rule for a rate, e.g. --target 'x >= 1'")
            index = profile.index.range(metric)
            measure = niches.Metric(
                "mean", metric, column=profile.index.column(metric), missing=index.missing
            )
        cube = niches.cube(
            values,
            universe,
            measure,
            groups=groups,
            highlight_share=highlight_share,
            highlight_lift=highlight_lift,
            release=self._release(who, "niche"),
        )
        cube.privacy = ws.access.privacy(who)
        return cube

    def save_groups(
        self, cube: Cube, prefix: str, *, replace: bool = False, caller: Caller | None = None
    ) -> list[dict[str, Any]]:
        """Save every merged group of a niche cube as a dynamic segment ``PREFIX_1`` … (the
        largest metric first), in one action; a group holding everyone has no rule and is
        skipped."""
        saved = []
        for i, group in enumerate(cube.groups, start=1):
            if not group["rule"]:
                continue
            saved.append(
                self._ws.audiences.segments.create(
                    f"{prefix}_{i}",
                    group["rule"],
                    description=f"niche group {i} of {' × '.join(cube.tags)} ({cube.metric})",
                    replace=replace,
                    caller=caller,
                )
            )
        return saved

    def _numeric(self, metric: str, hint: str) -> None:
        """Refuse a ``--metric`` that is not a built numeric tag (``hint``: what to do)."""
        from portrait.errors import InputError, NotFoundError, suggest
        from portrait.index.profile_index import index_kind

        built = self._ws.selector().profile.tags
        if metric not in built:
            raise NotFoundError(
                f"no built tag named '{metric}'",
                where="--metric",
                hint=suggest(metric, built) or "see 'portrait tags list'",
            )
        if index_kind(built[metric].type) != "range":
            raise InputError(f"'{metric}' is not numeric", where="--metric", hint=hint)

    def _everyone(self) -> Any:
        from pyroaring import FrozenBitMap

        return FrozenBitMap(range(self._ws.selector().profile.population))

    # -- subgroup discovery ------------------------------------------------------------------
    def subgroups(
        self,
        target: AudienceSpec,
        *,
        baseline: AudienceSpec | None = None,
        tags: list[str] | None = None,
        depth: int = 3,
        beam: int = 20,
        top: int = 10,
        min_support: float = 0.01,
        quality: str = "wracc",
        max_values: int = 12,
        include_circular: bool = False,
        caller: Caller | None = None,
    ) -> dict[str, Any]:
        """The ``top`` readable conjunctions of tag conditions that best describe the target
        within the universe (``baseline``, default every user), by beam search on WRAcc or
        Klösgen's lift measure, with coverage, precision, recall, lift and FDR-corrected
        p-values (:mod:`portrait.analysis.subgroups`). The conditions are every tag's values
        (its ``max_values`` most common), the insight bins of numbers and the missing value;
        tags circular for the target are left out unless ``include_circular``.

        Under disclosure control the minimum support is at least the smallest count released,
        sizes are released counts and every number is computed from them (the p-value
        corrected by Bonferroni over the conjunctions the search evaluated).

        Example: ``ws.discovery.subgroups("orders_365d >= 1", depth=2)["rows"][0]["rule"]``."""
        from portrait.analysis.subgroups import Candidate, discover
        from portrait.errors import InputError
        from portrait.rules import print_rule

        ws = self._ws
        who = ws.who(caller)
        _, chosen, left_out = self._compared(target, tags, include_circular, who, "search")
        if not 1 <= max_values <= 100:
            raise InputError("--max-values must be between 1 and 100", where="--max-values")
        disclosure = ws.access.disclosure
        controlled = disclosure.controlled(who)
        universe = (
            ws.audiences.members(baseline, who).bitmap if baseline is not None else self._everyone()
        )
        if controlled:
            smallest = disclosure.policy.min_count
            floor = smallest if min_support >= 1 else smallest / max(len(universe), 1)
            min_support = max(min_support, floor)
        self._no_outcome_yet(target)
        members = ws.audiences.members(target, who).bitmap & universe
        candidates = [
            Candidate(c.tag, c.label, c.condition, c.members)
            for tag in chosen
            for c in self.cells(tag, max_values=max_values, other=False)
        ]
        found = discover(
            candidates,
            members,
            universe,
            depth=depth,
            beam=beam,
            top=top * 20,
            min_support=int(min_support) if min_support >= 1 else min_support,
            quality=quality,  # type: ignore[arg-type]
        )
        found = _distinct(_improving(found, MIN_IMPROVEMENT))[:top]
        rows = []
        sizes: list[int | None] = [len(members), len(universe)]
        if controlled:
            sets = []
            for group in found:
                inside = universe
                for c in group.candidates:
                    inside = inside & c.members
                sets += [inside, inside & members]
            released = self._release(who, "subgroups")([members, universe, *sets])
            sizes = released[:2]
        for i, group in enumerate(found):
            row = group.to_dict()
            row["rule"] = print_rule(group.rule())
            if controlled:
                size, positives = released[2 + 2 * i], released[3 + 2 * i]
                row.update(_released_subgroup(size, positives, *sizes, tested=group.tested))
            rows.append(row)
        return {
            "target_size": sizes[0],
            "universe": baseline if isinstance(baseline, str) else "population",
            "universe_size": sizes[1],
            "quality": quality,
            "depth": depth,
            "min_support": min_support,
            "rows": rows,
            "left_out": [{"tag": t, "why": w} for t, w in sorted(left_out.items())],
            "privacy": ws.access.privacy(who),
        }


def _released_subgroup(
    size: int | None,
    positives: int | None,
    target: int | None,
    universe: int | None,
    *,
    tested: int,
) -> dict[str, Any]:
    """A subgroup's numbers from released counts: sizes, shares, lift and the z-test's p-value
    (corrected by Bonferroni over the ``tested`` conjunctions); all None when any count they
    need is suppressed."""
    import math

    from portrait.stats import two_proportion_ztest

    numbers = ("coverage", "precision", "recall", "lift", "p_value", "p_adjusted")
    if size is None or positives is None or target is None or not universe or not size:
        return {
            "size": size,
            "positives": positives,
            **dict.fromkeys(numbers),
            "significant": False,
            "suppressed": True,
        }
    _, p = two_proportion_ztest(
        positives, size, max(target - positives, 0), max(universe - size, 0)
    )
    p_value = None if math.isnan(float(p)) else float(p)
    p_adjusted = None if p_value is None else min(1.0, p_value * tested)
    return {
        "size": size,
        "positives": positives,
        "coverage": size / universe,
        "precision": positives / size,
        "recall": positives / target if target else None,
        "lift": (positives / size) / (target / universe) if target else None,
        "p_value": p_value,
        "p_adjusted": p_adjusted,
        "significant": p_adjusted is not None and p_adjusted < 0.05,
    }


def _improving(found: Sequence[Any], margin: float) -> list[Any]:
    """The subgroups (best first) whose quality is more than ``margin`` above that of every
    subgroup found that uses a subset of their conditions."""
    keys = [frozenset(id(c) for c in g.candidates) for g in found]
    return [
        group
        for group, own in zip(found, keys, strict=True)
        if all(
            not other < own or group.quality > k.quality * (1 + margin)
            for k, other in zip(found, keys, strict=True)
        )
    ]


def _distinct(found: Sequence[Any]) -> list[Any]:
    """The subgroups without the ones selecting, most likely, the same users as a better one:
    the same size and positives and a condition in common (``preferred_car_brands is null``
    and ``car_price_avg_180d is null`` both say "never looked at cars")."""
    kept: list[Any] = []
    for group in found:
        own = {id(c) for c in group.candidates}
        if not any(
            (k.size, k.positives) == (group.size, group.positives)
            and own & {id(c) for c in k.candidates}
            for k in kept
        ):
            kept.append(group)
    return kept
