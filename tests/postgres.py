"""A PostgreSQL server for the tests of the metadata database, and a fresh database per test.

``PORTRAIT_TEST_DATABASE_URL`` (a URL whose user may ``CREATE DATABASE``) points the tests at
an existing server. Otherwise each test process (each pytest-xdist worker) starts its own
throwaway server with ``initdb`` and ``pg_ctl`` (trust authentication, no fsync; as root the
server runs as the ``postgres`` user), once per session. Every test gets a database of its own,
created empty and dropped afterwards, so tests stay independent of each other and of order.

Without a server the tests skip, except on CI (``CI=true``), where they fail.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest

URL_ENV = "PORTRAIT_TEST_DATABASE_URL"


def unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"PostgreSQL is required on CI: {reason}")
    pytest.skip(reason)


def _postgres_bin() -> Path | None:
    found = [
        p.parent
        for p in Path("/usr/lib/postgresql").glob("*/bin/initdb")
        if (p.parent / "pg_ctl").exists()
    ]
    if found:
        return max(found, key=lambda b: int(b.parent.name) if b.parent.name.isdigit() else 0)
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    return Path(initdb).parent if initdb and pg_ctl else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _check_driver() -> None:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        unavailable("psycopg is not installed (pip install 'portrait[postgres]')")


def throwaway_server() -> Iterator[str]:
    """Start a server; yield the URL of its ``postgres`` database; stop and delete it."""
    bindir = _postgres_bin()
    if bindir is None:
        unavailable("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    prefix: list[str] = []
    if os.geteuid() == 0:  # the server refuses to run as root
        try:
            postgres = pwd.getpwnam("postgres")
        except KeyError:
            unavailable("running as root and there is no 'postgres' user to run the server")
        prefix = ["runuser", "-u", "postgres", "--"]
    data = Path(tempfile.mkdtemp(prefix="portrait-pg-"))  # the socket goes here too: short path
    if prefix:
        os.chown(data, postgres.pw_uid, postgres.pw_gid)
    pg_ctl = [*prefix, str(bindir / "pg_ctl"), "-D", str(data)]
    started = False
    try:
        subprocess.run(
            [
                *prefix,
                str(bindir / "initdb"),
                *("-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale"),
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=180,
        )
        for _ in range(3):  # another process may take the free port first
            port = _free_port()
            options = f"-c listen_addresses=127.0.0.1 -p {port} -k {data} -c fsync=off"
            start = subprocess.run(
                [*pg_ctl, "-o", options, "-l", str(data / "server.log"), "-w", "start"],
                capture_output=True,
                text=True,
                check=False,
                timeout=180,
            )
            if start.returncode == 0:
                started = True
                break
        assert started, start.stdout + start.stderr
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        if started:
            subprocess.run(
                [*pg_ctl, "stop", "-m", "immediate"], capture_output=True, check=False, timeout=120
            )
        shutil.rmtree(data, ignore_errors=True)


def server_url() -> Iterator[str]:
    """The server to create test databases on: ``$PORTRAIT_TEST_DATABASE_URL`` or our own."""
    _check_driver()
    given = os.environ.get(URL_ENV, "").strip()
    if given:
        yield given
    else:
        yield from throwaway_server()


def fresh_database(server: str) -> Iterator[str]:
    """An empty database on ``server`` for one test; dropped afterwards."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    name = f"portrait_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        try:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        except SQLAlchemyError as exc:
            pytest.fail(
                f"cannot create a test database on {URL_ENV if os.environ.get(URL_ENV) else 'the server'}"
                f" (its user needs CREATEDB): {str(exc).splitlines()[0]}"
            )
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
        with admin.connect() as conn:  # FORCE: a test may leave connections open
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()
