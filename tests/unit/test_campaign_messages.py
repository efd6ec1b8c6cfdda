"""Campaign pieces with no workspace: message JSON, assignment bounds, send windows."""

from __future__ import annotations

import datetime as dt
import json

from hypothesis import given
from hypothesis import strategies as st

from portrait.campaigns.assignment import BUCKETS, group_bounds
from portrait.campaigns.channels import Message
from portrait.model.campaigns import SendWindow

texts = st.text(max_size=40)


@given(texts, texts, texts, st.none() | texts, st.none() | texts)
def test_message_json_is_what_json_dumps_gives(
    user_id: str, variant: str, text: str, subject: str | None, to: str | None
) -> None:
    message = Message(f"c:1:{user_id}", "c", 1, user_id, variant, text, subject, to)
    assert json.loads(message.json_object()) == message.to_dict()


def test_group_bounds_cover_every_bucket() -> None:
    bounds = group_bounds([10, 45, 45])
    assert bounds.tolist() == [100_000, 550_000, BUCKETS]
    assert group_bounds([33.3, 33.3, 33.4])[-1] == BUCKETS


def test_send_window_across_midnight() -> None:
    night = SendWindow(start="22:00", end="02:00")
    assert night.contains(dt.time(23, 30)) and night.contains(dt.time(1, 59))
    assert not night.contains(dt.time(2, 0)) and not night.contains(dt.time(12, 0))
    evening = SendWindow(start="19:00", end="21:00")
    assert evening.contains(dt.time(19, 0)) and not evening.contains(dt.time(21, 0))
