"""Per tag, a hash of everything its values depend on (what makes builds incremental).

A tag's fingerprint hashes its kind, its definition's meaning and value type, the versions of the
tables its computer says it reads, the as-of date and time zone when its computer says it is
windowed, and the fingerprints of the tags it reads.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable

from portrait.model.tags import TagSet
from portrait.profile.computers import computer_for
from portrait.store.warehouse import WarehouseSnapshot


def fingerprints(
    tags: TagSet,
    warehouse: WarehouseSnapshot,
    as_of: dt.date,
    timezone: str = "UTC",
    keep: Callable[[str, str], str] | None = None,
) -> dict[str, str]:
    """Per tag: a hash of everything its values depend on.

    ``keep(name, fingerprint)`` may substitute the fingerprint of a tag that is kept as it was
    (``refresh: manual``), so the tags that read it do not count as changed either.
    """
    out: dict[str, str] = {}
    for name in tags.build_order():
        tag = tags[name]
        computer = computer_for(tag)
        parts = [tag.kind, tag.fingerprint(), tag.value_type]
        for table in computer.tables(tag):
            state = warehouse.tables.get(table)
            parts.append(f"{table}@{state.version if state else 0}")
        if computer.windowed(tag):
            parts += [as_of.isoformat(), timezone]
        parts += [f"{d}={out[d]}" for d in sorted(tags.tag_dependencies(name))]
        fingerprint = hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]
        out[name] = keep(name, fingerprint) if keep else fingerprint
    return out
