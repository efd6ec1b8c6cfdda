"""A real metadata database (SQLite) for the audience tests, and segment rows in it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from portrait.model.rules import RuleDocument
from portrait.rules import parse_rule, print_rule
from portrait.store.metadata import MetadataStore, open_database


@pytest.fixture
def store(tmp_path: Path) -> MetadataStore:
    """An empty metadata database of the current schema."""
    return MetadataStore(open_database("", tmp_path))


def segment_row(name: str, rule: str, mode: str = "dynamic") -> dict[str, Any]:
    """A segment row as the metadata database stores it."""
    parsed = parse_rule(rule)
    return {
        "name": name,
        "mode": mode,
        "rule": RuleDocument(rule=parsed).model_dump_json(),
        "rule_text": print_rule(parsed),
        "description": "",
    }


def save_segments(store: MetadataStore, rules: dict[str, str], mode: str = "dynamic") -> None:
    """Save segment rows straight into the database (no evaluation, no checks)."""
    with store.transaction() as conn:
        for name, rule in rules.items():
            store.insert_segment(conn, **segment_row(name, rule, mode))
