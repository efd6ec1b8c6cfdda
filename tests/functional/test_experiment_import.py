"""Experiments run elsewhere (``portrait campaign import``): assignments, planned weights and
outcomes loaded in one transaction, then the same report as a Portrait campaign, its numbers
checked against statsmodels/SciPy computed from the files; bad files refused with a message
naming the problem, nothing stored; an import killed half-way stores nothing."""

from __future__ import annotations

import datetime as dt
import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest
from typer.testing import CliRunner

from portrait.cli import app
from portrait.errors import InputError
from portrait.workspace import Workspace

WEIGHTS = {"control": 10.0, "A": 45.0, "B": 45.0}
RATES = {"control": 0.04, "A": 0.07, "B": 0.10}


def experiment(ws: Workspace, seed: int = 5, n: int = 2400) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Assignments (user_id, group, ts) and a row of outcomes per user, made elsewhere."""
    rng = np.random.default_rng(seed)
    ids = ws.users.user_ids_of(list(range(n)))
    groups = rng.choice(list(WEIGHTS), n, p=[w / 100 for w in WEIGHTS.values()])
    assigned = pd.DataFrame({"user_id": ids, "group": groups, "ts": "2031-01-05T08:00:00"})
    converted = rng.random(n) < np.array([RATES[g] for g in groups])
    clicked = converted | (rng.random(n) < 0.1)
    revenue = np.where(converted, np.round(rng.lognormal(4, 0.5, n), 2), 0.0)
    outcomes = pd.DataFrame(
        {"user_id": ids, "clicked": clicked.astype(int), "converted": converted, "revenue": revenue}
    )
    return assigned, outcomes


def write(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False)
    return path


def cli(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def test_import_then_report_like_a_campaign(demo_ws: Workspace, tmp_path: Path) -> None:
    assigned, outcomes = experiment(demo_ws)
    ws = ["-w", str(demo_ws.root)]
    done = cli(
        "campaign", "import", "sms_ab",
        "--assignments", str(write(assigned, tmp_path / "assign.csv")),
        "--outcomes", str(write(outcomes, tmp_path / "outcomes.csv")),
        "--weights", "control=10,A=45,B=45",
        *ws, "-f", "json",
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    info = json.loads(done.output)
    sizes = assigned.group.value_counts().to_dict()
    assert info["assigned"] == {g: sizes[g] for g in WEIGHTS}
    assert info["outcomes"]["converted"] == int(outcomes.converted.sum())
    assert info["started_at"] == "2031-01-05T08:00:00+00:00"

    # the workspace's orders are years earlier: the outcomes file decides every number
    report = demo_ws.campaigns.report("sms_ab")
    assert report["imported"] is True and report["run_state"] == "completed"
    groups = {g["group"]: g for g in report["groups"]}
    merged = assigned.merge(outcomes, on="user_id")
    counts = merged.groupby("group").agg(
        n=("user_id", "size"), conv=("converted", "sum"), clicks=("clicked", "sum")
    )
    for g in WEIGHTS:
        assert groups[g]["targeted"] == counts.loc[g, "n"]
        assert groups[g]["converted"] == counts.loc[g, "conv"]
        assert groups[g]["clicked"] == counts.loc[g, "clicks"]
    _, p = stats.chisquare(
        [counts.loc[g, "n"] for g in WEIGHTS], [len(assigned) * w / 100 for w in WEIGHTS.values()]
    )
    assert report["srm"]["p_value"] == pytest.approx(p, rel=1e-9)

    rows = {(c["metric"], c["baseline"], c["group"]): c for c in report["comparisons"]}
    for base, treat in (("control", "A"), ("control", "B"), ("A", "B")):
        conv = rows[("conversion_rate", base, treat)]
        x = [int(counts.loc[treat, "conv"]), int(counts.loc[base, "conv"])]
        n = [int(counts.loc[treat, "n"]), int(counts.loc[base, "n"])]
        assert conv["p_value"] == pytest.approx(proportions_ztest(x, n)[1], rel=1e-9)
        newcomb = confint_proportions_2indep(x[0], n[0], x[1], n[1], method="newcomb")
        assert (conv["newcomb_low"], conv["newcomb_high"]) == pytest.approx(newcomb, rel=1e-9)
        revenue = rows[("revenue_per_user", base, treat)]
        welch = stats.ttest_ind(
            merged[merged.group == treat].revenue, merged[merged.group == base].revenue,
            equal_var=False,
        )  # fmt: skip
        assert revenue["p_value"] == pytest.approx(welch.pvalue, rel=1e-9)
        assert revenue["test"] == "Welch's t-test"
    # Holm over all 15 comparisons (5 metrics × 3 pairs)
    from statsmodels.stats.multitest import multipletests

    ps = [c["p_value"] for c in report["comparisons"]]
    assert None not in ps and len(ps) == 15
    holm = multipletests(ps, method="holm")[1]
    assert [c["p_adjusted"] for c in report["comparisons"]] == pytest.approx(list(holm))
    assert any(line.startswith("Conversion rate, B vs control: ") for line in report["verdict"])

    # the CLI's table, CSV and the effects chart
    shown = cli("campaign", "report", "sms_ab", *ws, "--chart", str(tmp_path / "e.json"))
    assert shown.exit_code == 0, shown.output
    assert "imported experiment sms_ab" in shown.output and "comparisons" in shown.output
    spec = json.loads((tmp_path / "e.json").read_text())
    assert spec["usermeta"]["portrait"]["report"] == "campaign_effects"
    assert len(spec["data"]["values"]) == 15
    table = cli("campaign", "report", "sms_ab", *ws, "-f", "csv", "--correction", "bh")
    assert table.exit_code == 0 and table.output.startswith("metric,comparison,")


def test_outcome_events_and_organic_control_clicks(demo_ws: Workspace, tmp_path: Path) -> None:
    assigned, _ = experiment(demo_ws, n=600)
    control = assigned[assigned.group == "control"].user_id.tolist()
    variant = assigned[assigned.group == "A"].user_id.tolist()
    events = pd.DataFrame(
        [
            {"user_id": control[0], "response": "clicked", "ts": "2031-01-05T09:00:00"},
            {"user_id": control[1], "response": "converted", "ts": "2031-01-06T09:00:00",
             "revenue": 30.0},
            {"user_id": variant[0], "response": "delivered", "ts": "2031-01-05T08:01:00"},
            {"user_id": variant[0], "response": "clicked", "ts": "2031-01-05T08:05:00"},
            {"user_id": variant[0], "response": "clicked", "ts": "2031-01-05T08:05:00"},
            {"user_id": variant[1], "response": "converted", "ts": "2031-01-20T09:00:00",
             "revenue": 5.0},  # after the 7-day window: not counted
        ]
    )  # fmt: skip
    info = demo_ws.campaigns.import_experiment(
        "ev",
        write(assigned, tmp_path / "a.csv"),
        WEIGHTS,
        outcomes=write(events, tmp_path / "o.csv"),
    )
    assert info["outcomes"] == {"clicked": 3, "converted": 2, "delivered": 1}
    groups = {g["group"]: g for g in demo_ws.campaigns.report("ev")["groups"]}
    n_control = len(control)
    assert groups["control"]["clicked"] == 1 and groups["control"]["ctr"] == 1 / n_control
    assert groups["control"]["converted"] == 1 and groups["control"]["revenue"] == 30.0
    assert groups["A"]["clicked"] == 1 and groups["A"]["converted"] == 0
    # a control user cannot have been delivered anything
    bad = pd.DataFrame([{"user_id": control[0], "response": "opened", "ts": "2031-01-05T09:00:00"}])
    with pytest.raises(InputError, match="is in the control, which was sent nothing"):
        demo_ws.campaigns.import_experiment(
            "ev2", tmp_path / "a.csv", WEIGHTS, outcomes=write(bad, tmp_path / "bad.csv")
        )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("two_groups", "users in two groups: '.*' in control \\(row \\d+\\) and A \\(row 2401\\)"),
        ("unknown_group", "row 3: unknown group 'C' \\(the plan has control, A, B\\)"),
        ("empty_group", "group 'B' of the plan has no assigned user"),
        ("unknown_user", "users not in this workspace: 'nobody-1' \\(row 2401\\)"),
        ("never_assigned", "outcomes of users never assigned: 'u-extra' \\(row 2401\\)"),
        ("bad_flag", "row 2, column clicked: 'maybe' is not 0/1 or true/false"),
        ("bad_revenue", "row 1, column revenue: '-3.0' is not an amount ≥ 0"),
        ("no_group_column", "the assignments need the column 'group'"),
        ("bad_time", "row 1: 'yesterday' is not a time"),
    ],
)
def test_bad_files_are_refused_and_nothing_is_stored(
    demo_ws: Workspace, tmp_path: Path, change: str, message: str
) -> None:
    assigned, outcomes = experiment(demo_ws)
    if change == "two_groups":
        first = assigned[assigned.group == "control"].iloc[[0]].assign(group="A")
        assigned = pd.concat([assigned, first]).reset_index(drop=True)
    elif change == "unknown_group":
        assigned.loc[2, "group"] = "C"
    elif change == "empty_group":
        assigned = assigned[assigned.group != "B"]
    elif change == "unknown_user":
        assigned = pd.concat([assigned, pd.DataFrame([{"user_id": "nobody-1", "group": "A"}])])
    elif change == "never_assigned":
        outcomes = pd.concat([outcomes, pd.DataFrame([{"user_id": "u-extra", "clicked": 1}])])
    elif change == "bad_flag":
        outcomes["clicked"] = outcomes["clicked"].astype(str)
        outcomes.loc[1, "clicked"] = "maybe"
    elif change == "bad_revenue":
        outcomes.loc[0, "revenue"] = -3.0
    elif change == "no_group_column":
        assigned = assigned.rename(columns={"group": "arm"})
    elif change == "bad_time":
        assigned.loc[0, "ts"] = "yesterday"
    files = write(assigned, tmp_path / "a.csv"), write(outcomes, tmp_path / "o.csv")
    with pytest.raises(InputError, match=message):
        demo_ws.campaigns.import_experiment("bad", files[0], WEIGHTS, outcomes=files[1])
    assert "bad" not in demo_ws.campaigns().names()


def test_weights_and_reimports(demo_ws: Workspace, tmp_path: Path) -> None:
    assigned, outcomes = experiment(demo_ws, n=800)
    files = [str(write(assigned, tmp_path / "a.csv")), str(write(outcomes, tmp_path / "o.csv"))]
    ws = ["-w", str(demo_ws.root)]

    def run(*more: str) -> Any:
        return cli("campaign", "import", "x", "--assignments", files[0], *more, *ws)

    for weights, problem in [
        ("control=10,A=45,B=40", "must add up to 100"),
        ("control=10,A=45,B", "'B' is not GROUP=PERCENT"),
        ("control=10,A=4x5,B=45", "'4x5' is not a number"),
        ("control=10,A=90", "unknown group 'B'"),  # B is in the file, not in the plan
    ]:
        refused = run("--weights", weights)
        assert refused.exit_code == 2 and problem in refused.output, refused.output
    assert run("--weights", "control=10,A=45,B=45", "--outcomes", files[1]).exit_code == 0
    # loading it again is refused, not doubled; --replace loads it anew
    again = run("--weights", "control=10,A=45,B=45")
    assert again.exit_code == 2 and "already exists (completed)" in again.output
    assert "--replace the imported one" in again.output
    replaced = run("--weights", "control=10,A=45,B=45", "--replace", "-f", "json")
    assert replaced.exit_code == 0, replaced.output
    report = demo_ws.campaigns.report("x")
    assert sum(g["targeted"] for g in report["groups"]) == len(assigned)
    assert sum(g["clicked"] for g in report["groups"]) == 0  # the new import has no outcomes
    # an imported experiment is analysed, never launched
    for act in (demo_ws.campaigns.launch, demo_ws.campaigns.dry_run):
        with pytest.raises(InputError, match="ran elsewhere \\(imported\\): it is reported on"):
            act("x")


def test_an_import_killed_half_way_stores_nothing(demo_ws: Workspace, tmp_path: Path) -> None:
    assigned, outcomes = experiment(demo_ws)
    a, o = write(assigned, tmp_path / "a.csv"), write(outcomes, tmp_path / "o.csv")
    script = f"""
import os, signal
import portrait
from portrait.store.campaigns import CampaignRepository

def killed(self, values):  # the delivery records are written, the responses not yet
    os.kill(os.getpid(), signal.SIGKILL)

CampaignRepository.add_responses = killed
portrait.open({str(demo_ws.root)!r}).campaigns.import_experiment(
    "half", {str(a)!r}, {WEIGHTS!r}, outcomes={str(o)!r}
)
"""
    killed = subprocess.run([sys.executable, "-c", script], capture_output=True, check=False)
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()
    assert "half" not in demo_ws.campaigns().names()
    info = demo_ws.campaigns.import_experiment("half", a, WEIGHTS, outcomes=o)
    assert sum(info["assigned"].values()) == len(assigned)
    assert demo_ws.campaigns.report("half")["groups"][0]["targeted"] == info["assigned"]["control"]


def test_zero_variance_metrics_say_so(demo_ws: Workspace, tmp_path: Path) -> None:
    assigned, outcomes = experiment(demo_ws, n=900)
    outcomes["revenue"] = 0.0
    outcomes["converted"] = False
    outcomes["clicked"] = 0
    demo_ws.campaigns.import_experiment(
        "flat",
        write(assigned, tmp_path / "a.csv"),
        WEIGHTS,
        outcomes=write(outcomes, tmp_path / "o.csv"),
    )
    report = demo_ws.campaigns.report("flat")
    lines = [v for v in report["verdict"] if v.startswith("Revenue per user, A vs control")]
    assert lines == [
        "Revenue per user, A vs control: no variation (every user has the same value): "
        "nothing to test"
    ]
    revenue = next(c for c in report["comparisons"] if c["metric"] == "revenue_per_user")
    assert revenue["p_value"] is None and revenue["significant"] is False
    # nobody clicked: click → conversion has no users to compare, and is left out
    assert not any(v.startswith("Click → conversion") for v in report["verdict"])


def test_plan_size_cli() -> None:
    shown = cli(
        "campaign", "plan-size", "--baseline", "0.05", "--effect", "10%",
        "--weights", "control=50,A=50", "-f", "json",
    )  # fmt: skip
    assert shown.exit_code == 0, shown.output
    plan = json.loads(shown.output)
    from statsmodels.stats.power import NormalIndPower
    from statsmodels.stats.proportion import proportion_effectsize

    # the same order of size as the arcsine-h plan (ours uses each arm's own variance)
    h = proportion_effectsize(0.055, 0.05)
    n1 = NormalIndPower().solve_power(effect_size=h, alpha=0.05, power=0.8)
    assert abs(plan["groups"][0]["users"] - n1) / n1 < 0.01
    bad = cli("campaign", "plan-size", "--baseline", "1.5", "--effect", "0.1")
    assert bad.exit_code == 2 and "between 0 and 1" in bad.output


@pytest.fixture
def api(demo_ws: Workspace, tmp_path: Path) -> Any:
    """``portrait serve`` on 127.0.0.1 (a real server process) and the workspace."""
    from tests.browser.harness import serve, stop

    process, url = serve(demo_ws.root, tmp_path / "server.log")
    try:
        yield url, demo_ws
    finally:
        stop(process)


def test_over_http(api: tuple[str, Workspace]) -> None:
    import httpx

    url, ws = api
    _, secret = ws.keys.create("marketer")
    marketer = {"Authorization": f"Bearer {secret}"}
    _, secret = ws.keys.create("analyst")
    analyst = {"Authorization": f"Bearer {secret}"}
    assigned, outcomes = experiment(ws, n=1500)
    body = {
        "weights": WEIGHTS,
        "assignments": assigned.to_dict("records"),
        "outcomes": [
            {"user_id": r.user_id, "clicked": bool(r.clicked), "converted": bool(r.converted),
             "revenue": r.revenue}
            for r in outcomes.itertuples()
        ],
    }  # fmt: skip
    refused = httpx.post(f"{url}/v1/campaigns/web_ab/import", json=body, headers=analyst)
    assert refused.status_code == 403
    done = httpx.post(f"{url}/v1/campaigns/web_ab/import", json=body, headers=marketer, timeout=60)
    assert done.status_code == 200, done.text
    assert sum(done.json()["assigned"].values()) == 1500
    twice = httpx.post(f"{url}/v1/campaigns/web_ab/import", json=body, headers=marketer)
    assert twice.status_code == 400 and "already exists" in twice.json()["error"]["message"]

    got = httpx.get(
        f"{url}/v1/campaigns/web_ab/report",
        params={"correction": "bh", "sequential": "true", "prior_sd": 0.2, "level": 0.9},
        headers=marketer,
        timeout=60,
    )
    assert got.status_code == 200, got.text
    report = got.json()
    assert report["options"]["correction"] == "bh" and report["options"]["sequential"] is True
    assert all(c["sequential"] is not None for c in report["comparisons"])
    assert report["options"]["prior"] == "normal(0, 0.2²)"
    # the same numbers as the Python API with the same options
    same = ws.campaigns.report(
        "web_ab", options={"correction": "bh", "sequential": True, "prior_sd": 0.2, "level": 0.9}
    )
    assert report["comparisons"] == json.loads(json.dumps(same["comparisons"]))
    bad = httpx.get(
        f"{url}/v1/campaigns/web_ab/report", params={"correction": "bonferroni"}, headers=marketer
    )
    assert bad.status_code == 400 and "unknown correction 'bonferroni'" in bad.text

    plan = httpx.post(
        f"{url}/v1/campaigns/plan-size",
        json={"baseline": 0.05, "effect": 0.1, "relative": True, "weights": WEIGHTS},
        headers=marketer,
    )
    assert plan.status_code == 200 and plan.json()["comparisons"] == [
        "A vs control",
        "B vs control",
    ]
    wrong = httpx.post(
        f"{url}/v1/campaigns/plan-size", json={"baseline": 2, "effect": 0.1}, headers=marketer
    )
    assert wrong.status_code == 400 and "between 0 and 1" in wrong.text
    # the import is in the audit log, with the users it assigned
    entries = ws.access.audit_entries(50)
    assert any(e["action"] == "campaign:import" and e["rows"] == 1500 for e in entries)


def test_custom_event_rates_with_their_pre_period(demo_ws: Workspace, tmp_path: Path) -> None:
    """An event rate compared for every pair; CUPED adjusts it by each user's count of the
    event before the run (the demo's events end on its as-of date: start the day after)."""
    as_of = demo_ws.built.as_of
    assert as_of is not None
    assigned, outcomes = experiment(demo_ws, n=3000)
    start = f"{as_of + dt.timedelta(days=1)}T00:00:00"
    assigned["ts"] = start
    demo_ws.campaigns.import_experiment(
        "ev_rates",
        write(assigned, tmp_path / "a.csv"),
        WEIGHTS,
        outcomes=write(outcomes, tmp_path / "o.csv"),
        metrics=["view"],
    )
    report = demo_ws.campaigns.report("ev_rates", events=["search"])
    names = [m["name"] for m in report["metrics"]]
    assert names[-2:] == ["event:view", "event:search"]
    view = next(c for c in report["comparisons"] if c["metric"] == "event:view")
    # nobody can view after the data ends: no variation, yet the pre-period exists
    assert view["no_variation"] and view["value_group"] == 0.0
    assert report["pre_period_days"] == 28
    # CUPED on conversion: each user's orders in the 28 days before, as OLS finds its slope
    import statsmodels.api as sm

    orders = pd.concat(pd.read_parquet(f) for f in demo_ws.built_warehouse().files("orders"))
    ts = pd.to_datetime(orders.ts, utc=True)
    begin = pd.Timestamp(start, tz="UTC")
    recent = orders[(ts >= begin - pd.Timedelta(days=28)) & (ts < begin)]
    counts = recent.groupby("user_id").size()
    frame = assigned.merge(outcomes, on="user_id")
    frame["x"] = frame.user_id.map(counts).fillna(0.0)
    assert frame.x.sum() > 0  # the pre-period has orders
    pair = frame[frame.group.isin(["control", "A"])]
    design = np.column_stack(
        [np.ones(len(pair)), (pair.group == "A").to_numpy(float), pair.x.to_numpy(float)]
    )
    fit = sm.OLS(pair.converted.to_numpy(float), design).fit()
    conversion = next(
        c
        for c in report["comparisons"]
        if (c["metric"], c["baseline"], c["group"]) == ("conversion_rate", "control", "A")
    )
    assert conversion["cuped"]["theta"] == pytest.approx(fit.params[2], rel=1e-9)
    assert conversion["cuped"]["difference"] == pytest.approx(fit.params[1], rel=1e-9)
    with pytest.raises(InputError, match="no event named 'serch'") as caught:
        demo_ws.campaigns.report("ev_rates", events=["serch"])
    assert "search" in str(caught.value.hint)
    with pytest.raises(InputError, match="no event named 'vieww'"):
        demo_ws.campaigns.import_experiment(
            "ev_bad", tmp_path / "a.csv", WEIGHTS, metrics=["vieww"]
        )
