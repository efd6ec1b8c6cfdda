"""Campaigns through the Python API and the CLI, on a real demo workspace: definitions checked,
deterministic assignment, the file channel, frequency caps, schedules and send windows,
responses, the effect report against statsmodels and an independent pandas count, and
retargeting with ``campaign("NAME", "clicked")``."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest
from typer.testing import CliRunner

import portrait
from portrait.campaigns.assignment import assign, bucket
from portrait.cli import app
from portrait.errors import InputError, NotFoundError
from portrait.stats import srm_test
from portrait.workspace import Workspace
from tests.campaign_specs import ab_test

AUDIENCE = "age between 25 and 45"
T0 = dt.datetime(2026, 10, 1, 12, 0, tzinfo=dt.UTC)  # inside the demo's data period


def spec(name: str = "autumn", **changes: Any) -> dict[str, Any]:
    return {**ab_test(name, AUDIENCE, "file", cost_per_message=0.05), **changes}


class Clock:
    def __init__(self, now: dt.datetime):
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


def small_batches(ws: Workspace, size: int = 200) -> Workspace:
    """The workspace again, its file channel sending batches of ``size``."""
    (ws.root / "portrait.toml").write_text(
        f'[channels.file]\ntype = "file"\nbatch_size = {size}\n', encoding="utf-8"
    )
    return portrait.open(ws.root)


def outbox(ws: Workspace, name: str) -> list[dict[str, Any]]:
    folder = ws.root / "campaigns" / "outbox" / name
    return [
        json.loads(line)
        for path in sorted(folder.rglob("*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
    ]


# -- definitions -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"control": 20}, "must add up to 100: A 45 + B 45 + control 20 = 110"),
        ({"schedule": {"kind": "cron", "cron": "61 * * * *"}}, "does not parse"),
        ({"timezone": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
        (
            {"variants": [{"name": "A", "weight": 45, "template": "x"}] * 2},
            "variant 'A' is defined twice",
        ),
        (
            {"variants": [{"name": "control", "weight": 90, "template": "x"}]},
            "'control' is the holdout's name",
        ),
        ({"send_window": {"start": "19:00", "end": "25:00"}}, "'25:00' is not a time of day"),
        ({"name": "bad name"}, "campaign 'bad name' must start with a letter"),
    ],
)
def test_bad_definitions_are_refused(
    demo_ws: Workspace, changes: dict[str, Any], message: str
) -> None:
    campaigns = demo_ws.campaigns()
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace("+", r"\+")):
        campaigns.create(spec(**changes))
    assert campaigns.names() == []  # nothing stored


def test_templates_audience_and_channel_are_checked(demo_ws: Workspace) -> None:
    campaigns = demo_ws.campaigns()
    bad_tag = spec(variants=[{"name": "A", "weight": 90, "template": "{{ citty }}"}])
    with pytest.raises(InputError, match="template uses 'citty', which is not a built tag") as exc:
        campaigns.create(bad_tag)
    assert "did you mean 'city'" in str(exc.value)
    assert "variant 'A' template" in str(exc.value)
    broken = spec(variants=[{"name": "A", "weight": 90, "template": "{{ city "}])
    with pytest.raises(InputError, match="template does not parse"):
        campaigns.create(broken)
    with pytest.raises(InputError, match="no channel named 'sms'"):
        campaigns.create(spec(channel="sms"))
    with pytest.raises(NotFoundError, match="no segment named 'vipz'"):
        campaigns.create(spec(audience="vipz"))
    with pytest.raises(InputError, match="unknown tag 'agee'"):
        campaigns.create(spec(audience="agee > 3"))
    assert campaigns.names() == []
    campaigns.create(spec())
    with pytest.raises(InputError, match="already exists"):
        campaigns.create(spec())


# -- assignment ----------------------------------------------------------------------------
def test_assignment_is_deterministic_and_follows_the_weights() -> None:
    ids = [f"u{i:07d}" for i in range(60_000)]
    first = assign("salt-1", ids, [10, 45, 45])
    assert np.array_equal(first, assign("salt-1", ids, [10, 45, 45]))  # reruns agree
    assert np.array_equal(first[:1000], assign("salt-1", ids[:1000], [10, 45, 45]))  # per user
    counts = np.bincount(first, minlength=3)
    assert not srm_test(counts.tolist(), [10, 45, 45]).mismatch
    other = assign("salt-2", ids, [10, 45, 45])
    assert (first != other).mean() > 0.4  # another salt: an independent split
    assert 0 <= bucket("s", "u1") < 1_000_000


def test_srm_matches_scipy() -> None:
    from scipy.stats import chisquare

    result = srm_test([1000, 4600, 4400], [10, 45, 45])
    expected = chisquare([1000, 4600, 4400], [1000, 4500, 4500])
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-12)
    assert not result.mismatch
    assert srm_test([700, 4650, 4650], [10, 45, 45]).mismatch


# -- dry run and launch ------------------------------------------------------------------------
def test_dry_run_then_launch_to_the_file_channel(demo_ws: Workspace) -> None:
    demo_ws = small_batches(demo_ws)
    campaigns = demo_ws.campaigns(clock=Clock(T0), actor="alice")
    campaigns.create(spec())
    plan = campaigns.dry_run("autumn").to_dict()
    audience = demo_ws.select(AUDIENCE)
    assert plan["audience"] == len(audience)
    sizes = {g["group"]: g["users"] for g in plan["groups"]}
    assert sum(sizes.values()) == len(audience)
    assert plan["rendered"] == sizes["A"] + sizes["B"] and plan["render_errors"] == 0
    assert {s["variant"] for s in plan["samples"]} == {"A", "B"}
    assert not outbox(demo_ws, "autumn")  # a dry run sends nothing
    assert campaigns.state("autumn") == "draft"

    first = campaigns.launch("autumn", batch_limit=1)
    assert first.state == "running" and first.pending > 0
    done = campaigns.launch("autumn")
    assert done.state == "completed" and done.pending == 0
    assert done.sent == sizes["A"] + sizes["B"] and done.control == sizes["control"]
    messages = outbox(demo_ws, "autumn")
    ids = [m["user_id"] for m in messages]
    assert len(ids) == len(set(ids)) == done.sent  # each user once
    profile = demo_ws.profile(["city", "age_band"]).to_pandas().set_index("user_id")
    for m in messages:
        if m["variant"] == "A":
            assert m["text"] == f"{profile.loc[m['user_id'], 'city']}的朋友，秋季 8 折"
        else:
            assert m["text"].startswith(f"Hi {m['user_id']}, ")
    control = set(demo_ws.select('campaign("autumn", "control")').ids())
    assert len(control) == sizes["control"] and not set(ids) & control
    sent_ids = set(demo_ws.audience(demo_ws.select('campaign("autumn", "sent")')).ids())
    assert sent_ids == set(ids)
    # the split is what the dry run said, and a second dry run agrees
    assert {
        g["group"]: g["users"] for g in campaigns.dry_run("autumn").to_dict()["groups"]
    } == sizes
    shown = campaigns.show("autumn")
    assert [e["action"] for e in shown["log"]] == ["create", "launch", "complete"]
    assert {e["actor"] for e in shown["log"]} == {"alice"}
    assert shown["runs"][0]["deliveries"] == {"sent": done.sent, "control": done.control}
    with pytest.raises(InputError, match="is completed"):
        campaigns.launch("autumn")


def test_frequency_cap_across_campaigns(demo_ws: Workspace) -> None:
    (demo_ws.root / "portrait.toml").write_text(
        "[campaigns]\ncap_messages = 1\ncap_days = 7\n", encoding="utf-8"
    )
    ws = portrait.open(demo_ws.root)
    clock = Clock(T0)
    campaigns = ws.campaigns(clock=clock)
    campaigns.create(spec("first", audience="age between 25 and 30"))
    first = campaigns.launch("first")
    campaigns.create(spec("second"))
    plan = campaigns.dry_run("second").to_dict()
    second = campaigns.launch("second")
    assert second.suppressed == plan["suppressed"] > 0
    already = set(campaigns.members("first", "sent"))
    suppressed = (
        set(campaigns.members("second", "targeted"))
        - set(campaigns.members("second", "sent"))
        - set(campaigns.members("second", "control"))
    )
    assert suppressed == already & set(campaigns.members("second", "targeted")) - set(
        campaigns.members("second", "control")
    )
    assert first.sent > 0
    # eight days later the window has passed: nobody is capped
    clock.now = T0 + dt.timedelta(days=8)
    campaigns.create(spec("third"))
    assert campaigns.dry_run("third").to_dict()["suppressed"] == 0
    # a campaign's own cap overrides the workspace's
    campaigns.create(spec("fourth", cap={"messages": 5, "days": 30}))
    assert campaigns.dry_run("fourth").to_dict()["suppressed"] == 0


def test_schedule_send_window_and_cancel(demo_ws: Workspace) -> None:
    demo_ws = small_batches(demo_ws)
    clock = Clock(T0)  # 20:00 in Shanghai
    campaigns = demo_ws.campaigns(clock=clock)
    later = T0 + dt.timedelta(days=1)
    campaigns.create(spec("later", schedule={"kind": "at", "at": later.isoformat()}))
    report = campaigns.launch("later")
    assert report.state == "scheduled" and report.sent == 0
    assert campaigns.state("later") == "scheduled"
    assert [r.state for r in campaigns.launch_due()] == ["scheduled"]  # not due yet
    clock.now = later + dt.timedelta(minutes=1)
    due = campaigns.launch_due()
    assert [(r.campaign, r.state) for r in due] == [("later", "completed")]
    assert due[0].sent > 0

    clock.now = T0.replace(hour=2)  # 10:00 in Shanghai: outside 19:00-21:00
    campaigns.create(spec("evening", send_window={"start": "19:00", "end": "21:00"}))
    waiting = campaigns.launch("evening")
    assert waiting.sent == 0 and waiting.pending > 0 and "send window" in waiting.note
    clock.now = T0  # 20:00 in Shanghai
    assert campaigns.launch("evening").state == "completed"

    campaigns.create(spec("stopped"))
    campaigns.launch("stopped", batch_limit=1)
    assert campaigns.cancel("stopped")["state"] == "cancelled"
    with pytest.raises(InputError, match="is cancelled"):
        campaigns.launch("stopped")


def test_recurring_campaign_keeps_each_users_group(demo_ws: Workspace) -> None:
    clock = Clock(T0)
    campaigns = demo_ws.campaigns(clock=clock)
    campaigns.create(spec("weekly", schedule={"kind": "cron", "cron": "0 20 * * 4"}))
    assert campaigns.launch("weekly").state == "scheduled"  # run 1 done, waiting for the next
    assert campaigns.launch("weekly").note.startswith("scheduled")  # not due yet
    clock.now = T0 + dt.timedelta(days=7)
    second = campaigns.launch("weekly")
    assert second.run == 2
    runs = campaigns.show("weekly")["runs"]
    assert [r["run"] for r in runs] == [1, 2]
    history = {
        (h["run"], h["group"])
        for h in campaigns.history(next(iter(demo_ws.select(AUDIENCE).bitmap)))
    }
    assert len({g for _, g in history}) == 1  # the same group in both runs


def test_empty_audience_and_render_errors(demo_ws: Workspace) -> None:
    campaigns = demo_ws.campaigns(clock=Clock(T0))
    campaigns.create(spec("nobody", audience="age > 500"))
    assert campaigns.dry_run("nobody").to_dict()["audience"] == 0
    with pytest.raises(InputError, match="audience of campaign 'nobody' is empty"):
        campaigns.launch("nobody")
    divide = spec(
        "divide", variants=[{"name": "A", "weight": 90, "template": "{{ 100 // (age - age) }}"}]
    )
    campaigns.create(divide)
    plan = campaigns.dry_run("divide").to_dict()
    assert plan["render_errors"] == plan["groups"][1]["to_send"] > 0
    assert "ZeroDivisionError" in plan["first_errors"][0]["error"]
    report = campaigns.launch("divide")
    assert report.state == "failed" and report.sent == 0 and report.failed > 0


# -- responses, effect, retargeting ----------------------------------------------------------
def _responses(ws: Workspace, name: str, tmp: Path, seed: int = 3) -> tuple[Path, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    rows = []
    for m in outbox(ws, name):
        at = T0 + dt.timedelta(hours=1)
        rows.append((name, m["user_id"], "delivered", at.isoformat(), None))
        if rng.random() < (0.3 if m["variant"] == "B" else 0.15):
            rows.append(
                (name, m["user_id"], "clicked", (at + dt.timedelta(hours=1)).isoformat(), None)
            )
            if rng.random() < 0.5:
                day = at + dt.timedelta(days=int(rng.integers(0, 40)))  # some outside the window
                rows.append((name, m["user_id"], "converted", day.isoformat(), 88.0))
    frame = pd.DataFrame(rows, columns=["campaign", "user_id", "response", "ts", "revenue"])
    path = tmp / "responses.csv"
    pd.concat([frame, frame.head(5)]).to_csv(path, index=False)  # 5 duplicates
    return path, frame


def test_responses_report_and_retargeting(demo_ws: Workspace, tmp_path: Path) -> None:
    campaigns = demo_ws.campaigns(clock=Clock(T0))
    campaigns.create(spec(attribution_days=30))
    campaigns.launch("autumn")
    path, frame = _responses(demo_ws, "autumn", tmp_path)
    extra = pd.DataFrame(
        [
            ("nope", "u00000001", "clicked", T0.isoformat(), None),
            ("autumn", "u99999999", "clicked", T0.isoformat(), None),
            ("autumn", frame.user_id[0], "liked", T0.isoformat(), None),
            ("autumn", frame.user_id[0], "clicked", "yesterday", None),
        ],
        columns=frame.columns,
    )
    pd.concat([pd.read_csv(path), extra]).to_csv(path, index=False)
    loaded = campaigns.record_responses(path)
    assert loaded.loaded == len(frame)
    assert loaded.duplicates == 5
    assert loaded.reasons == {
        "unknown campaign": 1,
        "user not in the campaign": 1,
        "unknown response 'liked'": 1,
        "bad timestamp": 1,
    }
    again = campaigns.record_responses(path)
    assert again.loaded == 0 and again.duplicates == len(frame) + 5  # counted once

    # retargeting: clicked but did not convert, bitmap path and SQL path alike
    clicked = set(frame[frame.response == "clicked"].user_id)
    converted = set(frame[frame.response == "converted"].user_id)
    rule = 'campaign("autumn", "clicked") and not campaign("autumn", "converted")'
    audience = demo_ws.select(rule)
    assert set(audience.ids()) == clicked - converted
    assert demo_ws.select_sql(rule).bitmap == audience.bitmap
    with pytest.raises(NotFoundError, match="did you mean 'autumn'"):
        demo_ws.select('campaign("autum", "clicked")')

    report = campaigns.report("autumn")
    _check_report_independently(demo_ws, report, frame)


def _check_report_independently(ws: Workspace, report: dict[str, Any], frame: pd.DataFrame) -> None:
    """Recount every group from the outbox, the responses and the orders with pandas, then
    compare the statistics with statsmodels."""
    messages = pd.DataFrame(outbox(ws, "autumn"))
    control_ids = set(ws.audience(ws.select('campaign("autumn", "control")')).ids())
    window_end = T0 + dt.timedelta(days=report["attribution_days"])
    warehouse = ws.warehouse
    assert warehouse.path is not None
    orders = pd.concat(pd.read_parquet(p) for p in warehouse.tables["orders"].paths(warehouse.path))
    orders["ts"] = pd.to_datetime(orders["ts"], utc=True)
    in_window = orders[(orders.ts >= T0) & (orders.ts < window_end)]
    ordered = in_window.groupby("user_id").amount.sum()
    frame = frame.assign(ts=pd.to_datetime(frame.ts, utc=True))
    converted_resp = frame[
        (frame.response == "converted") & (frame.ts < window_end) & (frame.ts >= T0)
    ]
    revenue_resp = converted_resp.groupby("user_id").revenue.sum()
    groups = {g["group"]: g for g in report["groups"]}
    expected: dict[str, dict[str, Any]] = {}
    for group in ("A", "B", "control"):
        members = (
            control_ids if group == "control" else set(messages[messages.variant == group].user_id)
        )
        conv = {u for u in members if u in ordered.index or u in set(converted_resp.user_id)}
        revenue = sum(max(ordered.get(u, 0.0), revenue_resp.get(u, 0.0)) for u in members)
        expected[group] = {
            "targeted": len(members),
            "converted": len(conv),
            "clicked": len(set(frame[frame.response == "clicked"].user_id) & members),
            "revenue": round(revenue, 2),
        }
        for key, value in expected[group].items():
            assert groups[group][key] == pytest.approx(value), (group, key)
    control = expected["control"]
    assert control["converted"] > 0  # the control's conversions come from the orders
    for group in ("A", "B"):
        g = groups[group]
        count = [g["converted"], control["converted"]]
        nobs = [g["targeted"], control["targeted"]]
        _, p = proportions_ztest(count, nobs)
        low, high = confint_proportions_2indep(
            count[0], nobs[0], count[1], nobs[1], method="wald", compare="diff"
        )
        assert g["p_value"] == pytest.approx(p, rel=1e-9)
        assert g["uplift_low"] == pytest.approx(low, rel=1e-9)
        assert g["uplift_high"] == pytest.approx(high, rel=1e-9)
        ratio_low, ratio_high = confint_proportions_2indep(
            count[0], nobs[0], count[1], nobs[1], method="log", compare="ratio"
        )
        assert g["uplift_relative_low"] == pytest.approx(ratio_low - 1, rel=1e-9)
        assert g["uplift_relative_high"] == pytest.approx(ratio_high - 1, rel=1e-9)
        assert g["ctr"] == pytest.approx(g["clicked"] / g["delivered"])
        assert g["cost"] == pytest.approx(g["sent"] * 0.05)
        assert g["roi"] == pytest.approx((g["revenue"] - g["cost"]) / g["cost"], rel=1e-6)
    assert groups["control"]["cvr"] == pytest.approx(control["converted"] / control["targeted"])
    assert report["delivery_receipts"] is True
    assert not report["srm"]["mismatch"]
    # the variants against each other, on every metric; the same test as statsmodels'
    comparisons = {(c["metric"], c["baseline"], c["group"]): c for c in report["comparisons"]}
    b_vs_a = comparisons[("conversion_rate", "A", "B")]
    a, b = groups["A"], groups["B"]
    _, p = proportions_ztest([b["converted"], a["converted"]], [b["targeted"], a["targeted"]])
    assert b_vs_a["p_value"] == pytest.approx(p, rel=1e-9)
    assert {m for m, _, _ in comparisons} == {
        "click_rate",
        "conversion_rate",
        "click_to_conversion",
        "revenue_per_user",
        "revenue_per_converter",
    }
    assert any(line.startswith("Conversion rate, B vs A: ") for line in report["verdict"])


def test_sample_ratio_mismatch_is_reported(demo_ws: Workspace) -> None:
    from sqlalchemy import update

    from portrait.store.metadata import deliveries

    campaigns = demo_ws.campaigns(clock=Clock(T0))
    campaigns.create(spec())
    campaigns.launch("autumn")
    with demo_ws.metadata.transaction() as conn:  # lose most of B's records to A
        conn.execute(
            update(deliveries)
            .where(deliveries.c.grp == "B", deliveries.c.uid % 3 != 0)
            .values(grp="A")
        )
    report = campaigns.report("autumn")
    assert report["srm"]["mismatch"]
    assert report["verdict"][0].startswith("WARNING: sample ratio mismatch")


# -- the command line ----------------------------------------------------------------------
def test_cli_campaign_commands(demo_ws: Workspace, tmp_path: Path) -> None:
    runner = CliRunner()
    ws = ["-w", str(demo_ws.root)]
    definition = tmp_path / "autumn.yaml"
    definition.write_text(
        "name: autumn\n"
        f"audience: '{AUDIENCE}'\n"
        "channel: file\ncontrol: 10\n"
        "variants:\n"
        "  - {name: A, weight: 45, template: '{{ city }} 8 折'}\n"
        "  - {name: B, weight: 45, template: '礼包 {{ age_band }}'}\n",
        encoding="utf-8",
    )
    created = runner.invoke(app, ["campaign", "create", str(definition), *ws])
    assert created.exit_code == 0, created.output
    assert "campaign 'autumn' (draft)" in created.stderr.replace("\n", " ")
    dry = runner.invoke(app, ["campaign", "dry-run", "autumn", *ws, "-f", "json"])
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.stdout)["render_errors"] == 0
    launched = runner.invoke(app, ["campaign", "launch", "autumn", *ws, "-f", "json"])
    assert json.loads(launched.stdout)["state"] == "completed"
    listed = runner.invoke(app, ["campaign", "list", *ws, "-f", "json"])
    assert [c["state"] for c in json.loads(listed.stdout)] == ["completed"]
    shown = runner.invoke(app, ["campaign", "show", "autumn", *ws, "-f", "json"])
    assert json.loads(shown.stdout)["runs"][0]["state"] == "completed"
    responses = tmp_path / "r.csv"
    first = outbox(demo_ws, "autumn")[0]["user_id"]
    responses.write_text(
        f"campaign,user_id,response,ts\nautumn,{first},clicked,2026-11-23T10:00:00Z\n",
        encoding="utf-8",
    )
    loaded = runner.invoke(app, ["campaign", "responses", str(responses), *ws, "-f", "json"])
    assert json.loads(loaded.stdout)["loaded"] == 1
    chart = tmp_path / "funnel.png"
    report = runner.invoke(app, ["campaign", "report", "autumn", *ws, "--chart", str(chart)])
    assert report.exit_code == 0, report.output
    assert "effect" in report.stdout and chart.stat().st_size > 1000
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\naudience: 'age > 1'\nchannel: file\nvariants: []\n", encoding="utf-8")
    refused = runner.invoke(app, ["campaign", "create", str(bad), *ws])
    assert refused.exit_code == 2
    assert "variants" in refused.output
    missing = runner.invoke(app, ["campaign", "launch", "autum", *ws])
    assert missing.exit_code == 2 and "did you mean 'autumn'" in missing.output
    user = runner.invoke(app, ["user", first, *ws, "-f", "json"])
    assert json.loads(user.stdout)["campaigns"][0]["responses"] == ["clicked"]


def test_one_launch_at_a_time(demo_ws: Workspace) -> None:
    from portrait.errors import BusyError
    from portrait.store.versions import workspace_lock

    campaigns = demo_ws.campaigns(clock=Clock(T0))
    campaigns.create(spec())
    lock = demo_ws.root / "campaigns" / "locks" / "autumn.lock"
    with workspace_lock(lock), pytest.raises(BusyError, match="being launched by another"):
        campaigns.launch("autumn")  # another launch holds the campaign
    assert campaigns.state("autumn") == "draft"
    assert campaigns.launch("autumn").state == "completed"


def test_metadata_from_schema_2_is_upgraded(tmp_path: Path) -> None:
    """A database written before runs had a batch size gets the column (and loses the
    index that only cost writes) when opened, and the tables of later versions."""
    import sqlalchemy as sa

    from portrait.store.metadata import SCHEMA_VERSION, open_database

    path = tmp_path / "portrait.db"
    old = sa.create_engine(f"sqlite:///{path}")
    with old.begin() as conn:
        conn.execute(
            sa.text("CREATE TABLE portrait_meta (key VARCHAR(64) PRIMARY KEY, value VARCHAR(256))")
        )
        conn.execute(sa.text("INSERT INTO portrait_meta VALUES ('schema_version', '2')"))
        conn.execute(
            sa.text(
                "CREATE TABLE campaign_runs (campaign VARCHAR(64), run INTEGER, state VARCHAR(16), "
                "started_at DATETIME, finished_at DATETIME, profile_version VARCHAR(32), "
                "as_of VARCHAR(10), audience_size INTEGER, members BLOB, PRIMARY KEY (campaign, run))"
            )
        )
        conn.execute(
            sa.text(
                "CREATE TABLE deliveries (campaign VARCHAR(64), run INTEGER, uid INTEGER, "
                "user_id VARCHAR(256), grp VARCHAR(64), channel VARCHAR(64), state VARCHAR(16), "
                "reason TEXT, batch INTEGER, attempts INTEGER, sent_at DATETIME, "
                "PRIMARY KEY (campaign, run, uid))"
            )
        )
        conn.execute(
            sa.text("CREATE INDEX deliveries_state ON deliveries (campaign, run, state, uid)")
        )
        conn.execute(
            sa.text(
                "INSERT INTO campaign_runs VALUES ('old', 1, 'completed', '2026-10-01', NULL, "
                "'000001', '2026-09-30', 3, x'00')"
            )
        )
    old.dispose()
    engine = open_database("", tmp_path)
    inspector = sa.inspect(engine)
    assert "batch_size" in {c["name"] for c in inspector.get_columns("campaign_runs")}
    assert "deliveries_state" not in {i["name"] for i in inspector.get_indexes("deliveries")}
    with engine.connect() as conn:
        version = conn.execute(
            sa.text("SELECT value FROM portrait_meta WHERE key = 'schema_version'")
        ).scalar()
        size = conn.execute(sa.text("SELECT batch_size FROM campaign_runs")).scalar()
    assert int(version) == SCHEMA_VERSION and size == 1000
    assert {"api_keys", "audit_log"} <= set(inspector.get_table_names())  # 3 → 4


def test_channel_rate_limit_paces_the_send(demo_ws: Workspace) -> None:
    (demo_ws.root / "portrait.toml").write_text(
        '[channels.slow]\ntype = "file"\nbatch_size = 100\nrate_limit = 1500\n', encoding="utf-8"
    )
    ws = portrait.open(demo_ws.root)
    campaigns = ws.campaigns(clock=Clock(T0))
    campaigns.create(spec("paced", channel="slow", rate_limit=100_000))  # the channel's is lower
    started = time.perf_counter()
    report = campaigns.launch("paced")
    took = time.perf_counter() - started
    assert report.sent > 500
    assert took >= 0.9 * (report.sent - 100) / 1500  # the last batch needs no wait after it


def test_templates_read_list_tags_and_missing_values(demo_ws: Workspace) -> None:
    """A multi-valued tag in a template (its values are lists), and users without a value
    (rendered empty): the render cache keys on both correctly."""
    campaigns = demo_ws.campaigns(clock=Clock(T0))
    template = "品牌: {{ preferred_car_brands | join('/') if preferred_car_brands else '无' }}"
    campaigns.create(spec("brands", variants=[{"name": "A", "weight": 90, "template": template}]))
    plan = campaigns.dry_run("brands", samples=50).to_dict()
    assert plan["render_errors"] == 0
    profile = demo_ws.profile(["preferred_car_brands"]).to_pandas().set_index("user_id")
    for sample in plan["samples"]:
        brands = profile.loc[sample["user_id"], "preferred_car_brands"]
        expected = "/".join(brands) if brands is not None and len(brands) else "无"
        assert sample["text"] == f"品牌: {expected}"


def test_conversion_event_counts_for_every_group(demo_ws: Workspace) -> None:
    """``conversion_event: search``: a search in the window converts, in the control too."""
    campaigns = demo_ws.campaigns(clock=Clock(T0))
    with pytest.raises(InputError, match="no event named 'serch'") as exc:
        campaigns.create(spec("typo", conversion_event="serch"))
    assert "did you mean 'search'" in str(exc.value)
    campaigns.create(spec(conversion_event="search"))
    campaigns.launch("autumn")
    report = {g["group"]: g for g in campaigns.report("autumn")["groups"]}
    warehouse = demo_ws.warehouse
    assert warehouse.path is not None
    end = T0 + dt.timedelta(days=7)

    def window(table: str, columns: list[str]) -> pd.DataFrame:
        frame = pd.concat(
            pd.read_parquet(p, columns=columns)
            for p in warehouse.tables[table].paths(warehouse.path)
        )
        frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
        return frame[(frame.ts >= T0) & (frame.ts < end)]

    events = window("events", ["user_id", "ts", "event"])
    converted = set(events[events.event == "search"].user_id) | set(
        window("orders", ["user_id", "ts"]).user_id
    )
    for group in ("control", "A", "B"):
        members = set(demo_ws.select('campaign("autumn", "targeted")').ids()) & set(
            demo_ws.select('campaign("autumn", "control")').ids()
            if group == "control"
            else {m["user_id"] for m in outbox(demo_ws, "autumn") if m["variant"] == group}
        )
        assert report[group]["converted"] == len(members & converted), group
    assert report["control"]["converted"] > 0


# -- personal data in previews, template cost, a killed batch's temp file -----------------------
def _real_values(ws: Workspace, *tags: str) -> pd.DataFrame:
    """The profile's own values, read past every masking layer."""
    import pyarrow.parquet as pq

    table = pq.read_table(ws.built.profile_file, columns=["user_id", *tags])
    return table.to_pandas().set_index("user_id")


def test_dry_run_masks_personal_data_unless_the_caller_may_see_it(demo_ws: Workspace) -> None:
    from portrait.model.pii import mask_text

    campaigns = demo_ws.campaigns(clock=Clock(T0))
    assert {"phone", "email"} <= campaigns.pii_tags()
    one = [{"name": "A", "weight": 90, "template": "hi {{ phone }} {{ email }}"}]
    campaigns.create(spec("contact", variants=one))
    real = _real_values(demo_ws, "phone", "email")

    plan = campaigns.dry_run("contact", samples=20).to_dict()
    assert plan["rendered"] == plan["groups"][1]["to_send"] and plan["render_errors"] == 0
    assert len(plan["samples"]) == 20
    for sample in plan["samples"]:
        phone, email = real.loc[sample["user_id"], ["phone", "email"]]
        assert sample["text"] == f"hi {mask_text(phone)} {mask_text(email)}"
        assert email not in sample["text"] and "@example.com" not in sample["text"]

    shown = campaigns.dry_run("contact", samples=20, unmask=True).to_dict()
    assert [s["text"] for s in shown["samples"]] == [
        "hi {} {}".format(*real.loc[s["user_id"], ["phone", "email"]]) for s in shown["samples"]
    ]
    # what is sent carries the real values
    assert campaigns.launch("contact").state == "completed"
    messages = outbox(demo_ws, "contact")
    assert len(messages) == plan["rendered"]
    for m in messages:
        assert m["text"] == "hi {} {}".format(*real.loc[m["user_id"], ["phone", "email"]])


def test_dry_run_errors_and_samples_never_quote_personal_data(demo_ws: Workspace) -> None:
    from portrait.model.pii import mask_text

    campaigns = demo_ws.campaigns(clock=Clock(T0))
    variants = [
        # fails for everyone, and the error names the value it looked up
        {"name": "lookup", "weight": 30, "template": "{{ {}[email] }}"},
        # fails with the real values only (every demo address has 21 characters)
        {"name": "length", "weight": 30, "template": "{{ 100 // (email | length - 21) }}"},
        # renders with the real values only (a masked address has no @): no samples to show
        {"name": "domain", "weight": 30, "template": "{{ email.split('@')[1] | upper }}"},
    ]
    campaigns.create(spec("leaky", variants=variants))
    real = _real_values(demo_ws, "email")
    plan = campaigns.dry_run("leaky", samples=5)
    sizes = {g.group: g.to_send for g in plan.groups}
    assert plan.rendered == sizes["domain"] and plan.samples == []
    assert len(plan.render_errors) == sizes["lookup"] + sizes["length"]
    for error in plan.render_errors:
        email = real.loc[error["user_id"], "email"]
        assert email not in error["error"]
        if error["variant"] == "lookup":
            assert f"no attribute '{mask_text(email)}'" in error["error"]
        else:
            assert error["error"].startswith("template error (its text is withheld")

    unmasked = campaigns.dry_run("leaky", samples=5, unmask=True)
    assert {s["text"] for s in unmasked.samples} == {"EXAMPLE.COM"}
    lookup = next(e for e in unmasked.render_errors if e["variant"] == "lookup")
    assert real.loc[lookup["user_id"], "email"] in lookup["error"]
    assert any("ZeroDivisionError" in e["error"] for e in unmasked.render_errors)


@pytest.mark.parametrize(
    ("template", "message"),
    [
        (
            "{% for i in range(100) %}{% for j in range(200) %}x{% endfor %}{% endfor %}",
            "variant 'A' template: more than 10,000 loop iterations in one message (the limit)",
        ),
        (
            "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
            "variant 'A' template: range() of 100,000 items; a message may loop over at most "
            "1,000 (the limit)",
        ),
        (
            "{% for i in range(1000) %}{{ city }}{{ range(50) | join }}{% endfor %}",
            "variant 'A' template: the message is longer than 65,536 characters (the limit)",
        ),
        ("{{ 'x' * 300000000 }}", "'*' would make a value of 300,000,000 characters"),
    ],
)
def test_a_template_over_a_cost_limit_is_refused_at_creation(
    demo_ws: Workspace, template: str, message: str
) -> None:
    campaigns = demo_ws.campaigns(clock=Clock(T0))
    costly = [
        {"name": "A", "weight": 45, "template": template},
        {"name": "B", "weight": 45, "template": "{{ city }}"},
    ]
    started = time.perf_counter()
    with pytest.raises(InputError) as exc:
        campaigns.create(spec("costly", variants=costly))
    assert time.perf_counter() - started < 5
    assert message in str(exc.value)
    first = min(demo_ws.select(AUDIENCE).ids())  # user ids sort like the dense ids here
    assert f"tried on the audience's first user ({first})" in str(exc.value)
    assert campaigns.names() == []
    # the same is refused for an empty audience (tried on a user without values)
    with pytest.raises(InputError, match="a user without values"):
        campaigns.create(spec("costly", audience="age > 500", variants=costly))


def test_a_template_over_a_limit_for_some_users_fails_only_them(demo_ws: Workspace) -> None:
    """Over a limit for some users only: their messages are render errors (dry run) and
    failed deliveries with the reason (launch); the others are sent."""
    campaigns = demo_ws.campaigns(clock=Clock(T0))
    first = min(demo_ws.select(AUDIENCE).ids())
    age = int(_real_values(demo_ws, "age").loc[first, "age"])
    # range(0) for the first user's age (tried at creation), over 1,000 six years off
    template = f"{{% for i in range((age - {age}) | abs * 200) %}}.{{% endfor %}}{{{{ age }}}}"
    campaigns.create(spec("ages", variants=[{"name": "A", "weight": 90, "template": template}]))
    plan = campaigns.dry_run("ages").to_dict()
    assert plan["render_errors"] > 0 and plan["rendered"] > 0
    assert "range() of" in plan["first_errors"][0]["error"]
    assert "a message may loop over at most 1,000" in plan["first_errors"][0]["error"]
    report = campaigns.launch("ages")
    assert report.failed == plan["render_errors"] and report.sent == plan["rendered"]


def test_a_resumed_launch_removes_the_temp_file_of_a_killed_batch(demo_ws: Workspace) -> None:
    """The sender is killed (SIGKILL, a real process) while its second batch is being
    written: the batch's temporary file stays in the run's folder. The next launch removes it,
    writes that batch whole and sends everyone exactly once."""
    import signal
    import subprocess
    import sys

    demo_ws = small_batches(demo_ws, 100)
    campaigns = demo_ws.campaigns(clock=Clock(T0))
    campaigns.create(spec())
    run_folder = demo_ws.root / "campaigns" / "outbox" / "autumn" / "run-0001"
    elsewhere = demo_ws.root / "campaigns" / "outbox" / "other" / "run-0001" / ".batch-x.tmp"
    elsewhere.parent.mkdir(parents=True)
    elsewhere.write_text("another campaign's business", encoding="utf-8")
    script = f"""
import os, signal
import portrait

written = 0
fsync = os.fsync

def killing_fsync(fd):
    global written
    if ".batch-" in os.readlink(f"/proc/self/fd/{{fd}}"):
        written += 1
        if written == 2:  # the second batch is in its temp file, not yet renamed
            os.kill(os.getpid(), signal.SIGKILL)
    fsync(fd)

os.fsync = killing_fsync
portrait.open({str(demo_ws.root)!r}).campaigns().launch("autumn")
"""
    killed = subprocess.run([sys.executable, "-c", script], capture_output=True, check=False)
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()
    stale = list(run_folder.glob(".batch-*.tmp"))
    assert len(stale) == 1 and len(list(run_folder.glob("batch-*.jsonl"))) == 1
    assert campaigns.state("autumn") == "running"

    done = campaigns.launch("autumn")
    assert done.state == "completed" and done.pending == 0
    assert not list(run_folder.glob(".batch-*.tmp"))
    assert elsewhere.exists()  # only the launched run's folder is tidied
    ids = [m["user_id"] for m in outbox(demo_ws, "autumn")]
    assert len(ids) == len(set(ids)) == done.sent


def test_a_resumed_launch_removes_stale_temp_files(demo_ws: Workspace) -> None:
    demo_ws = small_batches(demo_ws, 100)
    campaigns = demo_ws.campaigns(clock=Clock(T0))
    campaigns.create(spec())
    assert campaigns.launch("autumn", batch_limit=1).state == "running"
    run_folder = demo_ws.root / "campaigns" / "outbox" / "autumn" / "run-0001"
    half = run_folder / ".batch-k2j3h4.tmp"
    half.write_text('{"message_id": "autumn:1:u0000', encoding="utf-8")  # cut short
    done = campaigns.launch("autumn")
    assert done.state == "completed" and not half.exists()
    assert [p.name for p in run_folder.iterdir() if p.name.startswith(".")] == []
    ids = [m["user_id"] for m in outbox(demo_ws, "autumn")]
    assert len(ids) == len(set(ids)) == done.sent


def test_a_resumed_launch_counts_only_what_it_sent(demo_ws: Workspace) -> None:
    """What each launch added (for message metrics) and its audit entry, through the facade
    every surface calls."""
    demo_ws = small_batches(demo_ws)
    demo_ws.campaigns(clock=Clock(T0)).create(spec())
    first = demo_ws.campaigns.launch("autumn", batch_limit=1)
    assert first.state == "running" and first.pending > 0
    assert first.added["sent"] == first.sent > 0
    done = demo_ws.campaigns.launch("autumn")
    assert done.state == "completed"
    assert done.added["sent"] == done.sent - first.sent > 0
    assert done.added["suppressed"] == 0  # the cap's suppressions were the first launch's
    launches = [e for e in demo_ws.audit.entries() if e["action"] == "campaign:launch"]
    assert [e["rows"] for e in launches] == [done.sent, first.sent]  # newest first
