"""``ws.audiences.builder``: what an interactive rule builder needs, for every surface that has
one (the web console's, a notebook's).

A builder edits the rule's JSON form (:class:`~portrait.model.rules.RuleDocument`); after each
edit it asks :meth:`BuilderService.count` for the exact size of the whole rule and of every
node in it (each condition and each group on its own), with the canonical text; the text
edited by hand comes back as a tree through :meth:`BuilderService.tree`. What the pickers
offer (tags with their titles and types, a tag's values with their counts, events, business
lines, event properties, segments, ID lists, campaigns) is :meth:`BuilderService.vocabulary`
and :meth:`BuilderService.values`. Every number goes through the caller's disclosure policy,
as :meth:`AudienceService.count <portrait.workspace.audiences.AudienceService.count>` does.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from portrait.errors import InputError, PortraitError
from portrait.model.access import Caller
from portrait.model.rules import (
    CAMPAIGN_OUTCOMES,
    And,
    CampaignRef,
    Not,
    Or,
    Rule,
    RuleDocument,
    TagCondition,
)
from portrait.rules import parse_rule, print_rule

if TYPE_CHECKING:
    from pyroaring import AbstractBitMap

    from portrait.workspace.root import Workspace

MAX_NODES = 400  # nodes counted one by one for one edit (the role's rule limits apply too)


def nodes(rule: Rule, path: str = "") -> list[tuple[str, Rule]]:
    """Every node of ``rule`` with its path: ``""`` the root, ``"0"`` its first item,
    ``"0.1"`` that one's second, ``"0.n"`` the item of a ``not`` (depth first, in order)."""
    found: list[tuple[str, Rule]] = [(path, rule)]
    prefix = f"{path}." if path else ""
    if isinstance(rule, And | Or):
        for i, item in enumerate(rule.items):
            found.extend(nodes(item, f"{prefix}{i}"))
    elif isinstance(rule, Not):
        found.extend(nodes(rule.item, f"{prefix}n"))
    return found


def _problem(error: PortraitError) -> dict[str, Any]:
    shown = error.to_dict()
    if "line" in error.extra:
        shown.update(line=error.extra["line"], column=error.extra["column"])
    return shown


def document_rule(document: Any) -> Rule:
    """The rule of a JSON rule document (``{"version": 1, "rule": {...}}``, or the bare
    ``rule``), with a message naming the first wrong field."""
    data = document if isinstance(document, dict) else {}
    if "rule" not in data:
        data = {"version": 1, "rule": data}
    try:
        return RuleDocument.model_validate(data).rule
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()) if not str(p).startswith("function"))
        raise InputError(
            f"the rule tree is not valid: {first.get('msg', 'wrong value')}",
            where=where or "rule",
            hint="each node needs its kind and fields (docs/rules.md, the JSON form)",
        ) from None


class BuilderService:
    def __init__(self, ws: Workspace):
        self._ws = ws

    def count(self, document: Any, caller: Caller | None = None) -> dict[str, Any]:
        """The exact size (as ``caller`` may see it) of a rule tree and of each of its nodes.

        Returns ``{"text", "total", "parts", "seconds", "as_of", "population"}``: ``total``
        the count of the whole rule (or its ``problem``); ``parts`` maps every node's path
        (:func:`nodes`) to its own ``{"size", "share"}`` or its ``problem`` (an unknown tag,
        a value of the wrong type, …), so each problem shows next to its node."""
        ws = self._ws
        who = ws.who(caller)
        started = time.perf_counter()
        rule = document_rule(document)
        text = print_rule(rule)
        listed = nodes(rule)
        if len(listed) > MAX_NODES:
            raise InputError(
                f"the rule has {len(listed):,} nodes; the builder counts up to {MAX_NODES:,}",
                hint="save parts of it as segments and refer to them",
            )
        parts: dict[str, Any] = {}
        selector = ws.selector()
        members: dict[str, AbstractBitMap] = {}
        # Children before their group (reversed pre-order): a group of all of / any of is the
        # intersection / union of its items' members, already at hand, so each edit evaluates
        # only what changed (under three-valued logic a group holds exactly where all / any of
        # its items hold; a NOT is left to the evaluator, which knows where its item is unknown).
        for path, node in reversed(listed):
            if isinstance(node, And | Or):
                keys = [f"{path}.{i}" if path else str(i) for i in range(len(node.items))]
                items = [members[k] for k in keys if k in members]
                if len(items) == len(keys):
                    combined = items[0]
                    for item in items[1:]:
                        combined = combined & item if isinstance(node, And) else combined | item
                    selector.remember(node, combined)
            try:
                counted = ws.audiences.count(node, caller=who)
            except PortraitError as error:
                parts[path] = {"problem": _problem(error)}
                continue
            members[path] = selector.evaluate(node)  # kept by the count just made
            part = {"size": counted["size"], "share": counted["share"]}
            if "suppressed" in counted:
                part["suppressed"] = counted["suppressed"]
            parts[path] = part
        parts = {path: parts[path] for path, _ in listed}  # the tree's order, root first
        answer: dict[str, Any] = {
            "text": text,
            "total": parts[""],
            "parts": parts,
            "population": selector.profile.population,
            "as_of": selector.profile.as_of.isoformat() if selector.profile.as_of else None,
            "privacy": ws.access.privacy(who),
        }
        answer["seconds"] = time.perf_counter() - started
        return answer

    def tree(self, text: str, caller: Caller | None = None) -> dict[str, Any]:
        """The JSON form of rule text (for the builder to show as a tree), checked for
        ``caller``; a problem names its line and column."""
        if len(text) > 100_000:
            raise InputError("the rule text is longer than 100,000 characters", where="rule")
        rule = parse_rule(text)
        self._ws.audiences.check_rule(text, caller=self._ws.who(caller))
        return RuleDocument(rule=rule).model_dump(mode="json")

    def text(self, document: Any) -> str:
        """The canonical text of a rule tree."""
        return print_rule(document_rule(document))

    def narrow(self, rule: str, tag: str, value: Any, caller: Caller | None = None) -> str:
        """``rule`` and ``tag = value`` (a list tag: ``tag contains any (value)``), as text:
        what clicking a value in an insight report adds. An empty ``rule`` gives the
        condition alone. Checked for ``caller``."""
        ws = self._ws
        who = ws.who(caller)
        types = ws.selector().profile.tags
        if tag not in types:
            ws.catalog.tags[tag]  # the catalog's NotFoundError, with a suggestion
        multi = types[tag].type.startswith("list")
        condition = TagCondition(
            tag=tag,
            op="contains any" if multi else "=",
            value=[value] if multi else value,
        )
        narrowed: Rule = condition
        if rule.strip():
            base = parse_rule(rule)
            items = list(base.items) if isinstance(base, And) else [base]
            narrowed = And(items=[*items, condition])
        text = print_rule(narrowed)
        ws.audiences.check_rule(text, caller=who)
        return text

    def retarget(self, campaign: str, did: str = "clicked", did_not: str = "converted") -> str:
        """The rule of a campaign's users who ``did`` one thing and not another (by default
        clicked but did not convert), for re-targeting them."""
        for where, outcome in (("did", did), ("did_not", did_not)):
            if outcome not in CAMPAIGN_OUTCOMES:
                raise InputError(
                    f"unknown campaign outcome '{outcome}'",
                    where=where,
                    hint="one of " + ", ".join(CAMPAIGN_OUTCOMES),
                )
        rule = And(
            items=[
                CampaignRef(name=campaign, outcome=did),  # type: ignore[arg-type]
                Not(item=CampaignRef(name=campaign, outcome=did_not)),  # type: ignore[arg-type]
            ]
        )
        return print_rule(rule)

    def vocabulary(self, caller: Caller | None = None) -> dict[str, Any]:
        """What the builder's pickers offer ``caller``: tags (name, title, category, type,
        kind; personal-data tags only to those who may select by them), events and business
        lines of the behaviour rollup, event properties, saved segments, ID lists and
        campaigns (to those who may read them)."""
        ws = self._ws
        who = ws.who(caller)
        pii = ws.catalog.pii_tags()
        tags = [
            {k: t.get(k) for k in ("name", "title", "category", "type", "kind")}
            for t in ws.catalog.summaries(caller=who)
            if who.sees_pii or t["name"] not in pii
        ]
        rollup = ws.selector().profile.rollup
        schema = ws.built_warehouse().schema().get("events") or {}
        fixed = {"user_id", "ts", "event", "business_line"}
        segments = (
            [s["name"] for s in ws.audiences.segments.all(caller=who)]
            if who.can("segments:read")
            else []
        )
        has_metadata = ws.has_metadata()
        id_lists = ws.metadata.id_list_names() if has_metadata and who.can("users:read") else []
        campaigns = (
            [c["name"] for c in ws.campaigns.all(caller=who)]
            if has_metadata and who.can("campaigns:read")
            else []
        )
        return {
            "tags": tags,
            "events": list(rollup.events) if rollup else [],
            "business_lines": list(rollup.business_lines) if rollup else [],
            "properties": sorted(p for p in schema if p not in fixed),
            "segments": segments,
            "id_lists": id_lists,
            "campaigns": campaigns,
            "outcomes": list(CAMPAIGN_OUTCOMES),
        }

    def values(self, tag: str, caller: Caller | None = None) -> dict[str, Any]:
        """A tag's values with their counts (the catalog's distribution: bins for numbers),
        its type, and whether the list is cut, for the value picker and the range
        histogram."""
        detail = self._ws.catalog.detail(tag, caller=caller)
        definition = detail["definition"]
        return {
            "name": tag,
            "title": definition.get("title") or tag,
            "type": definition.get("type"),
            "kind": definition.get("kind"),
            "values": detail.get("distribution") or [],
            "truncated": bool(detail.get("distribution_truncated")),
            "min": detail.get("min"),
            "max": detail.get("max"),
        }
