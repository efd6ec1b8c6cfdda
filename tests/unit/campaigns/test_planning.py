"""Planning a run (portrait/campaigns/planning.py) on a small Parquet profile: the split follows
the assignment, the cap suppresses outside the control only, the SRM check is scipy's, a dry
run renders every message, keeps samples and errors, and masks personal data in what it
shows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyroaring import BitMap
from scipy import stats

from portrait.campaigns.assignment import assign
from portrait.campaigns.planning import (
    WITHHELD,
    CapCheck,
    Plan,
    cap_reason,
    effective_cap,
    mask_values,
    plan_run,
)
from portrait.campaigns.templates import compile_templates
from portrait.index.rows import ProfileRows
from portrait.model.campaigns import CampaignSpec, FrequencyCap
from portrait.model.pii import mask_text
from portrait.store.campaigns import CampaignRepository
from portrait.store.metadata import MetadataStore, open_database

N = 3000
T0 = dt.datetime(2026, 10, 1, 12, 0, tzinfo=dt.UTC)
CITIES = ["北京", "上海", "广州"]
MEMBERS = BitMap(u for u in range(N) if u % 7)  # gaps: positions are not uids


def no_cap(uids: np.ndarray) -> np.ndarray:
    return np.zeros(len(uids), dtype=bool)


def user_id(uid: int) -> str:
    return f"u{uid:05d}"


def phone(uid: int) -> str:
    return f"138{uid:08d}"


@pytest.fixture(scope="module")
def profile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One row per uid: user_id, city, age (0 for every 50th user), phone."""
    path = tmp_path_factory.mktemp("profile") / "profile.parquet"
    uids = range(N)
    table = pa.table(
        {
            "user_id": [user_id(u) for u in uids],
            "city": [CITIES[u % 3] for u in uids],
            "age": [u % 50 for u in uids],
            "phone": [phone(u) for u in uids],
        }
    )
    pq.write_table(table, path, row_group_size=700)
    return path


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[CampaignRepository]:
    engine = open_database(f"sqlite:///{tmp_path / 'metadata.db'}", tmp_path)
    yield CampaignRepository(MetadataStore(engine))
    engine.dispose()


def spec(
    a: str = "hi {{ city }}", b: str = "{{ 100 // age }} for you", **more: Any
) -> CampaignSpec:
    return CampaignSpec.model_validate(
        {
            "name": "autumn",
            "audience": "age > 1",
            "channel": "file",
            "control": 10,
            "variants": [
                {"name": "A", "weight": 45, "template": a},
                {"name": "B", "weight": 45, "template": b},
            ],
            **more,
        }
    )


def plan(
    profile: Path,
    campaign: CampaignSpec,
    capped: Callable[[np.ndarray], np.ndarray] = no_cap,
    **options: Any,
) -> Plan:
    templates = compile_templates(campaign, ["city", "age", "phone"])
    options.setdefault("render", True)
    return plan_run(campaign, MEMBERS, templates, ProfileRows(profile), capped, **options)


def test_the_split_follows_the_assignment(profile: Path) -> None:
    campaign = spec()
    result = plan(profile, campaign, render=False)
    assert result.uids.tolist() == list(MEMBERS)
    assert result.user_ids == [user_id(u) for u in MEMBERS]
    expected = assign(campaign.hash_salt, result.user_ids, [10, 45, 45])
    assert result.group_index.tolist() == expected.tolist()
    sizes = np.bincount(expected, minlength=3).tolist()
    assert [(g.group, g.percent, g.users) for g in result.groups] == [
        ("control", 10, sizes[0]),
        ("A", 45, sizes[1]),
        ("B", 45, sizes[2]),
    ]
    assert [g.to_send for g in result.groups] == [0, sizes[1], sizes[2]]  # the control: none
    assert not result.suppressed.any()
    # nothing rendered without ``render``
    assert (result.rendered, result.samples, result.render_errors) == (0, [], [])


def test_the_sample_ratio_check_is_scipys_chi_square(profile: Path) -> None:
    result = plan(profile, spec(), render=False)
    observed = [g.users for g in result.groups]
    total = sum(observed)
    chi2, p = stats.chisquare(observed, [total * 0.1, total * 0.45, total * 0.45])
    assert result.srm.p_value == pytest.approx(p, rel=1e-12)
    assert result.srm.chi2 == pytest.approx(chi2, rel=1e-12)
    assert not result.srm.mismatch  # the hash splits as the weights say


def test_the_cap_suppresses_users_outside_the_control_only(profile: Path) -> None:
    def every_third(uids: np.ndarray) -> np.ndarray:
        return uids % 3 == 0

    result = plan(profile, spec(), every_third, render=False)
    in_control = result.group_index == 0
    assert (result.suppressed == ((result.uids % 3 == 0) & ~in_control)).all()
    for k, group in enumerate(result.groups):
        members = result.uids[result.group_index == k]
        capped = int((members % 3 == 0).sum())
        if group.group == "control":
            assert (group.suppressed, group.to_send) == (0, 0)
        else:
            assert group.suppressed == capped and group.to_send == len(members) - capped
    shown = result.to_dict()
    assert (
        shown["suppressed"]
        == int(result.suppressed.sum())
        == sum(g.suppressed for g in result.groups)
    )
    assert shown["audience"] == len(MEMBERS) and shown["campaign"] == "autumn"


def test_a_dry_run_renders_every_message_and_reports_the_failures(profile: Path) -> None:
    result = plan(profile, spec(), samples=2)
    sendable = [
        (uid, "AB"[k - 1])
        for uid, k in zip(result.uids.tolist(), result.group_index.tolist(), strict=True)
        if k
    ]
    failing = [uid for uid, group in sendable if group == "B" and uid % 50 == 0]  # age 0
    assert failing
    assert result.rendered == len(sendable) - len(failing)
    assert result.render_errors == [
        {
            "user_id": user_id(uid),
            "variant": "B",
            "error": "template error: ZeroDivisionError: integer division or modulo by zero",
        }
        for uid in failing
    ]
    # two samples per variant, each the message of the user it names
    assert [s["variant"] for s in result.samples] == ["A", "A", "B", "B"]
    for sample in result.samples:
        uid = int(sample["user_id"][1:])
        text = (
            f"hi {CITIES[uid % 3]}" if sample["variant"] == "A" else f"{100 // (uid % 50)} for you"
        )
        assert (sample["text"], sample["subject"]) == (text, None)
    shown = result.to_dict()
    assert (
        shown["render_errors"] == len(failing)
        and shown["first_errors"] == (result.render_errors[:5])
    )


def test_the_suppressed_and_the_control_are_not_rendered(profile: Path) -> None:
    def everyone(uids: np.ndarray) -> np.ndarray:
        return np.ones(len(uids), dtype=bool)

    result = plan(profile, spec(), everyone)
    assert (result.rendered, result.samples, result.render_errors) == (0, [], [])


def test_personal_data_is_masked_in_samples_unless_unmasked(profile: Path) -> None:
    campaign = spec(a="call {{ phone }}", b="{{ city }}")
    masked = plan(profile, campaign, masked={"phone"}, samples=1)
    [a, b] = masked.samples
    uid = int(a["user_id"][1:])
    assert a["text"] == f"call {mask_text(phone(uid))}" == f"call 138****{phone(uid)[-4:]}"
    assert b["text"] in CITIES  # a variant that reads no personal data is shown as it is
    clear = plan(profile, campaign, masked=set(), samples=1)
    assert clear.samples[0]["text"] == f"call {phone(uid)}"


def test_errors_only_real_values_cause_are_withheld(profile: Path) -> None:
    # the real phone of uid 1 makes the error; its masked value does not
    target = phone(1)
    trap = f"{{% if phone == '{target}' %}}{{{{ 1 // 0 }}}}{{% endif %}}ok {{{{ phone }}}}"
    result = plan(profile, spec(a=trap, b=trap), masked={"phone"})
    assert [e["error"] for e in result.render_errors] == [WITHHELD]
    assert result.render_errors[0]["user_id"] == user_id(1)
    # unmasked, the caller sees the error itself
    clear = plan(profile, spec(a=trap, b=trap), masked=set())
    assert clear.render_errors[0]["error"].startswith("template error: ZeroDivisionError")
    # an error the masked values make too is shown (its text cannot quote the real ones)
    both = "{{ phone }}{{ 1 // 0 if age == 0 else '' }}"
    shown = plan(profile, spec(a=both, b=both), masked={"phone"})
    assert shown.render_errors
    assert {e["error"] for e in shown.render_errors} == {
        "template error: ZeroDivisionError: integer division or modulo by zero"
    }


def test_a_message_that_renders_only_with_real_values_is_no_sample(profile: Path) -> None:
    picky = "{% if '*' in phone %}{{ 1 // 0 }}{% endif %}{{ phone }}"
    result = plan(profile, spec(a=picky, b=picky), masked={"phone"})
    assert result.samples == []  # every masked rendering fails
    assert result.rendered == sum(g.to_send for g in result.groups)  # sending would work
    assert result.render_errors == []


def test_the_campaigns_cap_overrides_the_workspaces() -> None:
    settings = {"campaigns.cap_messages": 2, "campaigns.cap_days": 7}
    assert effective_cap(spec(), settings) == FrequencyCap(messages=2, days=7)
    own = spec(cap={"messages": 1, "days": 30})
    assert effective_cap(own, settings) == FrequencyCap(messages=1, days=30)
    assert effective_cap(spec(), {"campaigns.cap_messages": 0, "campaigns.cap_days": 7}) is None
    assert cap_reason(FrequencyCap(messages=2, days=7), "sms") == (
        "frequency cap: 2 per 7 days on sms"
    )
    assert cap_reason(None, "sms") is None


def test_mask_values_masks_lists_element_by_element() -> None:
    values = {"user_id": "u1", "phone": "13812345678", "emails": ["a@example.com", "bob"]}
    masked = mask_values({**values, "city": None}, ["phone", "emails", "city"])
    assert masked == {
        "user_id": "u1",
        "phone": "138****5678",
        "emails": [mask_text("a@example.com"), mask_text("bob")],
        "city": None,
    }
    assert values["phone"] == "13812345678"  # a copy


def test_the_cap_check_counts_what_was_sent_on_the_channel(repo: CampaignRepository) -> None:
    def sent(name: str, uids: list[int], at: dt.datetime, channel: str = "sms") -> None:
        run = repo.start_run(
            name,
            channel,
            started_at=at,
            profile_version="v1",
            as_of=None,
            batch_size=10,
            uids=uids,
            user_ids=[user_id(u) for u in uids],
            groups=["A"] * len(uids),
            states=["pending"] * len(uids),
            reasons=[None] * len(uids),
        )
        repo.record_batch(name, run, 1, (min(uids), max(uids)), failed=[], refused=None, at=at)

    sent("a", [1, 2, 3], T0 - dt.timedelta(days=1))
    sent("b", [2, 3], T0 - dt.timedelta(days=3))
    sent("c", [3], T0 - dt.timedelta(days=20))  # outside a week
    sent("d", [4, 4 + 1], T0, channel="email")
    uids = np.arange(8)
    twice_a_week = CapCheck(repo, "sms", FrequencyCap(messages=2, days=7), T0)
    assert np.flatnonzero(twice_a_week(uids)).tolist() == [2, 3]
    once_a_week = CapCheck(repo, "sms", FrequencyCap(messages=1, days=7), T0)
    assert np.flatnonzero(once_a_week(uids)).tolist() == [1, 2, 3]
    thrice_a_month = CapCheck(repo, "sms", FrequencyCap(messages=3, days=30), T0)
    assert np.flatnonzero(thrice_a_month(uids)).tolist() == [3]
    assert not CapCheck(repo, "sms", None, T0)(uids).any()
    assert CapCheck(repo, "sms", FrequencyCap(messages=1, days=7), T0)(uids[:0]).size == 0
