"""Campaign delivery over a real webhook: a real HTTP receiver on 127.0.0.1 (in a thread) and,
where a crash matters, the sender as a real ``portrait campaign launch`` subprocess.

The receiver records every request (Idempotency-Key, signature check, message ids, body) and
answers by a per-test policy. What is checked: exactly once across a SIGKILL between "sent" and
"recorded", a down endpoint (resumable, nothing lost), 4xx as permanent, 5xx retried under the
same key, and the HMAC signature."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import portrait
from portrait.errors import PortraitError
from portrait.workspace import Workspace
from tests.campaign_specs import ab_test

PORTRAIT = str(Path(sys.executable).parent / "portrait")
SECRET = "campaign-test-secret"  # noqa: S105 (a test-only signing key)
SECRET_ENV = "PORTRAIT_TEST_SMS_SECRET"  # noqa: S105 (a variable name)
RULE = "age between 30 and 34"  # 516 of the 3,000 demo users
BATCH = 100


def campaign(name: str) -> dict[str, Any]:
    return ab_test(name, RULE, "sms", a="{{ city }} hi", b="hello {{ user_id }}")


# -- the receiver -------------------------------------------------------------------------
def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, signature: str | None) -> bool:
    """What a receiver does with X-Portrait-Signature: recompute, compare in constant time."""
    if not signature or not signature.startswith("sha256="):
        return False
    return hmac.compare_digest(sign(secret, body), signature)


@dataclass
class Request:
    key: str | None
    signature: str | None
    valid: bool
    body: bytes
    batch: str
    messages: list[dict[str, Any]]

    @property
    def message_ids(self) -> list[str]:
        return [m["message_id"] for m in self.messages]


@dataclass
class Receiver:
    """A webhook endpoint. ``policy(receiver, request)`` gives the status to answer with, or
    None to drop the connection without an answer; a bad signature is answered 401."""

    secret: str
    policy: Callable[[Receiver, Request], int | None]
    port: int = 0
    requests: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    sender_pid: int | None = None
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def keys(self) -> list[str]:
        """Distinct Idempotency-Keys in order of arrival."""
        with self.lock:
            return list(dict.fromkeys(r.key for r in self.requests if r.key))

    def handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                signature = self.headers.get("X-Portrait-Signature")
                data = json.loads(body)
                request = Request(
                    key=self.headers.get("Idempotency-Key"),
                    signature=signature,
                    valid=verify(receiver.secret, body, signature),
                    body=body,
                    batch=data["batch"],
                    messages=data["messages"],
                )
                with receiver.lock:
                    receiver.requests.append(request)
                status = receiver.policy(receiver, request) if request.valid else 401
                if status is None:
                    self.close_connection = True
                    return
                try:
                    payload = b'{"ok": true}' if status < 300 else b'{"error": "refused"}'
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:  # the sender is gone (killed): nobody to answer
                    self.close_connection = True

            def log_message(self, format: str, *args: Any) -> None:
                return None

        return Handler

    def __enter__(self) -> Receiver:
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), self.handler())
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.shutdown()
        self.server.server_close()


def always(status: int) -> Callable[[Receiver, Request], int | None]:
    return lambda receiver, request: status


# -- helpers ------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def configure(root: Path, url: str, *, attempts: int = 2) -> None:
    """Small batches, few tries and the webhook channel 'sms' in portrait.toml."""
    path = root / "portrait.toml"
    text = path.read_text(encoding="utf-8")
    settings = f"batch_size = {BATCH}\nattempts = {attempts}\n"
    if re.search(r"^\[campaigns\]$", text, re.MULTILINE):
        text = re.sub(r"^\[campaigns\]\n", "[campaigns]\n" + settings, text, count=1, flags=re.M)
    else:
        text += "\n[campaigns]\n" + settings
    text += (
        f'\n[channels.sms]\ntype = "webhook"\nurl = "{url}"\nsecret_env = "{SECRET_ENV}"\n'
        "timeout = 10\n"
    )
    path.write_text(text, encoding="utf-8")


def prepare(demo_ws: Workspace, url: str, name: str, *, attempts: int = 2) -> Workspace:
    """Configure the channel, reopen (config is read at open) and create the campaign."""
    configure(demo_ws.root, url, attempts=attempts)
    ws = portrait.open(demo_ws.root)
    ws.campaigns().create(campaign(name))
    return ws


def sender_env() -> dict[str, str]:
    return {**os.environ, SECRET_ENV: SECRET}


def launch_cli(root: Path, name: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PORTRAIT, "campaign", "launch", name, "-w", str(root), "-f", "json"],
        capture_output=True,
        text=True,
        env=sender_env(),
        timeout=120,
        check=False,
    )


def user_ids(ws: Workspace, uids: Iterable[int]) -> set[str]:
    column = pq.read_table(ws.built.profile_file, columns=["user_id"]).column(0)
    return {str(v) for v in column.take(pa.array(sorted(uids), pa.int64())).to_pylist()}


@dataclass(frozen=True)
class Groups:
    """Who the campaign's run holds, as user ids: the audience, control, sent, failed."""

    audience: set[str]
    control: set[str]
    sent: set[str]
    counts: dict[str, int]
    state: str


def groups(root: Path, name: str) -> Groups:
    ws = portrait.open(root)
    service = ws.campaigns()
    shown = service.show(name)
    assert len(shown["runs"]) == 1
    return Groups(
        audience=user_ids(ws, ws.select(RULE).bitmap),
        control=user_ids(ws, service.members(name, "control")),
        sent=user_ids(ws, service.members(name, "sent")),
        counts=shown["runs"][0]["deliveries"],
        state=shown["state"],
    )


def received_ids(requests: list[Request]) -> Counter[str]:
    return Counter(m for r in requests for m in r.message_ids)


def check_requests(requests: list[Request], name: str) -> None:
    """Every request is well formed: signed right, header key = body batch key, message ids
    ``campaign:run:user_id``; a repeated key carries the very same batch."""
    assert requests
    by_key: dict[str, list[Request]] = defaultdict(list)
    keys_of: dict[str, set[str]] = defaultdict(set)
    for r in requests:
        assert r.valid, "a request's signature did not verify"
        assert re.fullmatch(r"sha256=[0-9a-f]{64}", r.signature or "")
        assert r.key is not None and r.key == r.batch
        assert re.fullmatch(rf"{name}:1:\d+", r.key)
        assert r.messages
        for m in r.messages:
            assert m["message_id"] == f"{name}:1:{m['user_id']}"
            assert (m["campaign"], m["run"]) == (name, 1)
            assert m["variant"] in ("A", "B")
            if m["variant"] == "B":
                assert m["text"] == f"hello {m['user_id']}"
            keys_of[m["message_id"]].add(r.key)
        by_key[r.key].append(r)
    # no message id ever travels under two different keys
    assert {mid: keys for mid, keys in keys_of.items() if len(keys) > 1} == {}
    # a repeat is the same batch again: same ids, same bytes, same signature
    for repeats in by_key.values():
        first = repeats[0]
        for again in repeats[1:]:
            assert again.message_ids == first.message_ids
            assert again.body == first.body and again.signature == first.signature
    # a receiver that drops repeated keys counts every message once
    deduplicated = received_ids([rs[0] for rs in by_key.values()])
    assert set(deduplicated.values()) == {1}


# -- the tests ----------------------------------------------------------------------------
def test_exactly_once_when_the_sender_is_killed_mid_batch(demo_ws: Workspace) -> None:
    """SIGKILL while the 3rd batch is at the receiver (before the answer): its users stay
    'pending', the next launch forms the same batch under the same key, and every user of the
    audience outside the control gets exactly one message."""
    killed = threading.Event()

    def kill_on_third_batch(receiver: Receiver, request: Request) -> int | None:
        keys = receiver.keys()
        if not killed.is_set() and len(keys) == 3 and request.key == keys[2]:
            assert receiver.sender_pid is not None
            os.kill(receiver.sender_pid, signal.SIGKILL)
            killed.set()
            return None  # the sender never hears back, so never records the batch as sent
        return 200

    with Receiver(SECRET, kill_on_third_batch) as receiver:
        ws = prepare(demo_ws, receiver.url, "c1")
        root = ws.root
        sender = subprocess.Popen(
            [PORTRAIT, "campaign", "launch", "c1", "-w", str(root)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=sender_env(),
        )
        receiver.sender_pid = sender.pid
        try:
            _, stderr = sender.communicate(timeout=120)
        finally:
            if sender.poll() is None:
                sender.kill()
                sender.wait()
        assert killed.is_set(), stderr
        assert sender.returncode == -signal.SIGKILL

        # after the kill: two batches recorded as sent, the third one's users still pending
        half = groups(root, "c1")
        assert half.state == "running"
        assert half.counts.get("sent") == 2 * BATCH
        assert half.counts.get("pending") == len(half.audience - half.control) - 2 * BATCH
        assert len(receiver.requests) == 3
        third = receiver.requests[2].key

        for _ in range(3):  # resume until the run is done
            resumed = launch_cli(root, "c1")
            assert resumed.returncode == 0, resumed.stderr
            if json.loads(resumed.stdout)["state"] == "completed":
                break
        requests = list(receiver.requests)

    done = groups(root, "c1")
    assert done.state == "completed"
    assert set(done.counts) == {"sent", "control"}
    keys = [r.key for r in requests]
    # the killed batch came again under its key (campaign:run:first uid), and only it
    assert Counter(keys)[third] == 2
    assert {k: n for k, n in Counter(keys).items() if n > 1} == {third: 2}
    check_requests(requests, "c1")

    got = received_ids(requests)
    assert set(got) == {f"c1:1:{u}" for u in done.sent}
    # nothing skipped: the whole audience minus the control holdout was sent to
    assert done.control and done.sent == done.audience - done.control
    assert len(done.sent) == done.counts["sent"]
    assert not {f"c1:1:{u}" for u in done.control} & set(got)
    assert not done.control & {m["user_id"] for r in requests for m in r.messages}


def test_endpoint_down_stops_resumably_then_completes(demo_ws: Workspace) -> None:
    """Nothing listens on the channel's port: the launch stops with exit code 1 and says how
    to resume, nothing is sent; once the endpoint is up, launching again completes and every
    user gets exactly one message."""
    port = free_port()
    ws = prepare(demo_ws, f"http://127.0.0.1:{port}/hook", "c2")
    root = ws.root

    down = launch_cli(root, "c2")
    assert down.returncode == 1, down.stderr
    assert "Traceback" not in down.stderr
    assert "portrait campaign launch c2" in down.stderr
    assert "resume" in down.stderr and "2 tries" in down.stderr
    stopped = groups(root, "c2")
    assert stopped.state == "running"
    assert stopped.sent == set()
    assert "sent" not in stopped.counts and "failed" not in stopped.counts

    with Receiver(SECRET, always(200), port=port) as receiver:
        resumed = launch_cli(root, "c2")
        assert resumed.returncode == 0, resumed.stderr
        assert json.loads(resumed.stdout)["state"] == "completed"
        requests = list(receiver.requests)

    done = groups(root, "c2")
    assert done.state == "completed"
    check_requests(requests, "c2")
    got = received_ids(requests)
    assert set(got.values()) == {1}  # each message once, even the batch cut off at first
    assert set(got) == {f"c2:1:{u}" for u in done.sent}
    assert done.sent == done.audience - done.control
    assert len(requests) == -(-len(done.sent) // BATCH)


def test_a_4xx_answer_is_permanent(demo_ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    """400 for every batch: each batch is tried once, its users end 'failed' with the
    refusal as the reason, and the campaign ends 'failed' (nothing was sent)."""
    monkeypatch.setenv(SECRET_ENV, SECRET)
    with Receiver(SECRET, always(400)) as receiver:
        ws = prepare(demo_ws, receiver.url, "c3", attempts=3)
        report = ws.campaigns().launch("c3")
        requests = list(receiver.requests)

    assert report.state == "failed" and report.sent == 0
    done = groups(ws.root, "c3")
    assert done.state == "failed"
    assert set(done.counts) == {"failed", "control"}
    assert done.sent == set()
    assert report.failed == done.counts["failed"] == len(done.audience - done.control)
    check_requests(requests, "c3")
    assert set(Counter(r.key for r in requests).values()) == {1}  # no retry of a 400
    assert set(received_ids(requests)) == {f"c3:1:{u}" for u in done.audience - done.control}

    service = ws.campaigns()
    failed = sorted(service.store.campaign_members("c3", "targeted"))
    reasons = {
        h["reason"]
        for uid in failed[:50]
        for h in service.history(uid)
        if h["campaign"] == "c3" and h["state"] == "failed"
    }
    assert reasons
    assert all("refused" in why and "400" in why for why in reasons), reasons


def test_a_5xx_answer_is_retried_under_the_same_key(
    demo_ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """503 for the first request of each batch, then 200: every batch arrives twice with the
    same Idempotency-Key and body, the campaign completes, each user sent once."""
    monkeypatch.setenv(SECRET_ENV, SECRET)

    def first_503(receiver: Receiver, request: Request) -> int | None:
        with receiver.lock:
            seen = sum(r.key == request.key for r in receiver.requests)
        return 503 if seen == 1 else 200

    with Receiver(SECRET, first_503) as receiver:
        ws = prepare(demo_ws, receiver.url, "c4", attempts=2)
        report = ws.campaigns().launch("c4")
        requests = list(receiver.requests)

    assert report.state == "completed"
    done = groups(ws.root, "c4")
    assert done.state == "completed"
    assert set(done.counts) == {"sent", "control"}
    check_requests(requests, "c4")
    per_key = Counter(r.key for r in requests)
    assert set(per_key.values()) == {2}
    assert len(per_key) == -(-len(done.sent) // BATCH)
    assert set(received_ids(requests).values()) == {2}  # each message: the 503, then the 200
    assert set(received_ids(requests)) == {f"c4:1:{u}" for u in done.sent}
    assert done.sent == done.audience - done.control
    assert report.sent == len(done.sent)


def test_hmac_signature(demo_ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    """The receiver's check really compares the signature; a receiver holding another secret
    refuses every batch (401, permanent)."""
    body = json.dumps({"batch": "x:1:1", "messages": [{"message_id": "x:1:u1"}]}).encode()
    signature = sign(SECRET, body)
    assert verify(SECRET, body, signature)
    assert not verify(SECRET, body.replace(b"u1", b"u2"), signature)  # tampered body
    assert not verify("another-secret", body, signature)  # wrong secret
    assert not verify(SECRET, body, signature.removeprefix("sha256="))  # malformed header
    assert not verify(SECRET, body, None)  # unsigned

    monkeypatch.setenv(SECRET_ENV, SECRET)
    with Receiver("another-secret", always(200)) as receiver:
        ws = prepare(demo_ws, receiver.url, "c5")
        report = ws.campaigns().launch("c5")
        requests = list(receiver.requests)

    assert requests and not any(r.valid for r in requests)
    # the sender signed with its secret: the same check with that secret passes
    assert all(verify(SECRET, r.body, r.signature) for r in requests)
    assert set(Counter(r.key for r in requests).values()) == {1}
    done = groups(ws.root, "c5")
    assert report.sent == 0 and done.sent == set()
    assert set(done.counts) == {"failed", "control"}


def test_a_missing_signing_secret_is_a_clear_error(
    demo_ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No value in the channel's secret_env: a Portrait error naming the variable (the CLI
    prints it without a traceback), not a bare exception."""
    monkeypatch.delenv(SECRET_ENV, raising=False)
    with Receiver(SECRET, always(200)) as receiver:
        ws = prepare(demo_ws, receiver.url, "c6")
        with pytest.raises(PortraitError, match=SECRET_ENV):
            ws.campaigns().launch("c6")
        assert receiver.requests == []
        assert ws.campaigns().state("c6") == "draft"  # refused before any run started
