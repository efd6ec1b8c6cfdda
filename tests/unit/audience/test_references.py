"""The reference graph between segments: dependents, an evaluation order that puts every
segment after the ones it refers to (checked on random graphs), and refused references (names
that do not exist, circles)."""

from __future__ import annotations

import numpy as np
import pytest

from portrait.audience.references import (
    check_references,
    dependents,
    id_list_users,
    reference_order,
    segment_references,
)
from portrait.errors import NotFoundError, SegmentCycleError
from portrait.rules import parse_rule
from portrait.store.metadata import MetadataStore
from tests.unit.audience.conftest import save_segments, segment_row


def _graph(seed: int, n: int = 30) -> dict[str, set[str]]:
    """A random acyclic graph: segment i refers to some segments before it (under shuffled
    names, so no order of names is an order of the graph)."""
    rng = np.random.default_rng(seed)
    names = [f"s{i:02d}" for i in rng.permutation(n)]
    return {names[i]: {names[j] for j in range(i) if rng.random() < 0.15} for i in range(n)}


def _rows(graph: dict[str, set[str]]) -> list[dict[str, object]]:
    """The rows of the graph's segments, by name (as the metadata database hands them back)."""
    rows = []
    for name, refs in sorted(graph.items()):
        rule = " or ".join([f'segment("{r}")' for r in sorted(refs)] + ["age > 1"])
        rows.append(segment_row(name, rule))
    return rows


@pytest.mark.parametrize("seed", range(6))
def test_every_segment_comes_after_the_segments_it_refers_to(seed: int) -> None:
    graph = _graph(seed)
    order = reference_order(_rows(graph))
    assert sorted(order) == sorted(graph)
    position = {name: i for i, name in enumerate(order)}
    for name, refs in graph.items():
        assert all(position[r] < position[name] for r in refs), name
    assert order == reference_order(list(reversed(_rows(graph))))  # rows in any order


@pytest.mark.parametrize("seed", range(3))
def test_dependents_are_the_reversed_references(seed: int) -> None:
    graph = _graph(seed)
    rows = _rows(graph)
    found = dependents(rows)
    for name in graph:
        assert found[name] == sorted(s for s, refs in graph.items() if name in refs)
    assert {r["name"]: segment_references(r) for r in rows} == {
        n: sorted(refs) for n, refs in graph.items()
    }


def test_references_to_missing_segments_are_left_out_of_the_order() -> None:
    rows = [segment_row("a", 'segment("gone") and age > 1'), segment_row("b", 'segment("a")')]
    assert reference_order(rows) == ["a", "b"]
    assert dependents(rows) == {"a": ["b"], "b": [], "gone": ["a"]}


def test_a_circle_is_named() -> None:
    rows = [
        segment_row("a", 'segment("b")'),
        segment_row("b", 'segment("c")'),
        segment_row("c", 'segment("a") or age > 3'),
        segment_row("d", "age > 3"),
    ]
    with pytest.raises(SegmentCycleError, match="a → b → c → a"):
        reference_order(rows)


def test_id_list_users() -> None:
    rows = [
        segment_row("a", 'ids("vip") and age > 1'),
        segment_row("b", 'not ids("vip") or ids("other")'),
        segment_row("c", 'segment("a")'),
    ]
    assert id_list_users(rows, "vip") == ["a", "b"]
    assert id_list_users(rows, "other") == ["b"]
    assert id_list_users(rows, "none") == []


# -- checking a new rule against the saved ones ----------------------------------------------


def test_references_to_what_exists_pass(store: MetadataStore) -> None:
    save_segments(store, {"vip": "age > 30", "young": "age < 25"})
    with store.transaction() as conn:
        store.save_id_list(
            conn, "upload", source="x", rows=1, matched=1, unmatched=0, duplicates=0, members=b""
        )
    check_references(store, "new", parse_rule('segment("vip") and not segment("young")'))
    check_references(store, "new", parse_rule('ids("upload") or age > 3'))


def test_a_missing_segment_or_id_list_is_named_with_a_suggestion(store: MetadataStore) -> None:
    save_segments(store, {"vip_users": "age > 30"})
    with pytest.raises(NotFoundError, match="segment 'vip_user', which does not exist") as info:
        check_references(store, "new", parse_rule('segment("vip_user")'))
    assert "vip_users" in str(info.value.hint)
    with pytest.raises(NotFoundError, match="ID list 'upload'") as info:
        check_references(store, "new", parse_rule('ids("upload")'))
    assert "portrait ids upload" in str(info.value.hint)


def test_a_rule_that_would_close_a_circle_is_refused(store: MetadataStore) -> None:
    rules = {"a": "age > 1", "b": 'segment("a")', "c": 'segment("b") and age > 2', "d": "age > 4"}
    save_segments(store, rules)
    with pytest.raises(SegmentCycleError, match="a → c → b → a"):
        check_references(store, "a", parse_rule('segment("c")'))  # replacing a's rule
    with pytest.raises(SegmentCycleError, match="d → d"):
        check_references(store, "d", parse_rule('segment("d")'))  # itself
    check_references(store, "d", parse_rule('segment("c")'))  # on top of the others is fine
    check_references(store, "e", parse_rule('segment("c") and segment("a")'))
