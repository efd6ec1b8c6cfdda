"""User id → dense id lookups (the per-user interfaces' index) against a plain dict."""

from __future__ import annotations

import random

import pyarrow as pa

from portrait.index.ids import UserIdIndex, hash_strings


def _fnv1a(text: str) -> int:
    h = 0xCBF29CE484222325
    for byte in text.encode():
        h = ((h ^ byte) * 0x100000001B3) % 2**64
    return h


def test_hashes_match_the_fnv1a_definition() -> None:
    values = ["", "u1", "北京用户", "x" * 300, "a\x00b", "emoji 🎉"]
    assert hash_strings(pa.array(values)).tolist() == [_fnv1a(v) for v in values]
    sliced = pa.array(["skip", *values])[1:]  # an array view with an offset
    assert hash_strings(sliced).tolist() == [_fnv1a(v) for v in values]
    assert hash_strings(pa.chunked_array([values[:2], values[2:]])).tolist() == [
        _fnv1a(v) for v in values
    ]


def test_lookups_agree_with_a_dict() -> None:
    rng = random.Random(3)
    ids = list(
        {f"{rng.choice(['u', 'user-', '会员'])}{rng.randrange(10**9)}" for _ in range(50_000)}
    )
    index = UserIdIndex(pa.array(ids))
    where = {u: i for i, u in enumerate(ids)}
    queries = rng.sample(ids, 3000) + [f"missing-{i}" for i in range(300)] + [""]
    rng.shuffle(queries)
    expected = [where.get(q) for q in queries]
    assert index.find(queries) == expected  # the vectorised path
    assert [index.find([q])[0] for q in queries[:500]] == expected[:500]  # one at a time
    assert (
        index.user_ids([where[q] for q in queries if q in where][:50])
        == [q for q in queries if q in where][:50]
    )
    assert index.find([]) == []


def test_ids_sharing_a_hash_are_told_apart_by_the_id_itself() -> None:
    # the same id twice shares a hash: the lookup walks the run and checks each id
    index = UserIdIndex(pa.array(["a", "dup", "b", "dup"]))
    assert index.find(["dup"]) == [1]
    assert index.find(["dup", "a", "b", "zz", "dup", "a", "b", "a", "b"]) == [
        1,
        0,
        2,
        None,
        1,
        0,
        2,
        0,
        2,
    ]
