"""``ws.insights``: understanding audiences (insight with TGI, distinctive features, cross
analysis, association rules, RFM), every number released for its caller
(:mod:`portrait.access.releases`)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from portrait.errors import InputError
from portrait.model.access import Caller
from portrait.model.rules import Rule
from portrait.rules import print_rule

if TYPE_CHECKING:
    from pyroaring import AbstractBitMap

    from portrait.analysis import InsightReport
    from portrait.audience.audience import Audience
    from portrait.workspace.audiences import AudienceSpec
    from portrait.workspace.root import Workspace


ITEMSETS_KEPT = 8  # frequent-itemset results kept per workspace (by data version and options)


class InsightService:
    def __init__(self, ws: Workspace):
        self._ws = ws
        # Mining baskets is the slow part of association rules (seconds at millions of
        # orders), and a page asks for the rules and the itemsets of the same options: the
        # raw itemsets are kept per warehouse version and options, before any release
        # (disclosure control applies to each caller's answer as before).
        self._itemsets_kept: OrderedDict[tuple[Any, ...], Any] = OrderedDict()

    def comparable_tags(
        self, tags: Sequence[str] | None = None, caller: Caller | None = None
    ) -> list[str]:
        """The tags an insight compares (:func:`portrait.analysis.insight.comparable_tags`)."""
        from portrait.analysis.insight import comparable_tags

        profile = self._ws.selector().profile
        return comparable_tags(
            profile.tags,
            profile.index,
            tags,
            self._ws.catalog.pii_tags(),
            self._ws.who(caller).sees_pii,
        )

    def insight(
        self,
        target: AudienceSpec,
        *,
        baseline: AudienceSpec | None = None,
        tags: list[str] | None = None,
        include_missing: bool = False,
        min_count: int = 30,
        caller: Caller | None = None,
    ) -> InsightReport:
        """Compare a target audience (segment name, rule or Audience) with a baseline (default:
        every user) on every value of ``tags`` (default: every tag that can be compared): counts,
        valid-percent shares, TGI, z-test and TGI interval. See :mod:`portrait.analysis.insight`.
        Under disclosure control every number is computed from released (noisy, small cells
        suppressed) counts; the report's ``privacy`` says so.

        Example: ``ws.insight('city = "北京"', tags=["age_band"]).rows``.
        """
        from pyroaring import FrozenBitMap

        from portrait.access import releases
        from portrait.analysis import insight

        ws = self._ws
        who = ws.who(caller)
        profile = ws.selector().profile
        chosen = self.comparable_tags(tags, who)
        members = ws.audiences.members(target, who)
        base: AbstractBitMap
        if baseline is None:
            base, name = FrozenBitMap(range(profile.population)), "population"
        else:
            base = ws.audiences.members(baseline, who).bitmap
            name = baseline if isinstance(baseline, str) else "baseline"

        def cost_of(tag: str) -> int:
            multi = profile.tags[tag].multi_valued
            return 1 + profile.index.values(tag).distinct if multi else 1

        release = releases.insight(
            ws.access.disclosure,
            who,
            target=members.bitmap,
            baseline=None if baseline is None else base,
            tags=chosen,
            version=profile.version,
            cost_of=cost_of,
        )
        report = insight(
            profile.index,
            chosen,
            {n: m.type for n, m in profile.tags.items()},
            members.bitmap,
            base,
            baseline_name=name,
            include_missing=include_missing,
            min_count=min_count,
            **release,
        )
        report.privacy = ws.access.privacy(who)
        return report

    def distinctive(
        self,
        target: AudienceSpec,
        *,
        baseline: AudienceSpec | None = None,
        top: int = 10,
        min_count: int = 30,
        tags: list[str] | None = None,
        caller: Caller | None = None,
        report: InsightReport | None = None,
    ) -> list[dict[str, Any]]:
        """The tag values that most distinguish a target from the baseline (its automatic
        persona): over-represented values whose TGI is above 100 even at the low end of its
        95% interval, ranked by that low end. Tags computed from the same data as the target's
        own conditions are left out (:meth:`AudienceService.circular_tags`: a rule ``city =
        "北京"`` is trivially distinguished by its city, ``active_days(last="30d") >= 5`` by
        ``events_7d``); ``tags`` limits
        the search to those (default: every tag insight compares). ``report``: the
        :meth:`insight` of the same target, baseline, tags and ``min_count`` for this caller,
        already made (its rows are used instead of comparing again)."""
        own = self._ws.audiences.circular_tags(target)
        if report is not None:
            rows = report.distinctive(len(report.rows))
            return self._readable([r for r in rows if r["tag"] not in own][:top])
        tags = [t for t in self.comparable_tags(tags, caller) if t not in own]
        report = self.insight(
            target, baseline=baseline, tags=tags, min_count=min_count, caller=caller
        )
        return self._readable(report.distinctive(top))

    def _readable(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Rows with the tag's title and the value's label for people (``6–10`` for the bin
        ``(5, 10]`` of an int tag: :func:`portrait.analysis.counting.readable_label`)."""
        from portrait.analysis.counting import readable_label

        profile = self._ws.selector().profile
        definitions = self._ws.catalog.tags.definitions
        for row in rows:
            tag = row["tag"]
            value_type = profile.tags[tag].type if tag in profile.tags else "string"
            row["title"] = definitions[tag].title if tag in definitions else ""
            row["label"] = readable_label(str(row["value"]), value_type)
        return rows

    def narrow(self, target: str, tag: str, value: str, caller: Caller | None = None) -> str:
        """The rule of the target's members who hold one row of its insight report: ``target``
        (a segment's name, as ``segment("NAME")``, or rule text) and ``tag = value``, where
        ``value`` is the row's label (a list tag: ``contains any``). A numeric tag's bin
        (``≤ b``, ``(a, b]``) becomes its range (``tag > a and tag <= b``), the missing row
        ``tag is null``. What "add to builder" and "save target ∩ value as a segment" of an
        insight report use; checked for ``caller``.

        Example: ``ws.insights.narrow("young", "age", "(21, 25]")`` is
        ``segment("young") and age > 21 and age <= 25``."""
        text = self.narrowed(target, [(tag, value)], caller=caller)[0]
        self._ws.audiences.check_rule(text, caller=caller)
        return text

    def narrowed(
        self, target: str, rows: Sequence[tuple[str, str]], caller: Caller | None = None
    ) -> list[str]:
        """:meth:`narrow` for many (tag, value) rows of one report at once: the target is
        checked once, each row's condition is made from the tag's index (so it is valid by
        construction); an action on one still goes through :meth:`narrow` or the builder,
        which check the whole rule."""
        from portrait.model.rules import And, SegmentRef

        ws = self._ws
        who = ws.who(caller)
        if ws.audiences.is_segment(target):
            items: list[Rule] = [SegmentRef(name=target.strip())]
        elif target.strip():
            base = ws.audiences.check_rule(target, caller=who)
            items = list(base.items) if isinstance(base, And) else [base]
        else:
            items = []
        texts = []
        for tag, value in rows:
            conditions = self._row_conditions(tag, value)
            both = [*items, *conditions]
            texts.append(print_rule(both[0] if len(both) == 1 else And(items=both)))
        return texts

    def _row_conditions(self, tag: str, value: str) -> list[Rule]:
        """The conditions of one row of an insight report (see :meth:`narrow`)."""
        from portrait.analysis.counting import bin_bounds
        from portrait.analysis.insight import MISSING
        from portrait.index.ranges import RangeIndex
        from portrait.model.rules import TagCondition

        ws = self._ws
        profile = ws.selector().profile
        if tag not in profile.tags:
            ws.catalog.tags[tag]  # the catalog's NotFoundError, with a suggestion
            raise InputError(f"the tag '{tag}' is not built", where="tag", hint="portrait build")
        value_type = profile.tags[tag].type
        if value == MISSING:
            return [TagCondition(tag=tag, op="is null")]
        index = profile.index.tag(tag)
        if not isinstance(index, RangeIndex):
            if value_type.startswith("list"):
                return [TagCondition(tag=tag, op="contains any", value=[value])]
            typed = value == "true" if value_type == "bool" else value
            return [TagCondition(tag=tag, op="=", value=typed)]
        try:
            low, high = bin_bounds(index, value_type, value)
        except KeyError:
            raise InputError(
                f"'{value}' is not one of the rows insight reports for '{tag}'", where="value"
            ) from None
        if low == high:
            return [TagCondition(tag=tag, op="=", value=high)]
        upper = TagCondition(tag=tag, op="<=", value=high)
        return [upper] if low is None else [TagCondition(tag=tag, op=">", value=low), upper]

    def cross(
        self,
        audiences: Sequence[AudienceSpec] | None = None,
        *,
        min_support: float = 0.0,
        min_confidence: float = 0.0,
        caller: Caller | None = None,
    ) -> list[dict[str, Any]]:
        """Cross-business analysis: every ordered pair of the audiences (segment names or
        rules; default: the users active in each business line over the last 360 days) with
        sizes, overlap/union, support, confidence and lift; ``flagged`` pairs reach both
        thresholds. See :mod:`portrait.analysis.cross`."""
        from portrait.access import releases
        from portrait.analysis import cross_matrix

        ws = self._ws
        if audiences is None:
            by_line = self.line_audiences()
            if not by_line:
                raise InputError(
                    "no business lines in the built events",
                    hint="name the audiences to compare (segments or rules)",
                )
            specs: list[AudienceSpec] = list(by_line.values())
            names = list(by_line)
        else:
            specs = list(audiences)
            names = [_label(s, i) for i, s in enumerate(specs)]
        who = ws.who(caller)
        members = [
            (name, ws.audiences.members(spec, who).bitmap)
            for name, spec in zip(names, specs, strict=True)
        ]
        release = releases.cross(ws.access.disclosure, who, [m for _, m in members])
        return cross_matrix(
            members,
            ws.selector().profile.population,
            min_support=min_support,
            min_confidence=min_confidence,
            **release,
        )

    def line_audiences(self) -> dict[str, str]:
        """The audience :meth:`cross` compares by default, per business line: its users
        active in the last 360 days, as rule text (so a cell of that matrix can be opened
        with :meth:`cross_insight`)."""
        rollup = self._ws.selector().profile.rollup
        lines = rollup.business_lines if rollup else []
        return {line: f'events(line="{line}", last="360d") >= 1' for line in lines}

    def cross_insight(
        self,
        a: AudienceSpec,
        b: AudienceSpec,
        *,
        tags: list[str] | None = None,
        min_count: int = 30,
        caller: Caller | None = None,
    ) -> InsightReport:
        """Who are the cross users? Insight on A∩B against A: what sets the users of A who are
        also in B apart from the rest of A."""
        ws = self._ws
        who = ws.who(caller)
        first = ws.audiences.members(a, who)
        both = first & ws.audiences.members(b, who)
        report = self.insight(both, baseline=first, tags=tags, min_count=min_count, caller=who)
        report.baseline = a if isinstance(a, str) else "A"
        return report

    def association_rules(
        self,
        *,
        min_support: float = 0.01,
        min_confidence: float = 0.2,
        basket: str = "orders",
        item: str | None = None,
        max_size: int = 4,
        caller: Caller | None = None,
    ) -> list[dict[str, Any]]:
        """Association rules for cross-sell over baskets of the built warehouse version:
        ``basket="orders"`` (each order's ``item`` column, default ``items``) or
        ``"events:<event>"`` (each user's events of that name; ``item`` names the property).
        See :mod:`portrait.analysis.baskets` and :mod:`portrait.analysis.association`."""
        from portrait.access import releases
        from portrait.analysis.association import association_rules

        itemsets = self._itemsets(min_support, basket, item, max_size)
        rules = association_rules(itemsets, min_confidence)
        return releases.association_rules(self._ws.access.disclosure, self._ws.who(caller), rules)

    def frequent_itemsets(
        self,
        *,
        min_support: float = 0.01,
        basket: str = "orders",
        item: str | None = None,
        max_size: int = 4,
        caller: Caller | None = None,
    ) -> list[dict[str, Any]]:
        """The frequent itemsets the rules are drawn from: ``items`` (a sorted list),
        ``size``, ``baskets`` holding them and ``support``; most frequent first, then fewer
        items, then by items. Baskets as in :meth:`association_rules`."""
        from portrait.access import releases

        found = self._itemsets(min_support, basket, item, max_size)
        rows = [
            {
                "items": list(items),
                "size": len(items),
                "baskets": count,
                "support": count / found.baskets,
            }
            for items, count in found.counts.items()
        ]
        rows.sort(key=lambda r: (-r["baskets"], r["size"], r["items"]))
        return releases.itemsets(self._ws.access.disclosure, self._ws.who(caller), rows)

    def recommendations(
        self,
        item: str,
        *,
        min_support: float = 0.01,
        min_confidence: float = 0.2,
        basket: str = "orders",
        item_column: str | None = None,
        max_size: int = 4,
        caller: Caller | None = None,
    ) -> list[dict[str, Any]]:
        """What to recommend to someone with ``item`` (关联推荐): the association rules whose
        antecedent holds it, strongest lift first, then confidence, then support; each as
        :meth:`association_rules` gives it. An item no basket holds is an error naming the
        closest ones."""
        from portrait.errors import NotFoundError, suggest

        wanted = item.strip()
        if not wanted:
            raise InputError("name an item", where="item")
        rules = self.association_rules(
            min_support=min_support,
            min_confidence=min_confidence,
            basket=basket,
            item=item_column,
            max_size=max_size,
            caller=caller,
        )
        known = {i for r in rules for i in (*r["antecedent"], *r["consequent"])}
        if wanted not in known:
            frequent = self.frequent_itemsets(
                min_support=min_support,
                basket=basket,
                item=item_column,
                max_size=1,
                caller=caller,
            )
            known |= {i for r in frequent for i in r["items"]}
            if wanted not in known:
                raise NotFoundError(
                    f"no frequent item named '{wanted}'",
                    where="item",
                    hint=suggest(wanted, sorted(known)) or "lower the minimum support",
                )
        found = [r for r in rules if wanted in r["antecedent"]]
        return sorted(found, key=lambda r: (-r["lift"], -r["confidence"], -r["support"]))

    def rfm_rules(self, segment_tag: str | None = None) -> dict[str, str]:
        """The rule of each RFM segment of the built ``kind: rfm`` segment tag
        (``rfm_segment = "重要价值"``), for opening one in the builder or saving it; empty
        when no RFM tag is built (the report is then computed from the orders, and its
        segments are no tag's values)."""
        from portrait.analysis.rfm import rfm_tags
        from portrait.model.rules import TagCondition
        from portrait.model.tags import RFM_SEGMENTS

        ws = self._ws
        chosen = rfm_tags(ws.catalog.tags.definitions, list(ws.built.tags), segment_tag)
        if chosen is None:
            return {}
        name = chosen[0].name
        return {
            label: print_rule(TagCondition(tag=name, op="=", value=label))
            for label in RFM_SEGMENTS.values()
        }

    def _itemsets(self, min_support: float, basket: str, item: str | None, max_size: int) -> Any:
        from portrait.analysis.association import frequent_itemsets
        from portrait.analysis.baskets import read_baskets

        ws = self._ws
        warehouse = ws.built_warehouse()
        key = (warehouse.version, min_support, basket, item, max_size)
        if key in self._itemsets_kept:
            self._itemsets_kept.move_to_end(key)
            return self._itemsets_kept[key]
        rollup = ws.selector().profile.rollup
        with ws.engine() as engine:  # the workspace's engine settings (threads, memory)
            baskets = read_baskets(
                ws.built_warehouse(),
                basket,
                item,
                rollup.events if rollup is not None else [],
                engine=engine,
            )
        found = frequent_itemsets(baskets, min_support, max_size=max_size)
        self._itemsets_kept[key] = found
        if len(self._itemsets_kept) > ITEMSETS_KEPT:
            self._itemsets_kept.popitem(last=False)
        return found

    def rfm_report(
        self,
        segment_tag: str | None = None,
        *,
        window: str | None = None,
        scores: int | None = None,
        caller: Caller | None = None,
    ) -> list[dict[str, Any]]:
        """The 8 RFM segments: users, share of the users with orders and mean R, F and M score
        per segment, largest first.

        By default it reads the built ``kind: rfm`` tags (``score: segment`` and the r/f/m
        tags of the same window and scale; ``segment_tag`` picks one when there are several).
        With ``window`` ("90d", "52w", "all") or ``scores`` (2 to 10), or when no RFM tag is
        built, it computes them from the orders of the built data version at its as-of date
        (defaults 365d and 5) and adds the mean recency in days, orders and amount.
        """
        from portrait.access import releases
        from portrait.analysis.rfm import rfm_definition, rfm_from_tags, rfm_tags

        ws = self._ws
        if window is not None or scores is not None:
            if segment_tag is not None:
                raise InputError("--tag reads built RFM tags; --window and --scores compute anew")
            rows = self._rfm_on_the_fly(rfm_definition(window or "365d", scores or 5))
        else:
            chosen = rfm_tags(ws.catalog.tags.definitions, list(ws.built.tags), segment_tag)
            if chosen is None:
                rows = self._rfm_on_the_fly(rfm_definition())
            else:
                rows = rfm_from_tags(ws.built.profile_file, *chosen)
        query = f"rfm|{ws.built.version}|{segment_tag}|{window}|{scores}"
        return releases.rfm(ws.access.disclosure, ws.who(caller), rows, query)

    def _rfm_on_the_fly(self, definition: Any) -> list[dict[str, Any]]:
        from portrait.analysis.rfm import rfm_on_the_fly

        ws = self._ws
        as_of = ws.built.as_of
        assert as_of is not None  # a built profile has one
        with ws.engine() as engine:
            return rfm_on_the_fly(engine, ws.built_warehouse().files("orders"), definition, as_of)


def _label(spec: str | Rule | Audience, i: int) -> str:
    """How a cross report names an audience: a segment's name or rule text as given, a rule
    model printed, an Audience by its position."""
    from portrait.audience.audience import Audience

    if isinstance(spec, str):
        return spec
    if isinstance(spec, Audience):
        return f"audience {i + 1}"
    return print_rule(spec)
