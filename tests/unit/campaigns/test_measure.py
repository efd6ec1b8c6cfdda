"""What campaigns did (portrait/campaigns/measure.py) on a real SQLite metadata database and
Parquet orders and events: responses tied to the user's latest run (rejects, duplicates),
attribution windows, conversions from responses, orders and events, the report's counts, and a
user's history."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy import stats

from portrait.campaigns.measure import (
    effect_report,
    event_totals,
    load_responses,
    order_totals,
    user_history,
)
from portrait.campaigns.responses import ResponseReport, ResponseRow
from portrait.errors import InputError, NotFoundError
from portrait.model.campaigns import CampaignSpec, RunState
from portrait.store.campaigns import CampaignRepository
from portrait.store.metadata import MetadataStore, open_database

T0 = dt.datetime(2026, 10, 1, 12, 0, tzinfo=dt.UTC)
HOUR, DAY = dt.timedelta(hours=1), dt.timedelta(days=1)
GROUPS = {0: "control", 1: "control", 2: "control", 3: "A", 4: "A", 5: "A", 6: "A"}
GROUPS |= {7: "B", 8: "B", 9: "B"}
STATES = dict.fromkeys((0, 1, 2), "control") | {6: "suppressed"}


def spec(**more: object) -> CampaignSpec:
    return CampaignSpec.model_validate(
        {
            "name": "c",
            "audience": "age > 1",
            "channel": "file",
            "control": 20,
            "variants": [
                {"name": "A", "weight": 40, "template": "a"},
                {"name": "B", "weight": 40, "template": "b"},
            ],
            "attribution_days": 7,
            "cost_per_message": 0.1,
            **more,
        }
    )


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[CampaignRepository]:
    engine = open_database(f"sqlite:///{tmp_path / 'metadata.db'}", tmp_path)
    yield CampaignRepository(MetadataStore(engine))
    engine.dispose()


def launch(repo: CampaignRepository, name: str = "c", at: dt.datetime = T0) -> int:
    """A run of users 0-9: 0-2 the control, 3-6 A (5 fails, 6 is over the cap), 7-9 B; A is
    sent an hour after the start, B two hours after."""
    uids = sorted(GROUPS)
    run = repo.start_run(
        name,
        "file",
        started_at=at,
        profile_version="v1",
        as_of=None,
        batch_size=10,
        uids=uids,
        user_ids=[f"u{u}" for u in uids],
        groups=[GROUPS[u] for u in uids],
        states=[STATES.get(u, "pending") for u in uids],
        reasons=["frequency cap" if u == 6 else None for u in uids],
    )
    repo.record_batch(name, run, 3, (3, 6), failed=[(5, "no address")], refused=None, at=at + HOUR)
    repo.record_batch(name, run, 7, (7, 9), failed=[], refused=None, at=at + 2 * HOUR)
    return run


def rows(*answers: tuple[str, str, str, dt.datetime, float | None]) -> list[ResponseRow]:
    return [ResponseRow(i, *a) for i, a in enumerate(answers, start=1)]


ANSWERS = rows(
    ("c", "u3", "delivered", T0 + 2 * HOUR, None),
    ("c", "u3", "clicked", T0 + 3 * HOUR, None),
    ("c", "u3", "converted", T0 + DAY, 50.0),
    ("c", "u3", "delivered", T0 + 2 * HOUR, None),  # the same again in the file
    ("c", "u4", "converted", T0 + dt.timedelta(minutes=30), 9.0),  # before its send
    ("c", "u4", "converted", T0 + HOUR + 7 * DAY, 9.0),  # just after the window
    ("c", "u7", "opened", T0 + 5 * HOUR, None),
    ("c", "u0", "converted", T0 + DAY, 1.0),  # the control is sent nothing
    ("c", "u5", "clicked", T0 + DAY, None),  # failed
    ("c", "u6", "clicked", T0 + DAY, None),  # suppressed
    ("c", "u99", "clicked", T0 + DAY, None),
    ("gone", "u3", "clicked", T0 + DAY, None),
    ("c", "u1", "opened", T0 + DAY, None),  # the control opens nothing: it was sent nothing
)


def test_responses_are_tied_to_sent_users_and_stored_once(repo: CampaignRepository) -> None:
    launch(repo)
    report = load_responses(repo, ANSWERS, ResponseReport("file.csv"), known={"c"})
    assert (report.loaded, report.duplicates, report.rejected) == (9, 1, 3)
    # the control's conversion and the clicks of a failed and a suppressed user are their own
    assert report.organic == 3
    organic_only = (
        "user was not sent a message (control): only clicks and conversions can be organic"
    )
    assert report.reasons == {
        "user not in the campaign": 1,
        "unknown campaign": 1,
        organic_only: 1,
    }
    assert report.examples[2] == {
        "row": 13,
        "reason": organic_only,
        "campaign": "c",
        "user_id": "u1",
        "response": "opened",
    }
    # loading the same rows again stores nothing new: every accepted row is a duplicate
    again = load_responses(repo, ANSWERS, ResponseReport("file.csv"), known={"c"})
    assert (again.loaded, again.duplicates, again.rejected) == (0, 10, 3)


def test_responses_go_to_the_users_latest_run(repo: CampaignRepository) -> None:
    launch(repo)
    repo.finish_run("c", 1, RunState.COMPLETED, T0 + DAY)
    second = launch(repo, at=T0 + 10 * DAY)
    answer = rows(("c", "u3", "clicked", T0 + 11 * DAY, None))
    assert load_responses(repo, answer, ResponseReport("r"), known={"c"}).loaded == 1
    assert [r.uid for r in repo.responses("c", second)] == [3]
    assert repo.responses("c", 1) == []


def orders(path: Path, *lines: tuple[str, dt.datetime, float]) -> Path:
    table = pa.table(
        {
            "user_id": [u for u, _, _ in lines],
            "ts": pa.array([t for _, t, _ in lines], pa.timestamp("us", tz="UTC")),
            "amount": [a for _, _, a in lines],
        }
    )
    pq.write_table(table, path)
    return path


def events(path: Path, *lines: tuple[str, dt.datetime, str]) -> Path:
    """Events with naive timestamps (UTC without the zone in the type)."""
    table = pa.table(
        {
            "user_id": [u for u, _, _ in lines],
            "ts": pa.array(
                [t.astimezone(dt.UTC).replace(tzinfo=None) for _, t, _ in lines],
                pa.timestamp("us"),
            ),
            "event": [e for _, _, e in lines],
        }
    )
    pq.write_table(table, path)
    return path


def test_the_report_counts_each_group_within_the_attribution_window(
    repo: CampaignRepository, tmp_path: Path
) -> None:
    run = launch(repo)
    load_responses(repo, ANSWERS, ResponseReport("r"), known={"c"})
    bought = orders(
        tmp_path / "orders.parquet",
        ("u1", T0 + 2 * DAY, 30.0),  # the control converts by ordering
        ("u3", T0 + DAY, 40.0),  # the same purchase as its response (50): the larger counts
        ("u8", T0 + 7 * DAY, 99.0),  # the window ends 7 days after the start, exclusive
        ("u8", T0 - dt.timedelta(seconds=1), 99.0),  # before the start
        ("u9", T0 + 7 * DAY - HOUR, 15.0),
        ("u9", T0 + 2 * DAY, 5.0),  # a user's orders in the window add up
        ("u42", T0 + DAY, 500.0),  # not in the campaign
    )
    signed_up = events(
        tmp_path / "events.parquet",
        ("u2", T0 + DAY, "signup"),
        ("u7", T0 + DAY, "view"),
        ("u8", T0 + 8 * DAY, "signup"),  # too late
    )
    report = effect_report(repo, spec(conversion_event="signup"), None, [bought], [signed_up])
    assert (report["campaign"], report["run"], report["run_state"]) == ("c", run, "running")
    assert report["started_at"] == T0.isoformat(timespec="seconds")
    assert report["attribution_days"] == 7 and report["delivery_receipts"] is True
    groups = {g["group"]: g for g in report["groups"]}
    wanted = {
        # group: targeted, sent, failed, suppressed, delivered, opened, clicked, converted,
        # revenue
        # the control's own purchase (u0's response, 1.0) and order (u1) are organic
        "control": (3, 0, 0, 0, 0, 0, 0, 3, 31.0),
        # u5 (failed) and u6 (suppressed) clicked on their own
        "A": (4, 2, 1, 1, 1, 0, 3, 1, 50.0),
        "B": (3, 3, 0, 0, 0, 1, 0, 1, 20.0),
    }
    fields = ("targeted", "sent", "failed", "suppressed", "delivered", "opened", "clicked")
    for group, numbers in wanted.items():
        found = tuple(groups[group][f] for f in (*fields, "converted", "revenue"))
        assert found == numbers, group
    assert groups["A"]["cost"] == pytest.approx(0.2) and groups["B"]["cost"] == pytest.approx(0.3)
    assert groups["A"]["uplift"] == pytest.approx(1 / 4 - 3 / 3)

    observed, weights = [3, 4, 3], [20, 40, 40]
    chi2, p = stats.chisquare(observed, [10 * w / 100 for w in weights])
    assert report["srm"]["observed"] == observed
    assert report["srm"]["expected"] == [2.0, 4.0, 4.0]
    assert report["srm"]["chi2"] == pytest.approx(chi2) and report["srm"]["p_value"] == (
        pytest.approx(p)
    )
    assert report["verdict"] and not report["srm"]["mismatch"]

    # without the conversion event the sign-up does not count; without files, orders neither
    plain = effect_report(repo, spec(), run, [bought])
    assert {g["group"]: g["converted"] for g in plain["groups"]} == {
        "control": 2,
        "A": 1,
        "B": 1,
    }
    bare = effect_report(repo, spec(), run, [])
    assert {g["group"]: (g["converted"], g["revenue"]) for g in bare["groups"]} == {
        "control": (1, 1.0),
        "A": (1, 50.0),
        "B": (0, 0.0),
    }


def test_the_report_reads_the_run_asked_or_the_latest(repo: CampaignRepository) -> None:
    with pytest.raises(InputError, match="campaign 'c' has not run yet") as never:
        effect_report(repo, spec(), None, [])
    assert never.value.hint == "portrait campaign launch c"
    launch(repo)
    repo.finish_run("c", 1, RunState.COMPLETED, T0 + DAY)
    launch(repo, at=T0 + 10 * DAY)
    assert effect_report(repo, spec(), None, [])["run"] == 2
    first = effect_report(repo, spec(), 1, [])
    assert (first["run"], first["run_state"]) == (1, "completed")
    assert first["delivery_receipts"] is False  # no response at all
    with pytest.raises(NotFoundError, match="campaign 'c' has no run 3"):
        effect_report(repo, spec(), 3, [])


def test_orders_and_events_in_a_window(tmp_path: Path) -> None:
    bought = orders(
        tmp_path / "o.parquet",
        ("u1", T0, 10.0),  # the start is in
        ("u1", T0 + DAY - dt.timedelta(microseconds=1), 2.5),
        ("u2", T0 + DAY, 7.0),  # the end is out
        ("u3", T0 + HOUR, 1.0),  # not targeted
    )
    position = {"u1": 0, "u2": 1, "u7": 2}  # u7 bought nothing

    def ids(user_ids: pa.Array) -> np.ndarray:
        return np.array([position.get(u, -1) for u in user_ids.to_pylist()])

    count, amount = order_totals([bought], ids, 3, T0, T0 + DAY)
    assert count.tolist() == [2.0, 0.0, 0.0] and amount.tolist() == [12.5, 0.0, 0.0]
    # a window given in another zone is the same moment
    shanghai = dt.timezone(dt.timedelta(hours=8))
    _, amount = order_totals([bought], ids, 3, T0.astimezone(shanghai), T0 + DAY)
    assert amount.tolist() == [12.5, 0.0, 0.0]
    assert order_totals([], ids, 3, T0, T0 + DAY)[1].tolist() == [0.0, 0.0, 0.0]
    seen = events(
        tmp_path / "e.parquet",
        ("u1", T0 + HOUR, "signup"),
        ("u2", T0 + HOUR, "view"),
        ("u2", T0 + 2 * DAY, "signup"),
        ("u2", T0 + 2 * DAY + HOUR, "signup"),
        ("u9", T0 + HOUR, "signup"),
    )
    assert event_totals([seen], "signup", ids, 3, T0, T0 + DAY).tolist() == [1.0, 0.0, 0.0]
    assert event_totals([seen], "signup", ids, 3, T0, T0 + 3 * DAY).tolist() == [1.0, 2.0, 0.0]
    assert event_totals([], "signup", ids, 3, T0, T0 + DAY).tolist() == [0.0, 0.0, 0.0]


def test_a_users_history(repo: CampaignRepository) -> None:
    launch(repo)
    load_responses(repo, ANSWERS, ResponseReport("r"), known={"c"})
    assert user_history(repo, 3) == [
        {
            "campaign": "c",
            "run": 1,
            "group": "A",
            "state": "sent",
            "sent_at": (T0 + HOUR).isoformat(timespec="seconds"),
            "reason": None,
            "responses": ["delivered", "clicked", "converted"],  # funnel order
        }
    ]
    [suppressed] = user_history(repo, 6)
    assert (suppressed["state"], suppressed["reason"], suppressed["sent_at"]) == (
        "suppressed",
        "frequency cap",
        None,
    )
    assert user_history(repo, 4)[0]["responses"] == ["converted"]  # stored, if not attributed
    assert user_history(repo, 42) == []


def test_window_edges_hold_to_the_microsecond(repo: CampaignRepository) -> None:
    """A run started at an odd microsecond: the control's organic click at that very moment
    is in the window, one a microsecond before is not; the window's end is exclusive to the
    microsecond too (the database's times and the run's start compare exactly)."""
    start = T0 + dt.timedelta(microseconds=123_456)
    run = launch(repo, at=start)
    week = dt.timedelta(days=7)
    tick = dt.timedelta(microseconds=1)
    answers = rows(
        ("c", "u0", "clicked", start, None),  # the first moment: in
        ("c", "u1", "clicked", start - tick, None),  # a microsecond early: out
        ("c", "u2", "clicked", start + week - tick, None),  # the last moment: in
        ("c", "u2", "converted", start + week, 3.0),  # the end: out
    )
    assert load_responses(repo, answers, ResponseReport("r"), known={"c"}).loaded == 4
    control = effect_report(repo, spec(), run, [])["groups"][0]
    assert control["group"] == "control"
    assert (control["clicked"], control["converted"], control["revenue"]) == (2, 0, 0.0)
