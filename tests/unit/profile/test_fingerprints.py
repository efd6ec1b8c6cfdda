"""Fingerprints: what each kind's computer says a tag reads, hashed as before the computers (so a
profile built earlier stays up to date)."""

from __future__ import annotations

import datetime as dt
import hashlib

from portrait.compile import validate_tags
from portrait.profile.fingerprints import fingerprints
from portrait.store.warehouse import TableState, WarehouseSnapshot
from tests.python_kind import DoubledComputer, DoubledTag, registered, with_tags
from tests.unit.tag_files import SCHEMA, parse

AS_OF = dt.date(2026, 10, 31)
TAGS = validate_tags(
    parse(
        "tags:\n"
        "  - {name: city, kind: attribute}\n"
        "  - {name: views, kind: metric, from: events, agg: count}\n"
        '  - {name: busy, kind: derived, type: bool, expr: "views > 3"}\n'
    ),
    SCHEMA,
)


def warehouse(users: int = 1, events: int = 2) -> WarehouseSnapshot:
    def table(name: str, version: int) -> TableState:
        return TableState(name=name, files=[], rows=0, columns={}, version=version)

    return WarehouseSnapshot(
        None, {"users": table("users", users), "events": table("events", events)}
    )


def sha(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def test_hash_of_kind_definition_tables_window_and_dependencies() -> None:
    prints = fingerprints(TAGS, warehouse(), AS_OF)
    views = sha(
        "metric", TAGS["views"].fingerprint(), "int", "users@1", "events@2", "2026-10-31", "UTC"
    )
    assert prints == {
        "city": sha("attribute", TAGS["city"].fingerprint(), "string", "users@1"),
        "views": views,
        "busy": sha("derived", TAGS["busy"].fingerprint(), "bool", "users@1", f"views={views}"),
    }


def test_what_changes_what() -> None:
    before = fingerprints(TAGS, warehouse(), AS_OF)
    changed = {
        "as-of": fingerprints(TAGS, warehouse(), AS_OF + dt.timedelta(days=1)),
        "zone": fingerprints(TAGS, warehouse(), AS_OF, "Asia/Shanghai"),
        "events": fingerprints(TAGS, warehouse(events=3), AS_OF),
        "users": fingerprints(TAGS, warehouse(users=2), AS_OF),
    }
    moved = {what: sorted(n for n in TAGS if p[n] != before[n]) for what, p in changed.items()}
    assert moved == {
        "as-of": ["busy", "views"],
        "zone": ["busy", "views"],
        "events": ["busy", "views"],
        "users": ["busy", "city", "views"],
    }


def test_kept_fingerprint_stops_at_the_kept_tag() -> None:
    kept = fingerprints(
        TAGS, warehouse(events=3), AS_OF, keep=lambda n, p: "old" if n == "views" else p
    )
    assert kept["views"] == "old"
    assert kept["busy"] == sha(
        "derived", TAGS["busy"].fingerprint(), "bool", "users@1", "views=old"
    )


def test_a_python_kind_reads_what_its_computer_says() -> None:
    tags = with_tags(TAGS, DoubledTag(name="twice", source="views"))
    with registered(DoubledComputer()):
        before = fingerprints(tags, warehouse(), AS_OF)
        later = fingerprints(tags, warehouse(), AS_OF + dt.timedelta(days=1))
    # not windowed itself, but it reads a windowed tag
    assert before["twice"] == sha(
        "doubled", tags["twice"].fingerprint(), "float", "users@1", f"views={before['views']}"
    )
    assert later["twice"] != before["twice"]
