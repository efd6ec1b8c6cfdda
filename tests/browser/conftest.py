"""The web console in a real browser: ``portrait serve`` on a free 127.0.0.1 port over a copy
of the 3,000-user demo, with one user per role, driven by Playwright through Debian's
chromium. With ``CI=true`` a missing chromium fails these tests; elsewhere they are skipped.

Every page a test opens is watched: a script error or a Content-Security-Policy violation in
the browser's console fails the test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import portrait
from portrait.workspace import Workspace
from tests.browser.harness import ARGS, CHROMIUM, serve, stop

PASSWORD = "a long test passphrase"  # noqa: S105 (the test accounts' password)
ROLES = ("viewer", "analyst", "marketer", "admin")


@dataclass
class Server:
    """A running ``portrait serve``: its URL and workspace."""

    url: str
    root: Path
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def workspace(self) -> Workspace:
        return portrait.open(self.root)


def start_server(root: Path, env: dict[str, str] | None = None) -> Server:
    log = root.parent / f"serve-{root.name}-{id(root)}.log"
    process, url = serve(root, log, env=env)
    return Server(url, root, process, log)


def stop_server(server: Server) -> None:
    stop(server.process)


@contextmanager
def served(
    template: Path,
    root: Path,
    prepare: Callable[[Workspace], object] | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[Server]:
    """``portrait serve`` on a console copy of the demo at ``root`` (``prepare`` changes the
    workspace first), stopped on the way out."""
    console_workspace(template, root)
    if prepare is not None:
        ws = portrait.open(root)
        prepare(ws)
        ws.close()
    running = start_server(root, env)
    try:
        yield running
    finally:
        stop_server(running)


def console_workspace(template: Path, root: Path) -> Path:
    """A copy of the demo with one console user per role (``<role>`` / :data:`PASSWORD`)."""
    shutil.copytree(template, root, symlinks=True)
    ws = portrait.open(root)
    for role in ROLES:
        ws.accounts.create(role, role, PASSWORD)
    ws.segments.create("young", "age < 30")
    ws.segments.create("beijing", 'city = "北京"')
    ws.close()
    return root


@pytest.fixture(scope="session")
def server(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with served(demo_template, tmp_path_factory.mktemp("console") / "ws") as running:
        yield running


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"no chromium at {CHROMIUM}: the console's browser tests need it (make)")
        pytest.skip(f"no chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        launched.close()


@dataclass
class Watched:
    """Errors the browser reported while a test ran (script errors, CSP violations)."""

    errors: list[str] = field(default_factory=list)


@pytest.fixture
def watched() -> Watched:
    return Watched()


@pytest.fixture
def context(browser: Any, watched: Watched) -> Iterator[Any]:
    """A fresh browser profile (no cookies) for one test."""
    made = browser.new_context(locale="en-US", viewport={"width": 1400, "height": 900})
    made.set_default_timeout(15_000)

    def on_console(message: Any) -> None:
        if message.type == "error":
            watched.errors.append(f"console: {message.text}")

    def on_page(page: Any) -> None:
        page.on("console", on_console)
        page.on("pageerror", lambda error: watched.errors.append(f"page error: {error}"))

    made.on("page", on_page)
    yield made
    made.close()
    expected = [e for e in watched.errors if "status of 4" not in e]  # refusals tested on purpose
    assert not expected, expected


@pytest.fixture
def page(context: Any) -> Any:
    return context.new_page()


@pytest.fixture
def axe_page(browser: Any) -> Iterator[Any]:
    """A page for axe-core, injected as an inline script: this context alone bypasses the
    page's Content-Security-Policy."""
    context = browser.new_context(bypass_csp=True, locale="en-US")
    yield context.new_page()
    context.close()


def sign_in(page: Any, server: Server, name: str, password: str = PASSWORD) -> None:
    page.goto(f"{server.url}/login")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state("networkidle")


def wait_counted(page: Any) -> int | None:
    """The builder's total once it has settled (no count pending)."""
    page.wait_for_function(
        "() => !document.querySelector('#builder .count.pending') && "
        "document.getElementById('total-size').textContent !== '—'"
    )
    text = page.locator("#total-size").get_attribute("data-size")
    return int(text) if text else None
