"""Campaign pieces with no workspace: message JSON, assignment bounds. (They belong in
tests/unit/campaigns/ as test_channels.py and test_assignment.py, where the campaigns
restructuring puts its tests.)"""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from portrait.campaigns.assignment import BUCKETS, group_bounds
from portrait.campaigns.channels import Message

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
