"""Concurrent writers do not corrupt or lose data.

One real demo workspace, all at once for several seconds:

- ``portrait serve --workers 2`` on 127.0.0.1, with many HTTP clients (a new connection per
  request, so both worker processes serve writes): segments created under distinct names and
  refreshed; the same segment or campaign name created by several clients at the same moment;
  response events posted (with repeats, in a request and across requests); user reads that
  write audit entries;
- a ``portrait segment refresh`` loop in subprocesses;
- a campaign of a few thousand users sent to the file channel in small batches by
  ``portrait campaign launch`` subprocesses (stopped after some batches, then resumed).

Then everything is counted: every request answered 2xx (a name taken at the same moment: one
2xx, the others a 400 saying it exists); every segment exists once with one snapshot per
evaluation made; the change counter moved once per change; one audit entry per audited call;
one delivery record per targeted user and one outbox line per user sent to; every response
event stored and counted once; the SQLite file passes ``integrity_check``. A smaller run does
the same with the metadata database on PostgreSQL.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import getpass
import json
import math
import os
import queue
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

import portrait
from portrait.audience.segments import KEEP_MEMBERS
from portrait.workspace import Workspace
from tests.campaign_specs import ab_test

PORTRAIT = str(Path(sys.executable).with_name("portrait"))
WARM = "age between 30 and 34"  # 516 of the 3,000 demo users: responses come back for them
BLAST = "age between 20 and 50"  # 2,566 users: the campaign sent while the others write
BATCH = 20  # messages per outbox file: over 100 batches, each its own transaction
FIRST_BATCHES = 60  # the first launch stops after these; the next one resumes the run
BASE = {"bj": 'city = "北京"', "young": "age < 30"}  # segments every writer refreshes
CONTENDERS = 4  # clients that create the same name at the same moment
RESPONSES_PER_REQUEST = 10  # so about 70 requests, many of them at the same moment
PAUSE = 0.4  # seconds between a writer's requests: busy, yet leaves CPU for the others
CLI_PAUSE = 1.0  # seconds between two refresh commands
DEADLINE_SECONDS = 150.0  # every writer stops by then (a slow machine is no failure)


@dataclass(frozen=True)
class Scale:
    """How much the writers do."""

    creates: int = 20  # segments each creator makes over HTTP (then it refreshes them)
    contests: int = 4  # names raced for, twice (a segment and a campaign each)
    cli_refreshes: int = 3  # refresh commands at most (each is a new process: costly)
    load_seconds: float = 5.0  # the steady writers go on at least this long


FULL = Scale()
REDUCED = Scale(creates=8, contests=2, cli_refreshes=2, load_seconds=3.0)
LOCAL_ACTOR = getpass.getuser()
"""Who a command line run acts as (its audit entries' actor)."""


# -- the server ---------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _served(url: str, route: str, method: str, status: str) -> int:
    """How many such requests the worker that answers this /metrics request served (each
    worker counts its own); 0 when it served none."""
    labels = ",".join(
        f'{k}="{re.escape(v)}"'
        for k, v in sorted({"route": route, "method": method, "status": status}.items())
    )
    metrics = httpx.get(f"{url}/metrics", timeout=30).text
    found = re.search(
        rf"^portrait_http_requests_total\{{{labels}\}} (\S+)$", metrics, flags=re.MULTILINE
    )
    return int(float(found.group(1))) if found else 0


def _wait_for_both_workers(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Ready (/readyz) in both worker processes. Every call opens a new connection; as a
    worker's /metrics counts only the calls it served, a count that differs from the number
    made shows that the other worker answered some of them."""
    made = 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text(encoding="utf-8", errors="replace")
        with contextlib.suppress(httpx.TransportError):
            ready = httpx.get(f"{url}/readyz", timeout=30)
            if ready.status_code == 200 and ready.json()["status"] == "ready":
                made += 1
                if _served(url, "/readyz", "GET", "200") != made:
                    return
        time.sleep(0.05)
    raise AssertionError("the two workers did not both answer /readyz: " + log.read_text())


@contextmanager
def serving(root: Path, env: dict[str, str], log: Path) -> Iterator[str]:
    """``portrait serve --workers 2`` on a free port; always stopped, its whole process group
    (the workers with it) killed."""
    port = _free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [PORTRAIT, "serve", "--port", str(port), "--workers", "2", "-w", str(root)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # a process group of its own
        )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_for_both_workers(url, process, log)
        yield url
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, sig)
            try:
                process.wait(timeout=15)
                break
            except subprocess.TimeoutExpired:
                continue
        with contextlib.suppress(ProcessLookupError):  # workers their parent left behind
            os.killpg(process.pid, signal.SIGKILL)


# -- what the writers did -----------------------------------------------------------------
@dataclass
class Call:
    task: str
    method: str
    path: str
    status: int
    body: Any

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass
class Record:
    """Everything the writers did; threads append to it (list.append is atomic)."""

    calls: list[Call] = field(default_factory=list)
    created: dict[str, str] = field(default_factory=dict)  # segment name → rule
    contests: list[tuple[str, str, list[Call]]] = field(default_factory=list)
    audited: list[tuple[str, str, str, int]] = field(default_factory=list)
    http_refreshes: list[str] = field(default_factory=list)
    cli_runs: list[tuple[str, subprocess.CompletedProcess[str]]] = field(default_factory=list)
    cli_refreshes: list[str] = field(default_factory=list)
    launches: list[dict[str, Any]] = field(default_factory=list)
    responses: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _client(url: str, secret: str) -> httpx.Client:
    """No keep-alive: every request is a new connection, which either worker may accept."""
    return httpx.Client(
        base_url=url,
        headers={"Authorization": f"Bearer {secret}"},
        timeout=120,
        limits=httpx.Limits(max_keepalive_connections=0),
    )


def _call(
    client: httpx.Client, record: Record, task: str, method: str, path: str, **kw: Any
) -> Call:
    response = client.request(method, path, **kw)
    try:
        body = response.json()
    except ValueError:
        body = response.text
    call = Call(task, method, path, response.status_code, body)
    record.calls.append(call)
    return call


def _guarded(record: Record, task: str, work: Callable[[], None]) -> Callable[[], None]:
    def run() -> None:
        try:
            work()
        except Exception as exc:  # reported by the test, not lost in a thread
            record.errors.append(f"{task}: {type(exc).__name__}: {exc}")

    return run


def _portrait(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PORTRAIT, *args], capture_output=True, text=True, env=env, timeout=300, check=False
    )


def _race(url: str, secret: str, record: Record, path: str, body: dict[str, Any]) -> list[Call]:
    """CONTENDERS clients send the same request at the same moment."""
    barrier = threading.Barrier(CONTENDERS)
    calls: list[Call] = []

    def one() -> None:
        with _client(url, secret) as client:
            barrier.wait(timeout=60)
            calls.append(_call(client, record, "contend", "POST", path, json=body))

    racers = [threading.Thread(target=_guarded(record, "contend", one)) for _ in range(CONTENDERS)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join(timeout=DEADLINE_SECONDS)
    return calls


@dataclass(frozen=True)
class Setup:
    root: Path
    env: dict[str, str]
    keys: dict[str, tuple[str, str]]  # task → (key id, secret): the audit log tells them apart
    user_ids: list[str]
    responses: list[list[dict[str, Any]]]  # the bodies of the response requests
    scale: Scale


def _writers(url: str, setup: Setup, record: Record) -> list[threading.Thread]:
    """Run every writer at once; returns the threads still alive at the deadline."""
    stop = threading.Event()
    root, env, keys, user_ids = setup.root, setup.env, setup.keys, setup.user_ids
    scale = setup.scale

    def creator(k: int) -> Callable[[], None]:
        task = f"create{k}"
        me, secret = keys[task]

        def work() -> None:  # new segments, then refreshes of them
            with _client(url, secret) as client:
                n = 0
                while not stop.is_set():
                    if n < scale.creates:
                        name, rule = f"w{k}_{n}", f"age >= {18 + (7 * n + k) % 50}"
                        asked = {"name": name, "rule": rule}
                        made = _call(client, record, task, "POST", "/v1/segments", json=asked)
                        if made.ok:
                            record.created[name] = rule
                            record.audited.append((me, "segment:create", name, made.body["size"]))
                    if n % 2 == 1 or n >= scale.creates:
                        name = f"w{k}_{(n // 2) % scale.creates}"
                        again = _call(client, record, task, "POST", f"/v1/segments/{name}/refresh")
                        if again.ok:
                            record.http_refreshes.append(name)
                            record.audited.append((me, "segment:refresh", name, again.body["size"]))
                    n += 1
                    stop.wait(PAUSE)

        return work

    def refresher() -> None:
        me, secret = keys["refresh"]
        with _client(url, secret) as client:
            n = 0
            while not stop.is_set():
                name = sorted(BASE)[n % len(BASE)]
                done = _call(client, record, "refresh", "POST", f"/v1/segments/{name}/refresh")
                if done.ok:
                    record.http_refreshes.append(name)
                    record.audited.append((me, "segment:refresh", name, done.body["size"]))
                n += 1
                stop.wait(PAUSE)

    def contender(rounds: range) -> None:  # races for one name, a bounded number
        me, secret = keys["contend"]
        for n in rounds:
            name, rule = f"same_{n}", f"age >= {40 + n}"
            segment: dict[str, Any] = {"name": name, "rule": rule}
            campaign: dict[str, Any] = {
                "name": name,
                "audience": rule,
                "channel": "file",
                "variants": [{"name": "A", "weight": 100, "template": "{{ city }}"}],
            }
            for path, body in (("/v1/segments", segment), ("/v1/campaigns", campaign)):
                calls = _race(url, secret, record, path, body)
                record.contests.append((path, name, calls))
                won = [c for c in calls if c.ok]
                if len(won) == 1 and path == "/v1/segments":
                    record.created[name] = rule
                    record.audited.append((me, "segment:create", name, won[0].body["size"]))
                elif len(won) == 1:
                    record.audited.append((me, "campaign:create", name, 0))
            stop.wait(PAUSE)

    chunks: queue.Queue[list[dict[str, Any]]] = queue.Queue()
    for chunk in setup.responses:
        chunks.put(chunk)

    def responder(k: int) -> Callable[[], None]:
        task = f"respond{k}"
        me, secret = keys[task]

        def work() -> None:  # until every request is made (a bounded number)
            with _client(url, secret) as client:
                while True:
                    try:
                        chunk = chunks.get_nowait()
                    except queue.Empty:
                        return
                    posted = _call(
                        client, record, task, "POST", "/v1/events/responses", json={"events": chunk}
                    )
                    if posted.ok:
                        record.responses.append(posted.body)
                        record.audited.append((me, "campaign:responses", "", posted.body["loaded"]))

        return work

    def reader(k: int) -> Callable[[], None]:
        task = f"read{k}"
        me, secret = keys[task]

        def work() -> None:
            with _client(url, secret) as client:
                n = 0
                while not stop.is_set():
                    uid = user_ids[(n * 37 + k * 11) % len(user_ids)]
                    if n % 4 == 0 and _call(client, record, task, "GET", f"/v1/users/{uid}").ok:
                        record.audited.append((me, "user:read", uid, 1))  # the 360 view: slow
                    if _call(client, record, task, "GET", f"/v1/users/{uid}/segments").ok:
                        record.audited.append((me, "user:segments", uid, 1))
                    batch = [user_ids[(n * 13 + j) % len(user_ids)] for j in range(3)]
                    asked = {"user_ids": batch, "segments": sorted(BASE)}
                    if _call(client, record, task, "POST", "/v1/membership", json=asked).ok:
                        record.audited.append((me, "membership", ",".join(sorted(BASE)), 3))
                    n += 1
                    stop.wait(PAUSE)

        return work

    def cli_refresh() -> None:
        for _ in range(scale.cli_refreshes):
            if stop.is_set():
                return
            done = _portrait("segment", "refresh", "-w", str(root), "-f", "json", env=env)
            record.cli_runs.append(("segment refresh", done))
            if done.returncode == 0:
                rows = json.loads(done.stdout)
                record.cli_refreshes.extend(row["segment"] for row in rows)
                # the command line audits as the OS user
                record.audited.extend(
                    (LOCAL_ACTOR, "segment:refresh", row["segment"], row["size"]) for row in rows
                )
            stop.wait(CLI_PAUSE)

    def cli_launch() -> None:
        for batches in ([f"--batches={FIRST_BATCHES}"], [], []):  # stop early, then resume
            done = _portrait(
                "campaign", "launch", "blast", *batches, "-w", str(root), "-f", "json", env=env
            )
            record.cli_runs.append(("campaign launch", done))
            if done.returncode != 0:
                return
            report = json.loads(done.stdout)
            record.launches.append(report)
            record.audited.append((LOCAL_ACTOR, "campaign:launch", "blast", report["sent"]))
            if report["state"] == "completed":
                return

    steady: list[tuple[str, Callable[[], None]]] = [
        ("create0", creator(0)),
        ("create1", creator(1)),
        ("refresh", refresher),
        ("read0", reader(0)),
        ("read1", reader(1)),
        ("cli-refresh", cli_refresh),
    ]
    finite: list[tuple[str, Callable[[], None]]] = [
        ("respond0", responder(0)),
        ("respond1", responder(1)),
        ("respond2", responder(2)),
        ("contend", lambda: contender(range(scale.contests, 2 * scale.contests))),
        ("cli-launch", cli_launch),
    ]
    # Half the races on the idle server, where both workers take the requests at once, half
    # while everything else writes.
    contender(range(scale.contests))
    started = time.monotonic()
    threads = {
        name: threading.Thread(target=_guarded(record, name, work), name=name)
        for name, work in [*steady, *finite]
    }
    for thread in threads.values():
        thread.start()
    for name, _ in finite:  # the campaign is sent, every response posted, every race run …
        threads[name].join(timeout=max(0.0, DEADLINE_SECONDS - (time.monotonic() - started)))
    # … while the steady writers go on, for LOAD_SECONDS at least
    stop.wait(max(0.0, scale.load_seconds - (time.monotonic() - started)))
    stop.set()
    for thread in threads.values():
        thread.join(timeout=max(1.0, DEADLINE_SECONDS + 60 - (time.monotonic() - started)))
    return [t for t in threads.values() if t.is_alive()]


# -- the scenario ---------------------------------------------------------------------------
def _response_requests(ws: Workspace) -> tuple[list[list[dict[str, Any]]], int]:
    """Request bodies of response events for campaign warm: every user delivered, every third
    one clicked; each request repeats one of its events, every fourth one also the last
    event of the request before it (which the other worker may be storing at that moment).
    Returns them and the number of distinct events."""
    sent = sorted(ws.select(WARM).ids())
    at = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)
    events = [
        {"campaign": "warm", "user_id": u, "response": "delivered", "ts": at.isoformat()}
        for u in sent
    ] + [
        {
            "campaign": "warm",
            "user_id": u,
            "response": "clicked",
            "ts": (at + dt.timedelta(minutes=5 + i % 7)).isoformat(),
        }
        for i, u in enumerate(sent[::3])
    ]
    size = RESPONSES_PER_REQUEST
    chunks = [events[i : i + size] for i in range(0, len(events), size)]
    requests = []
    for n, chunk in enumerate(chunks):
        body = [*chunk, dict(chunk[0])]
        if n % 4 == 3:
            body.append(dict(chunks[n - 1][-1]))
        requests.append(body)
    assert len({(e["user_id"], e["response"], e["ts"]) for e in events}) == len(events)
    return requests, len(events)


def _prepare(root: Path, overrides: dict[str, Any]) -> tuple[Workspace, dict[str, Any]]:
    """Small batches for the campaign's channel, the base segments, a campaign already sent
    (for the responses), the campaign to send. Returns the workspace and the dry run."""
    with (root / "portrait.toml").open("a", encoding="utf-8") as toml:
        toml.write(f'\n[channels.outbox]\ntype = "file"\nbatch_size = {BATCH}\n')
    ws = portrait.open(root, overrides=overrides)
    for name, rule in BASE.items():
        ws.segments.create(name, rule)
    campaigns = ws.campaigns()
    campaigns.create(
        {
            "name": "warm",
            "audience": WARM,
            "channel": "file",
            "variants": [{"name": "A", "weight": 100, "template": "{{ city }}"}],
        }
    )
    warm = campaigns.launch("warm")
    assert warm.state == "completed" and warm.sent == ws.count(WARM)["size"]
    campaigns.create(ab_test("blast", BLAST, "outbox"))
    plan = campaigns.dry_run("blast").to_dict()
    assert plan["render_errors"] == 0 and plan["suppressed"] == 0
    return ws, plan


def _rows(ws: Workspace, sql: str) -> list[tuple[Any, ...]]:
    with ws.metadata.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql))]


def run_scenario(root: Path, logs: Path, database_url: str | None, scale: Scale) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTRAIT_")}
    overrides: dict[str, Any] = {}
    if database_url:
        env["PORTRAIT_STORE_METADATA_URL"] = database_url
        overrides["store.metadata_url"] = database_url
    ws, plan = _prepare(root, overrides)
    tasks = ["create0", "create1", "refresh", "contend", "read0", "read1"]
    tasks += ["respond0", "respond1", "respond2"]
    keys = {}
    for task in tasks:
        info, secret = ws.keys.create("marketer", name=task)
        keys[task] = (info.id, secret)
    requests, distinct_events = _response_requests(ws)
    setup = Setup(root, env, keys, ws.select("age > 0").ids(), requests, scale)
    generation_before = ws.metadata.generation()
    (audit_before,) = _rows(ws, "SELECT count(*) FROM audit_log")[0]
    ws.metadata.engine.dispose()
    record = Record()

    with serving(root, env, logs / "serve.log") as url:
        stuck = _writers(url, setup, record)
        assert not stuck, f"writers still running at the deadline: {stuck}"
        # Both workers served segment writes: /metrics counts those of the worker answering.
        creates = sum(1 for c in record.calls if c.path == "/v1/segments" and c.ok)
        served = [_served(url, "/v1/segments", "POST", "200") for _ in range(20)]
        assert any(0 < n < creates for n in served), (served, creates)

    # Every request and command succeeded: no 500, no "database is locked", no traceback.
    assert not record.errors, record.errors
    failed = [c for c in record.calls if not c.ok and c.task != "contend"]
    assert not failed, failed[:5]
    commands = [(what, r.returncode, r.stderr[-3000:]) for what, r in record.cli_runs]
    assert all(code == 0 for _, code, _ in commands), commands
    said = json.dumps([c.body for c in record.calls], ensure_ascii=False)
    said += "".join(r.stderr for _, r in record.cli_runs)
    said += (logs / "serve.log").read_text(encoding="utf-8", errors="replace")
    assert "locked" not in said.lower() and "Traceback" not in said, said[-3000:]
    tally = Counter(c.task for c in record.calls)
    assert all(tally[t] >= 5 for t in ("create0", "create1", "refresh", "read0", "read1")), tally
    assert record.cli_refreshes and len(record.launches) >= 2

    # A name several clients took at the same moment: one 2xx, the others a 400 saying so.
    assert len(record.contests) == 2 * 2 * scale.contests
    for path, name, calls in record.contests:
        statuses = sorted(c.status for c in calls)
        assert statuses == [200] + [400] * (CONTENDERS - 1), (path, name, calls)
        for lost in (c for c in calls if not c.ok):
            assert "exists" in lost.body["error"]["message"], lost

    ws = portrait.open(root, overrides=overrides)
    try:
        _check(ws, record, plan, generation_before, audit_before, distinct_events, setup)
    finally:
        ws.metadata.engine.dispose()


def _check(
    ws: Workspace,
    record: Record,
    plan: dict[str, Any],
    generation_before: int,
    audit_before: int,
    distinct_events: int,
    setup: Setup,
) -> None:
    root, requests = ws.root, setup.responses
    postgres = ws.metadata.engine.dialect.name == "postgresql"
    # Segments: each one exists exactly once, with its members, and one snapshot per
    # evaluation made (its creation, each HTTP refresh, each CLI refresh that listed it).
    names = [r[0] for r in _rows(ws, "SELECT name FROM segments")]
    assert len(names) == len(set(names)) and set(names) == set(BASE) | set(record.created)
    evaluations = Counter([*names, *record.http_refreshes, *record.cli_refreshes])
    snapshots = Counter(
        dict(_rows(ws, "SELECT segment, count(*) FROM segment_snapshots GROUP BY segment"))
    )
    assert snapshots == evaluations
    kept = _rows(
        ws,
        "SELECT segment, count(*) FROM segment_snapshots WHERE members IS NOT NULL "
        "GROUP BY segment",
    )
    if postgres:  # two snapshots taken at the same moment may each keep one more for a while
        assert all(n >= min(KEEP_MEMBERS, evaluations[s]) for s, n in kept), kept
    else:
        assert dict(kept) == {s: min(KEEP_MEMBERS, evaluations[s]) for s in names}
    for name, rule in {**BASE, **record.created}.items():
        expected = {int(u) for u in ws.select(rule).uids()}
        assert {s.size for s in ws.segments.history(name)} == {len(expected)}, name
        assert set(ws.segments.members(name)) == expected, name

    # One audit entry per audited call, with the caller's key, the target and the rows.
    logged = _rows(ws, "SELECT actor, action, target, rows FROM audit_log ORDER BY id")
    assert len(logged) - audit_before == len(record.audited)
    assert Counter(logged[audit_before:]) == Counter(record.audited)

    # Campaigns created in a race: each stored once, with one "create" in its log.
    raced = _rows(
        ws,
        "SELECT c.name, count(e.id) FROM campaigns c JOIN campaign_events e "
        "ON e.campaign = c.name AND e.action = 'create' WHERE c.name LIKE 'same%' GROUP BY c.name",
    )
    assert dict(raced) == {f"same_{n}": 1 for n in range(2 * setup.scale.contests)}

    # The campaign: one delivery record per targeted user; each user sent to is in the
    # outbox exactly once, the control users not at all.
    assert record.launches[0]["pending"] > 0 and record.launches[-1]["state"] == "completed"
    groups = {g["group"]: g["users"] for g in plan["groups"]}
    audience = {int(u) for u in ws.select(BLAST).uids()}
    assert sum(groups.values()) == plan["audience"] == len(audience) > 2000
    deliveries = _rows(
        ws, "SELECT uid, user_id, grp, state FROM deliveries WHERE campaign = 'blast'"
    )
    assert len(deliveries) == len(audience) and {int(r[0]) for r in deliveries} == audience
    assert Counter(r[2] for r in deliveries) == groups
    sent = len(audience) - groups["control"]
    assert Counter(r[3] for r in deliveries) == {"control": groups["control"], "sent": sent}
    report = ws.campaigns().report("blast")
    assert (report["run"], report["run_state"]) == (1, "completed")
    assert {g["group"]: (g["targeted"], g["sent"]) for g in report["groups"]} == {
        g: (n, 0 if g == "control" else n) for g, n in groups.items()
    }
    assert [r["run"] for r in ws.campaigns().show("blast")["runs"]] == [1]
    files = sorted((root / "campaigns" / "outbox" / "blast").rglob("*"))
    assert {f.parent.name for f in files if f.is_file()} == {"run-0001"}
    assert all(f.suffix == ".jsonl" for f in files if f.is_file())  # no temporary file left
    lines = [
        json.loads(line)
        for f in files
        if f.is_file()
        for line in f.read_text(encoding="utf-8").splitlines()
    ]
    outbox = Counter(m["user_id"] for m in lines)
    assert set(outbox.values()) == {1}
    assert set(outbox) == {r[1] for r in deliveries if r[3] == "sent"}
    assert len({m["message_id"] for m in lines}) == len(lines) == sent
    assert sum(f.is_file() for f in files) == math.ceil(sent / BATCH)

    # Response events: each distinct one stored once, and counted once over all requests.
    assert len(record.responses) == len(requests)
    ((stored,),) = _rows(ws, "SELECT count(*) FROM responses WHERE campaign = 'warm'")
    assert stored == distinct_events
    assert sum(r["rejected"] for r in record.responses) == 0
    assert sum(r["loaded"] for r in record.responses) == distinct_events
    posted = sum(len(r) for r in requests)
    assert sum(r["duplicates"] for r in record.responses) == posted - distinct_events

    # The database itself is sound.
    if ws.metadata.engine.dialect.name == "sqlite":
        with contextlib.closing(sqlite3.connect(root / "meta" / "portrait.db")) as db:
            assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            assert db.execute("PRAGMA foreign_key_check").fetchall() == []

    # The change counter (the key of every process's result cache) moved once per change.
    changes = sum(evaluations.values()) - len(BASE)
    moved = ws.metadata.generation() - generation_before
    assert moved == changes


def test_concurrent_writers_on_sqlite(demo_ws: Workspace, tmp_path: Path) -> None:
    """Two API workers, a CLI refresh loop and a campaign sender at once, on the default
    SQLite metadata database (WAL, busy timeout)."""
    run_scenario(demo_ws.root, tmp_path, None, FULL)


def test_concurrent_writers_on_postgresql(
    demo_ws: Workspace, postgres_url: str, tmp_path: Path
) -> None:
    """The same, a little smaller, with the metadata database on PostgreSQL."""
    run_scenario(demo_ws.root, tmp_path, postgres_url, REDUCED)
