"""Request limits against a real server (``portrait serve`` on 127.0.0.1): a body is never
read before the key is checked nor past the limit, whatever its transfer encoding; bad
parameters are 4xx with the JSON error; the OpenAPI document lists every error status."""

from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from portrait.workspace import Workspace

PORTRAIT = str(Path(sys.executable).with_name("portrait"))
MiB = 2**20


@pytest.fixture
def served(
    demo_ws: Workspace, tmp_path: Path
) -> Iterator[tuple[str, int, subprocess.Popen[bytes]]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen(
        [PORTRAIT, "serve", "--port", str(port), "-w", str(demo_ws.root)],
        stdout=log,
        stderr=log,
        env={**os.environ},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        else:
            raise AssertionError((tmp_path / "server.log").read_text())
        yield url, port, process
    finally:
        process.terminate()
        process.wait(timeout=20)


def _peak_rss(pid: int) -> int:
    """The process's peak resident memory in bytes (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def _chunked_post(port: int, path: str, headers: dict[str, str], mebibytes: int) -> tuple[int, int]:
    """POST ``mebibytes`` MiB with chunked transfer encoding (no Content-Length), stopping
    when the server answers; returns (status, MiB sent)."""
    sock = socket.create_connection(("127.0.0.1", port))
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
    head += "Content-Type: application/json\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    sock.sendall(head.encode())
    chunk = f"{MiB:x}\r\n".encode() + b" " * MiB + b"\r\n"
    sent = 0
    try:
        for _ in range(mebibytes):
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break
            sock.sendall(chunk)
            sent += 1
        else:
            sock.sendall(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass
    sock.settimeout(30)
    answer = b""
    while b"\r\n" not in answer:
        data = sock.recv(4096)
        if not data:
            break
        answer += data
    sock.close()
    return int(answer.split()[1]), sent


def test_bodies_are_not_read_before_the_key_nor_past_the_limit(
    served: tuple[str, int, subprocess.Popen[bytes]], demo_ws: Workspace
) -> None:
    url, port, process = served
    before = _peak_rss(process.pid)
    status, sent = _chunked_post(port, "/v1/count", {}, 300)
    assert status == 401 and sent < 300
    _, key = demo_ws.keys.create("viewer")
    status, sent = _chunked_post(port, "/v1/count", {"Authorization": f"Bearer {key}"}, 300)
    assert status == 413 and sent < 300
    grown = _peak_rss(process.pid) - before
    assert grown < 120 * MiB, f"the server grew by {grown / MiB:.0f} MiB"
    assert httpx.get(f"{url}/healthz").status_code == 200


def test_invalid_requests_are_not_echoed(
    served: tuple[str, int, subprocess.Popen[bytes]], demo_ws: Workspace
) -> None:
    url, _, _ = served
    _, key = demo_ws.keys.create("admin")
    headers = {"Authorization": f"Bearer {key}"}
    big = {"rule": "x" * (20 * MiB)}
    answer = httpx.post(f"{url}/v1/count", json=big, headers=headers, timeout=60)
    assert answer.status_code == 422 and len(answer.content) < 4096
    error = answer.json()["error"]
    assert error["code"] == "bad_input" and error["where"] == "body.rule"
    wrong = httpx.post(
        f"{url}/v1/insight", json={"target": "age > 1", "top": "many"}, headers=headers
    )
    assert wrong.status_code == 422 and wrong.json()["error"]["where"] == "body.top"


def test_out_of_range_parameters_are_400(
    served: tuple[str, int, subprocess.Popen[bytes]], demo_ws: Workspace
) -> None:
    url, _, _ = served
    demo_ws.segments.create("beijing", 'city = "北京"')
    _, key = demo_ws.keys.create("admin")
    headers = {"Authorization": f"Bearer {key}"}
    for cursor in ("-5", "99999999999"):
        answer = httpx.get(
            f"{url}/v1/segments/beijing/members", params={"cursor": cursor}, headers=headers
        )
        assert answer.status_code == 400 and answer.json()["error"]["where"] == "cursor"
    huge = httpx.get(
        f"{url}/v1/campaigns/none/report", params={"run": "999999999999999999999"}, headers=headers
    )
    assert huge.status_code == 400 and huge.json()["error"]["where"] == "run"
    schema = httpx.get(f"{url}/openapi.json").json()
    documented = set(schema["paths"]["/v1/count"]["post"]["responses"])
    assert {"200", "400", "401", "403", "404", "413", "422", "429", "504"} <= documented
    members = set(schema["paths"]["/v1/segments/{name}/members"]["get"]["responses"])
    assert "413" not in members and "400" in members
