"""Segment and ID-list rows as the metadata database hands them back: the rule document and
timestamps."""

from __future__ import annotations

import datetime as dt
from typing import Any

from portrait.model.rules import Rule, RuleDocument


def stored_rule(row: dict[str, Any]) -> Rule:
    """The rule of a stored segment row (its versioned JSON document)."""
    return RuleDocument.model_validate_json(row["rule"]).rule


def utc(moment: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes; they were written in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
