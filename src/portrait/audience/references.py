"""The reference graph between saved segments and ID lists.

A segment's rule may refer to other segments (``segment("vip")``) and to ID lists
(``ids("upload")``). The graph decides which segments depend on each, the order to evaluate
them in (every segment after the ones it refers to), and refuses a rule that names what does
not exist or would make segments refer to each other in a circle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from portrait.audience.stored import stored_rule
from portrait.errors import NotFoundError, SegmentCycleError, suggest
from portrait.rules.validate import rule_references

if TYPE_CHECKING:
    from portrait.model.rules import Rule
    from portrait.store.metadata import MetadataStore


def segment_references(row: dict[str, Any]) -> list[str]:
    """The segments a stored segment's rule refers to, sorted."""
    return sorted(rule_references(stored_rule(row))["segment"])


def dependents(rows: list[dict[str, Any]]) -> dict[str, list[str]]:
    """For every segment (and every name referred to), the segments that refer to it."""
    out: dict[str, list[str]] = {r["name"]: [] for r in rows}
    for r in rows:
        for ref in segment_references(r):
            out.setdefault(ref, []).append(r["name"])
    return out


def id_list_users(rows: list[dict[str, Any]], name: str) -> list[str]:
    """The segments whose rule refers to ID list ``name``."""
    return [r["name"] for r in rows if name in rule_references(stored_rule(r))["ids"]]


def reference_order(rows: list[dict[str, Any]]) -> list[str]:
    """Segment names with every segment after the segments it refers to."""
    refs = {r["name"]: rule_references(stored_rule(r))["segment"] for r in rows}
    order: list[str] = []
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in done or name not in refs:
            return
        if name in path:
            raise SegmentCycleError("segments reference each other: " + " → ".join((*path, name)))
        for ref in sorted(refs[name]):
            visit(ref, (*path, name))
        done.add(name)
        order.append(name)

    for name in sorted(refs):
        visit(name, ())
    return order


def check_references(store: MetadataStore, name: str, rule: Rule) -> None:
    """Refuse ``rule`` as segment ``name`` when it refers to a segment or ID list that does
    not exist, or when it reaches ``name`` through the references of other segments."""
    refs = rule_references(rule)
    rows = {r["name"]: r for r in store.segments()}
    for ref in sorted(refs["segment"]):
        if ref not in rows:
            raise NotFoundError(
                f"the rule refers to segment '{ref}', which does not exist",
                hint=suggest(ref, rows) or "see portrait segment list",
            )
    lists = set(store.id_list_names())
    for ref in sorted(refs["ids"]):
        if ref not in lists:
            raise NotFoundError(
                f"the rule refers to ID list '{ref}', which does not exist",
                hint=suggest(ref, lists) or "upload it: portrait ids upload NAME FILE",
            )
    # A cycle: the new rule reaches `name` through the references of other segments.
    stack: list[tuple[str, tuple[str, ...]]] = [(r, (name, r)) for r in refs["segment"]]
    seen: set[str] = set()
    while stack:
        current, path = stack.pop()
        if current == name:
            raise SegmentCycleError(
                "segments would reference each other in a circle: " + " → ".join(path)
            )
        if current in seen or current not in rows:
            continue
        seen.add(current)
        for nxt in rule_references(stored_rule(rows[current]))["segment"]:
            stack.append((nxt, (*path, nxt)))
