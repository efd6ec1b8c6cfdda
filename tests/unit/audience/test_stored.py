"""Stored segment rows read back: the rule document and timestamps in UTC."""

from __future__ import annotations

import datetime as dt

from portrait.audience.stored import stored_rule, utc
from portrait.rules import parse_rule
from tests.unit.audience.conftest import segment_row


def test_the_stored_rule_is_the_saved_one() -> None:
    text = 'city in ("北京", "上海") and not segment("churned") and ids("upload")'
    assert stored_rule(segment_row("s", text)) == parse_rule(text)


def test_naive_times_are_utc_and_aware_ones_stay() -> None:
    naive = dt.datetime(2026, 10, 31, 23, 30)  # what SQLite hands back
    assert utc(naive) == dt.datetime(2026, 10, 31, 23, 30, tzinfo=dt.UTC)
    shanghai = dt.datetime(2026, 11, 1, 7, 30, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    assert utc(shanghai) is shanghai
    assert utc(naive) == shanghai  # the same moment
