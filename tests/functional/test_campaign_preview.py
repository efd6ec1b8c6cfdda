"""A template editor's live preview (``ws.campaigns.preview``) on the demo workspace: the first
users of the audience, checked like a campaign, personal data masked unless the role may see
it, refused to roles without campaigns, audited, and nothing stored."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from portrait.errors import AccessError, InputError, NotFoundError
from portrait.index.rows import one_row
from portrait.model.access import Caller
from portrait.model.pii import mask_text
from portrait.workspace import Workspace

MARKETER = Caller("mia", "marketer")
ADMIN = Caller("ada", "admin")


def _real(ws: Workspace, *tags: str) -> dict[str, dict[str, object]]:
    table = pq.read_table(ws.built.profile_file, columns=["user_id", *tags]).to_pylist()
    return {str(r["user_id"]): r for r in table}


def test_the_preview_renders_the_audiences_first_users(demo_ws: Workspace) -> None:
    shown = demo_ws.campaigns.preview(
        "age < 30", "{{ city }}的朋友 {{ user_id }}", subject="hi {{ age }}", caller=MARKETER
    )
    members = demo_ws.select("age < 30")
    assert shown["audience"] == len(members)
    assert shown["reads"] == ["age", "city", "user_id"]
    real = _real(demo_ws, "city", "age")
    first = [
        str(one_row(demo_ws.built.profile_file, u, [])["user_id"]) for u in list(members.bitmap)[:3]
    ]
    assert len(shown["samples"]) == 3
    for sample in shown["samples"]:
        row = real[sample["user_id"]]
        assert sample["text"] == f"{row['city'] or ''}的朋友 {sample['user_id']}"
        assert sample["subject"] == f"hi {row['age'] if row['age'] is not None else ''}"
    assert [s["user_id"] for s in shown["samples"]] == first
    assert demo_ws.campaigns.all(caller=MARKETER) == []  # nothing stored


def test_personal_data_is_masked_unless_the_role_may_see_it(demo_ws: Workspace) -> None:
    real = _real(demo_ws, "phone")
    masked = demo_ws.campaigns.preview("age >= 0", "call {{ phone }}", samples=5, caller=MARKETER)
    assert len(masked["samples"]) == 5
    for sample in masked["samples"]:
        phone = real[sample["user_id"]]["phone"]
        assert sample["text"] == f"call {mask_text(phone) if phone is not None else ''}"
    clear = demo_ws.campaigns.preview("age >= 0", "call {{ phone }}", samples=5, caller=ADMIN)
    for sample in clear["samples"]:
        phone = real[sample["user_id"]]["phone"]
        assert sample["text"] == f"call {phone if phone is not None else ''}"
    actions = [e["action"] for e in demo_ws.audit.entries()]
    assert "campaign:preview" in actions and "campaign:preview:unmasked" in actions


def test_render_errors_are_shown_per_user_without_personal_data(demo_ws: Workspace) -> None:
    shown = demo_ws.campaigns.preview(
        "age >= 0", "{{ 100 // (email | length - 21) }}", caller=MARKETER
    )
    assert all(
        s["error"].startswith("template error (its text is withheld") for s in shown["samples"]
    )
    broken = demo_ws.campaigns.preview("age >= 0", "{{ 1 // 0 }}", caller=MARKETER)
    assert all("ZeroDivisionError" in s["error"] for s in broken["samples"])


@pytest.mark.parametrize(
    ("template", "subject", "where", "message"),
    [
        ("hi {{ ctiy }}", None, "template", "template uses 'ctiy', which is not a built tag"),
        ("hi", "{{ oops", "subject", "template does not parse"),
        ("   ", None, "template", "the template is empty"),
    ],
)
def test_bad_templates_name_the_part(
    demo_ws: Workspace, template: str, subject: str | None, where: str, message: str
) -> None:
    with pytest.raises(InputError) as caught:
        demo_ws.campaigns.preview("age >= 0", template, subject=subject, caller=MARKETER)
    assert caught.value.where == where and caught.value.message.startswith(message)
    if "ctiy" in template:
        assert caught.value.hint == "did you mean 'city'?"


def test_an_unknown_segment_and_a_lower_role_are_refused(demo_ws: Workspace) -> None:
    with pytest.raises(NotFoundError, match="no segment named 'nobody'"):
        demo_ws.campaigns.preview("nobody", "hi", caller=MARKETER)
    with pytest.raises(AccessError, match="may not preview campaigns"):
        demo_ws.campaigns.preview("age >= 0", "hi", caller=Caller("al", "analyst"))


def test_the_form_helpers_channels_actions_and_where_a_missing_segment_is(
    demo_ws: Workspace,
) -> None:
    assert demo_ws.campaigns.channels(caller=MARKETER) == ["file"]
    with pytest.raises(AccessError):
        demo_ws.campaigns.channels(caller=Caller("al", "analyst"))
    assert demo_ws.campaigns.actions("draft") == {"launch": True, "cancel": True}
    assert demo_ws.campaigns.actions("completed") == {"launch": False, "cancel": False}
    definition = {
        "name": "gone",
        "audience": "no_such",
        "channel": "file",
        "variants": [{"name": "A", "weight": 100, "template": "hi"}],
    }
    with pytest.raises(NotFoundError) as caught:
        demo_ws.campaigns.create(definition, caller=MARKETER)
    assert caught.value.where == "audience"
