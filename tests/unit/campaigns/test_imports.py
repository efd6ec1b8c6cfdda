"""The checks of an imported experiment's files, without a database: weights, assignments
(one group per user, known groups and users, every planned group present), outcomes (two
shapes, assigned users only, flags and amounts)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pyarrow as pa
import pytest

from portrait.campaigns.imports import parse_weights, read_assignments, read_outcomes
from portrait.errors import InputError

T0 = dt.datetime(2031, 1, 1, tzinfo=dt.UTC)
GROUPS = ("control", "A")
KNOWN = {"u1": 1, "u2": 2, "u3": 3, "u4": 4}


def find(ids: Sequence[str]) -> list[int | None]:
    return [KNOWN.get(i) for i in ids]


def assignments(*rows: tuple[str, str]) -> pa.Table:
    return pa.Table.from_pylist([{"user_id": u, "group": g} for u, g in rows])


def test_weights() -> None:
    assert parse_weights(" control=10, A=45 ,B=45,") == {"control": 10, "A": 45, "B": 45}
    for text, message in [
        ("", "no groups given"),
        ("A", "'A' is not GROUP=PERCENT"),
        ("A=x", "'x' is not a number"),
        ("A=1,A=2", "group 'A' is given twice"),
    ]:
        with pytest.raises(InputError, match=message):
            parse_weights(text)


def test_assignments_repeated_rows_count_once_and_times_default() -> None:
    table = assignments(("u1", "control"), ("u2", "A"), ("u1", "control"))
    found, repeated = read_assignments(table, "a.csv", GROUPS, find, T0)
    assert repeated == 1
    assert [(a.uid, a.group, a.at) for a in found] == [(1, "control", T0), (2, "A", T0)]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ((("u1", "control"), ("u1", "A")), "'u1' in control \\(row 1\\) and A \\(row 2\\)"),
        ((("u1", "control"), ("u2", "B")), "row 2: unknown group 'B'"),
        ((("u1", "control"), ("u2", "")), "row 2: no group"),
        ((("u1", "control"), ("u9", "A")), "users not in this workspace: 'u9' \\(row 2\\)"),
        ((("u1", "control"), ("u2", "control")), "group 'A' of the plan has no assigned user"),
    ],
)
def test_bad_assignments(rows: tuple[tuple[str, str], ...], message: str) -> None:
    with pytest.raises(InputError, match=message) as caught:
        read_assignments(assignments(*rows), "a.csv", GROUPS, find, T0)
    assert caught.value.where == "a.csv"


def test_many_problems_are_counted_and_the_first_three_named() -> None:
    table = assignments(*[(f"x{i}", "Z") for i in range(5)])
    with pytest.raises(InputError, match=r"5 bad rows: row 1: .*; row 2: .*; row 3: .*; …"):
        read_assignments(table, "a.csv", GROUPS, find, T0)


def test_outcomes_in_both_shapes() -> None:
    found, _ = read_assignments(
        assignments(("u1", "control"), ("u2", "A")), "a.csv", GROUPS, find, T0
    )
    by_user = {a.user_id: a for a in found}
    per_user = pa.Table.from_pylist(
        [
            {"user_id": "u1", "clicked": "true", "converted": "0", "revenue": None},
            {"user_id": "u2", "clicked": "1", "converted": "yes", "revenue": 12.5},
        ]
    )
    got = read_outcomes(per_user, "o.csv", by_user)
    assert [(o.uid, o.response, o.revenue) for o in got] == [
        (1, "clicked", None),
        (2, "clicked", None),
        (2, "converted", 12.5),
    ]
    events = pa.Table.from_pylist(
        [{"user_id": "u2", "response": "Delivered", "ts": "2031-01-02T00:00:00", "revenue": None}]
    )
    (event,) = read_outcomes(events, "o.csv", by_user)
    assert event.response == "delivered" and event.at == T0 + dt.timedelta(days=1)
    for rows, message in [
        ([{"user_id": "u3", "clicked": 1}], "outcomes of users never assigned: 'u3' \\(row 1\\)"),
        ([{"user_id": "u1", "clicked": "2"}], "row 1, column clicked: '2' is not 0/1"),
        ([{"user_id": "u1", "revenue": "-1"}], "row 1, column revenue: '-1' is not an amount"),
        ([{"user_id": "u1", "response": "opened", "ts": "2031-01-02"}], "which was sent nothing"),
        ([{"user_id": "u2", "response": "liked", "ts": "2031-01-02"}], "unknown response 'liked'"),
        ([{"user_id": "u2", "x": 1}], "need 'response' and 'ts'"),
    ]:
        with pytest.raises(InputError, match=message):
            read_outcomes(pa.Table.from_pylist(rows), "o.csv", by_user)
