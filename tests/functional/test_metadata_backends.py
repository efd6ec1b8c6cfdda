"""The metadata database on SQLite and on PostgreSQL alike: schema migrations (from empty, from
the databases Portrait wrote before Alembic, refusing newer ones, all or nothing), the live
tables matching the migrations, and the newer tables at work (campaigns to the file channel
with responses and the report, API keys, the audit log) through the Python API and the CLI.

PostgreSQL databases come from ``tests/postgres.py`` (a throwaway server per test process, or
``PORTRAIT_TEST_DATABASE_URL``); each test gets an empty database of its own.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from typer.testing import CliRunner

import portrait
from portrait.cli import app
from portrait.errors import NotFoundError, WorkspaceError
from portrait.store import schema
from portrait.store.metadata import SCHEMA_VERSION, MetadataStore, metadata, open_database
from portrait.workspace import Workspace
from tests.campaign_specs import ab_test

PORTRAIT = str(Path(sys.executable).parent / "portrait")
T0 = dt.datetime(2026, 10, 1, 12, 0, tzinfo=dt.UTC)  # inside the demo's data period
runner = CliRunner()


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty metadata database on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'metadata.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def raw(url: str) -> Iterator[sa.Engine]:
    """A plain engine on the same database, for what Portrait is not asked to do."""
    engine = sa.create_engine(url)
    yield engine
    engine.dispose()


def schema_diff(engine: sa.Engine, target: sa.MetaData = metadata) -> list[Any]:
    """What autogenerate would change to make the database match ``target`` (empty: same)."""
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        return list(compare_metadata(context, target))


def scalar(engine: sa.Engine, sql: str) -> Any:
    with engine.connect() as conn:
        return conn.execute(sa.text(sql)).scalar()


def indexes(engine: sa.Engine, table: str) -> dict[str, list[str]]:
    return {i["name"]: list(i["column_names"]) for i in sa.inspect(engine).get_indexes(table)}


# -- migrations ------------------------------------------------------------------------------
def test_head_revision_is_the_newest_migration() -> None:
    script = ScriptDirectory.from_config(schema.alembic_config())
    assert script.get_heads() == [schema.HEAD_REVISION]
    assert schema.revisions() == ("0001", "0002", "0003", "0004", "0005", "0006")
    assert int(schema.HEAD_REVISION) == SCHEMA_VERSION


def test_migrations_from_empty_build_the_live_schema(url: str, raw: sa.Engine) -> None:
    """The test that fails when someone changes a table in metadata.py without a revision."""
    engine = open_database(url, Path("unused"))
    try:
        assert schema_diff(engine) == []
        assert scalar(engine, "SELECT version_num FROM alembic_version") == schema.HEAD_REVISION
        assert scalar(engine, "SELECT value FROM portrait_meta WHERE key = 'schema_version'") == (
            str(SCHEMA_VERSION)
        )
        assert MetadataStore(engine).schema_status() | {"database": None} == {
            "backend": engine.dialect.name,
            "database": None,
            "revision": schema.HEAD_REVISION,
            "head": schema.HEAD_REVISION,
            "up_to_date": True,
        }
        assert schema.upgrade(engine) == schema.HEAD_REVISION  # nothing left to do
    finally:
        engine.dispose()

    # the comparison notices a column the migrations do not make
    changed = sa.MetaData()
    for table in metadata.tables.values():
        table.to_metadata(changed)
    changed.tables["audit_log"].append_column(sa.Column("ip", sa.String(64)))
    (diff,) = schema_diff(raw, changed)
    assert diff[0] == "add_column" and diff[3].name == "ip"


def test_downgrades_retrace_the_history(url: str, raw: sa.Engine) -> None:
    open_database(url, Path("unused")).dispose()

    def downgrade(to: str) -> None:
        with schema.locked(raw) as conn:
            command.downgrade(schema.alembic_config(conn), to)

    downgrade("0003")
    tables = set(sa.inspect(raw).get_table_names())
    assert "api_keys" not in tables and "audit_log" not in tables
    assert scalar(raw, "SELECT value FROM portrait_meta WHERE key = 'schema_version'") == "3"
    downgrade("0002")
    assert "batch_size" not in {c["name"] for c in sa.inspect(raw).get_columns("campaign_runs")}
    assert indexes(raw, "deliveries") == {
        "deliveries_cap": ["channel", "state", "sent_at"],
        "deliveries_state": ["campaign", "run", "state", "uid"],
    }
    downgrade("base")
    assert set(sa.inspect(raw).get_table_names()) == {"alembic_version"}
    assert schema.upgrade(raw) is None  # empty again: built from scratch
    assert schema_diff(raw) == []


def test_concurrent_first_opens_migrate_once(url: str) -> None:
    def first_open(_: int) -> str | None:
        engine = open_database(url, Path("unused"))
        try:
            return str(schema.describe(engine)["revision"])
        finally:
            engine.dispose()

    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(first_open, range(4))) == [schema.HEAD_REVISION] * 4


# The databases Portrait wrote before Alembic, as its create_all emitted them at each schema
# version (types differ by backend only where SQLAlchemy's did).
TYPES = {
    "sqlite": {"ts": "DATETIME", "blob": "BLOB", "serial": "INTEGER"},
    "postgresql": {"ts": "TIMESTAMP WITH TIME ZONE", "blob": "BYTEA", "serial": "SERIAL"},
}
SCHEMA_1 = [
    'CREATE TABLE portrait_meta ("key" VARCHAR(64) NOT NULL, value VARCHAR(256) NOT NULL, '
    'PRIMARY KEY ("key"))',
    "CREATE TABLE id_lists (name VARCHAR(128) NOT NULL, created_at {ts} NOT NULL, "
    "source TEXT NOT NULL, rows INTEGER NOT NULL, matched INTEGER NOT NULL, "
    "unmatched INTEGER NOT NULL, duplicates INTEGER NOT NULL, members {blob} NOT NULL, "
    "PRIMARY KEY (name))",
    "CREATE TABLE segments (name VARCHAR(128) NOT NULL, mode VARCHAR(16) NOT NULL, "
    "rule TEXT NOT NULL, rule_text TEXT NOT NULL, description TEXT NOT NULL, "
    "created_at {ts} NOT NULL, updated_at {ts} NOT NULL, PRIMARY KEY (name))",
    "CREATE TABLE segment_snapshots (id {serial} NOT NULL, segment VARCHAR(128) NOT NULL, "
    "evaluated_at {ts} NOT NULL, profile_version VARCHAR(32) NOT NULL, as_of VARCHAR(10), "
    "size INTEGER NOT NULL, population INTEGER NOT NULL, seconds FLOAT NOT NULL, "
    "members {blob}, PRIMARY KEY (id), "
    "FOREIGN KEY(segment) REFERENCES segments (name) ON DELETE CASCADE)",
]
CAMPAIGNS = [
    "CREATE TABLE campaigns (name VARCHAR(64) NOT NULL, spec TEXT NOT NULL, "
    "state VARCHAR(16) NOT NULL, created_at {ts} NOT NULL, updated_at {ts} NOT NULL, "
    "PRIMARY KEY (name))",
    "CREATE TABLE campaign_events (id {serial} NOT NULL, campaign VARCHAR(64) NOT NULL, "
    "at {ts} NOT NULL, actor VARCHAR(128) NOT NULL, action VARCHAR(32) NOT NULL, "
    "from_state VARCHAR(16), to_state VARCHAR(16), detail TEXT NOT NULL, PRIMARY KEY (id))",
    "CREATE INDEX ix_campaign_events_campaign ON campaign_events (campaign)",
    "CREATE TABLE campaign_runs (campaign VARCHAR(64) NOT NULL, run INTEGER NOT NULL, "
    "state VARCHAR(16) NOT NULL, started_at {ts} NOT NULL, finished_at {ts}, "
    "profile_version VARCHAR(32) NOT NULL, as_of VARCHAR(10), audience_size INTEGER NOT NULL, "
    "{batch_size}members {blob} NOT NULL, PRIMARY KEY (campaign, run))",
    "CREATE TABLE deliveries (campaign VARCHAR(64) NOT NULL, run INTEGER NOT NULL, "
    "uid INTEGER NOT NULL, user_id VARCHAR(256) NOT NULL, grp VARCHAR(64) NOT NULL, "
    "channel VARCHAR(64) NOT NULL, state VARCHAR(16) NOT NULL, reason TEXT, batch INTEGER, "
    "attempts INTEGER NOT NULL, sent_at {ts}, PRIMARY KEY (campaign, run, uid))",
    "CREATE TABLE responses (campaign VARCHAR(64) NOT NULL, uid INTEGER NOT NULL, "
    "response VARCHAR(16) NOT NULL, at {ts} NOT NULL, run INTEGER NOT NULL, revenue FLOAT, "
    "PRIMARY KEY (campaign, uid, response, at))",
]
STATE_INDEX = "CREATE INDEX deliveries_state ON deliveries (campaign, run, state, uid)"
CAP_INDEX = "CREATE INDEX deliveries_cap ON deliveries (channel, state, sent_at)"
COVERING_CAP_INDEX = "CREATE INDEX deliveries_cap ON deliveries (channel, state, sent_at, uid)"
LEGACY = {
    "1": (1, SCHEMA_1),
    "2": (2, [*SCHEMA_1, *CAMPAIGNS, STATE_INDEX, CAP_INDEX]),
    # schema 3 as first released, then with the cap index covering uid (same version number)
    "3-first": (3, [*SCHEMA_1, *CAMPAIGNS, CAP_INDEX]),
    "3": (3, [*SCHEMA_1, *CAMPAIGNS, COVERING_CAP_INDEX]),
}


def write_legacy(engine: sa.Engine, label: str, *extra: str) -> None:
    """A database as Portrait before Alembic left it at ``label``, with a row in each table."""
    version, statements = LEGACY[label]
    types = {**TYPES[engine.dialect.name], "batch_size": "batch_size INTEGER NOT NULL, "}
    if version < 3:
        types["batch_size"] = ""
    t = "2026-10-01 12:00:00"
    with engine.begin() as conn:
        for statement in [*statements, *extra]:
            conn.execute(sa.text(statement.format(**types)))
        conn.execute(
            sa.text("INSERT INTO portrait_meta VALUES ('schema_version', :v), ('generation', '7')"),
            {"v": str(version)},
        )
        conn.execute(
            sa.text(
                f"INSERT INTO segments VALUES ('vip', 'static', '{{}}', 'age > 3', '', '{t}', '{t}')"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO segment_snapshots (segment, evaluated_at, profile_version, as_of, "
                f"size, population, seconds, members) VALUES ('vip', '{t}', '000001', "
                "'2026-09-30', 2, 10, 0.5, :m)"
            ),
            {"m": b"\x00"},
        )
        if version >= 2:
            columns = "campaign, run, state, started_at, profile_version, audience_size, members"
            values = f"'old', 1, 'completed', '{t}', '000001', 2, :m"
            if version >= 3:
                columns, values = columns + ", batch_size", values + ", 500"
            conn.execute(
                sa.text(f"INSERT INTO campaign_runs ({columns}) VALUES ({values})"), {"m": b"\x00"}
            )
            conn.execute(
                sa.text(
                    "INSERT INTO deliveries (campaign, run, uid, user_id, grp, channel, state, "
                    f"attempts, sent_at) VALUES ('old', 1, 4, 'u4', 'A', 'file', 'sent', 1, '{t}')"
                )
            )
            conn.execute(
                sa.text(f"INSERT INTO responses VALUES ('old', 4, 'clicked', '{t}', 1, NULL)")
            )


@pytest.mark.parametrize("label", list(LEGACY))
def test_databases_from_before_alembic_are_stamped_and_upgraded(
    url: str, raw: sa.Engine, label: str
) -> None:
    version, _ = LEGACY[label]
    write_legacy(raw, label)
    assert not sa.inspect(raw).has_table("alembic_version")
    engine = open_database(url, Path("unused"))
    try:
        assert schema_diff(engine) == []  # the same schema as a database made today
        assert scalar(engine, "SELECT version_num FROM alembic_version") == schema.HEAD_REVISION
        assert scalar(engine, "SELECT value FROM portrait_meta WHERE key = 'schema_version'") == (
            str(SCHEMA_VERSION)
        )
        store = MetadataStore(engine)
        assert store.generation() == 7 and store.segment("vip")["rule_text"] == "age > 3"
        assert [s.size for s in store.history("vip")] == [2]
        if version >= 2:
            assert store.campaign_members("old", "clicked") == [4]
            expected = 500 if version >= 3 else 1000  # runs before schema 3 sent 1000 at a time
            assert scalar(engine, "SELECT batch_size FROM campaign_runs") == expected
    finally:
        engine.dispose()


def test_a_failed_upgrade_changes_nothing(url: str, raw: sa.Engine) -> None:
    """Revision 0004 fails on a table that is in its way: 0003 before it is rolled back too."""
    write_legacy(raw, "2", "CREATE TABLE api_keys (id INTEGER)")
    with pytest.raises(WorkspaceError, match="api_keys") as info:
        open_database(url, Path("unused"))
    assert "store.metadata_url" in str(info.value)
    inspector = sa.inspect(raw)
    assert not inspector.has_table("alembic_version") and not inspector.has_table("audit_log")
    assert "batch_size" not in {c["name"] for c in inspector.get_columns("campaign_runs")}
    assert "deliveries_state" in indexes(raw, "deliveries")
    assert scalar(raw, "SELECT value FROM portrait_meta WHERE key = 'schema_version'") == "2"


def test_newer_or_unversioned_databases_are_refused(
    url: str, raw: sa.Engine, tmp_path: Path
) -> None:
    open_database(url, Path("unused")).dispose()
    with raw.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0099'"))
    with pytest.raises(WorkspaceError, match="revision 0099") as info:
        open_database(url, Path("unused"))
    assert "upgrade Portrait" in str(info.value)
    ws = portrait.init(tmp_path / "ws")
    refused = runner.invoke(app, ["db", "status", "-w", str(ws.root)], env=_cli_env(url))
    assert refused.exit_code == 2 and "upgrade Portrait" in refused.output, refused.output

    with raw.begin() as conn:  # a later Portrait from before Alembic would write only this
        conn.execute(sa.text("DROP TABLE alembic_version"))
        conn.execute(sa.text("UPDATE portrait_meta SET value = '9' WHERE key = 'schema_version'"))
    with pytest.raises(WorkspaceError, match="upgrade Portrait"):
        open_database(url, Path("unused"))

    with raw.begin() as conn:
        conn.execute(sa.text("DELETE FROM portrait_meta"))
    with pytest.raises(WorkspaceError, match=r"Portrait tables .* but no schema version"):
        open_database(url, Path("unused"))


# -- the newer tables at work ----------------------------------------------------------------
def _env(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTRAIT_")}
    return {**env, "PORTRAIT_DATABASE_URL": url}


def _cli_env(url: str) -> dict[str, str | None]:
    """For the CLI in this process: the URL by its short name, the longer one unset."""
    return {"PORTRAIT_DATABASE_URL": url, "PORTRAIT_STORE_METADATA_URL": None}


def _cli(ws: Workspace, url: str, *args: str) -> Any:
    result = runner.invoke(app, [*args, "-w", str(ws.root), "-f", "json"], env=_cli_env(url))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_campaign_launch_responses_and_report(
    demo_template: Path, tmp_path: Path, url: str
) -> None:
    import shutil

    root = tmp_path / "demo"
    shutil.copytree(demo_template, root, symlinks=True)
    ws = portrait.open(root, overrides={"store.metadata_url": url})
    campaigns = ws.campaigns(clock=lambda: T0)
    campaigns.create(ab_test("autumn", "age between 25 and 45", "file", attribution_days=30))
    launched = campaigns.launch("autumn")
    assert launched.state == "completed" and launched.pending == 0
    messages = [
        json.loads(line)
        for path in sorted((root / "campaigns" / "outbox" / "autumn").rglob("*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
    ]
    assert len(messages) == launched.sent > 0
    group = {m["user_id"]: m["variant"] for m in messages}

    rows = []
    for n, m in enumerate(messages):
        at = T0 + dt.timedelta(hours=1)
        rows.append(("autumn", m["user_id"], "delivered", at.isoformat(), ""))
        if n % 4 == 0:
            rows.append(("autumn", m["user_id"], "clicked", at.isoformat(), ""))
        if n % 8 == 0:
            rows.append(("autumn", m["user_id"], "converted", at.isoformat(), "50.0"))
    path = tmp_path / "responses.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([("campaign", "user_id", "response", "ts", "revenue"), *rows])
    assert campaigns.record_responses(path).loaded == len(rows)
    assert campaigns.record_responses(path).duplicates == len(rows)  # stored once

    report = {g["group"]: g for g in campaigns.report("autumn")["groups"]}
    for name in ("A", "B"):
        counts = Counter(r[2] for r in rows if group[r[1]] == name)
        assert report[name]["sent"] == report[name]["delivered"] == counts["delivered"]
        assert report[name]["clicked"] == counts["clicked"]
        # orders in the attribution window count too: at least the reported conversions
        assert report[name]["converted"] >= counts["converted"] > 0
        assert report[name]["revenue"] >= 50.0 * counts["converted"]
    assert report["control"]["sent"] == 0
    assert sum(g["targeted"] for g in report.values()) == len(ws.select("age between 25 and 45"))

    clicked = {r[1] for r in rows if r[2] == "clicked"}
    converted = {r[1] for r in rows if r[2] == "converted"}
    rule = 'campaign("autumn", "clicked") and not campaign("autumn", "converted")'
    assert set(ws.select(rule).ids()) == clicked - converted

    engine = ws.metadata.engine
    assert engine.dialect.name == sa.make_url(url).get_backend_name()
    assert scalar(engine, "SELECT count(*) FROM deliveries") == sum(
        g["targeted"] for g in report.values()
    )
    assert scalar(engine, "SELECT count(*) FROM responses") == len(rows)
    listed = _cli(ws, url, "campaign", "list")  # the CLI finds it through PORTRAIT_DATABASE_URL
    assert [(c["name"], c["state"]) for c in listed] == [("autumn", "completed")]


def test_api_keys_and_audit_log(tmp_path: Path, url: str) -> None:
    ws = portrait.open(portrait.init(tmp_path / "ws").root, overrides={"store.metadata_url": url})
    keys = ws.keys
    viewer, viewer_token = keys.create("viewer", name="dashboard")
    admin, admin_token = keys.create("admin", expires_days=1)
    now = dt.datetime.now(dt.UTC)
    assert viewer.created_at.tzinfo is not None and abs(viewer.created_at - now).seconds < 60
    assert admin.expires_at is not None
    assert dt.timedelta(hours=23) < admin.expires_at - now <= dt.timedelta(days=1)
    assert keys.verify(viewer_token) == viewer and keys.verify(admin_token) == admin
    assert keys.verify(viewer_token[:-1] + ("x" if viewer_token[-1] != "x" else "y")) is None
    assert keys.verify("pk_nosuch_secret") is None and keys.verify("garbage") is None

    revoked = keys.revoke(viewer.id)
    assert revoked.revoked_at is not None and keys.verify(viewer_token) is None
    assert keys.revoke(viewer.id).revoked_at == revoked.revoked_at  # revoked once
    with pytest.raises(NotFoundError, match="no API key"):
        keys.revoke("nosuch")

    with ws.metadata.transaction() as conn:  # a day later
        conn.execute(
            sa.text("UPDATE api_keys SET expires_at = :t WHERE id = :id"),
            {"t": now - dt.timedelta(minutes=1), "id": admin.id},
        )
    assert keys.verify(admin_token) is None
    assert [(k.id, k.active(now)) for k in keys.all()] == [(viewer.id, False), (admin.id, False)]

    audit = ws.audit
    audit.record(admin.id, "user:read", "u00000001", rows=1)
    audit.record(viewer.id, "segment:export", "vip", rows=1200)
    audit.record(admin.id, "campaign:launch", "autumn")
    entries = audit.entries()
    assert [e["action"] for e in entries] == ["campaign:launch", "segment:export", "user:read"]
    assert entries[1]["rows"] == 1200
    assert dt.datetime.fromisoformat(entries[0]["at"]).tzinfo is not None
    assert [e["target"] for e in audit.entries(actor=admin.id, limit=1)] == ["autumn"]

    # the same database from the command line
    created = _cli(ws, url, "keys", "create", "--role", "analyst")
    assert keys.verify(created["key"]) == keys.get(created["id"])
    assert {k["id"] for k in _cli(ws, url, "keys", "list")} == {viewer.id, admin.id, created["id"]}
    assert len(_cli(ws, url, "audit", "--limit", "2")) == 2
    status = _cli(ws, url, "db", "status")
    assert (status["backend"], status["revision"], status["url_from"]) == (
        sa.make_url(url).get_backend_name(),
        schema.HEAD_REVISION,
        "$PORTRAIT_DATABASE_URL",
    )


def test_grouped_audit_writes_keep_every_entry_as_written(tmp_path: Path, url: str) -> None:
    """A server's grouped audit writes (one statement per group) store what a single write
    stores: same order, text, counts and times, read back the same way."""
    ws = portrait.open(portrait.init(tmp_path / "ws").root, overrides={"store.metadata_url": url})
    audit = ws.audit
    audit.record("cli", "user:read", "u1", rows=1)  # written at once, one row
    before = dt.datetime.now(dt.UTC)
    audit.write_behind(interval=60, max_pending=10_000)
    targets = ['北京 "quoted" \\ back', "it's", "", "a,b;c", "x" * 500, "u2"]
    for n, target in enumerate(targets):
        audit.record(f"k{n}", "segment:export", target, rows=n * 1000)
    assert [e["target"] for e in audit.entries(limit=1)] == ["u2"]  # reading writes the group
    audit.record("k9", "membership", "vip", rows=7)
    audit.close()
    entries = audit.entries(limit=100)[::-1]
    assert [(e["actor"], e["action"], e["target"], e["rows"]) for e in entries] == [
        ("cli", "user:read", "u1", 1),
        *[(f"k{n}", "segment:export", t, n * 1000) for n, t in enumerate(targets)],
        ("k9", "membership", "vip", 7),
    ]
    times = [dt.datetime.fromisoformat(e["at"]) for e in entries]
    assert all(t.tzinfo is not None for t in times)
    slack = dt.timedelta(seconds=1)
    assert before - slack <= times[1] <= times[-1] <= dt.datetime.now(dt.UTC) + slack
    with ws.metadata.engine.connect() as conn:  # the same stored form either way
        stored = conn.exec_driver_sql("SELECT at FROM audit_log ORDER BY id").scalars().all()
    assert {type(value) for value in stored} == {type(stored[0])}
    if isinstance(stored[0], str):
        assert {len(value) for value in stored} == {len(stored[0])}


# -- bad URLs and unreachable servers ---------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ("postgresql://portrait:s3cret@127.0.0.1:1/nowhere", "Connection refused"),
        ("nosuch://x", "unknown kind of database 'nosuch'"),
        ("sqlite:////nonexistent/folder/portrait.db", "unable to open database file"),
        ("not a url", "expected a database URL"),
    ],
)
def test_bad_database_urls_are_reported_without_a_traceback(
    tmp_path: Path, value: str, needle: str
) -> None:
    root = portrait.init(tmp_path / "ws").root
    env = {**_env(value), "COLUMNS": "200"}
    result = subprocess.run(
        [PORTRAIT, "db", "status", "-w", str(root)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert needle in result.stderr
    assert "PORTRAIT_DATABASE_URL" in result.stderr
    assert "store.metadata_url" in result.stderr
    assert "s3cret" not in result.stderr  # the password stays hidden
