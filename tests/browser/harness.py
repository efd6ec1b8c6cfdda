"""Running the console for a browser: ``portrait serve`` in a process of its own on a free
127.0.0.1 port, ready once ``/readyz`` answers, and how Debian's chromium is launched. Shared
by the browser tests, ``bench/web_bench.py`` and ``tools/screenshots.py``."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

CHROMIUM = os.environ.get("PORTRAIT_CHROMIUM", "/usr/bin/chromium")
# headless as root, and nothing reaching out to the network (this machine has none)
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(
    root: Path,
    log: Path,
    *,
    env: dict[str, str] | None = None,
    timeout: float = 60,
) -> tuple[subprocess.Popen[bytes], str]:
    """``portrait serve`` over ``root`` (output to ``log``), once ready: the process and its
    URL. Fails with the end of the log if it stops or is not ready within ``timeout`` s."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable, "-m", "portrait", "serve", "--host", "127.0.0.1",
            "--port", str(port), "--no-access-log", "-w", str(root),
        ],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"portrait serve stopped: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"portrait serve never became ready: {log.read_text()[-2000:]}")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
