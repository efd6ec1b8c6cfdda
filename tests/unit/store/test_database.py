"""Opening the metadata database (portrait/store/database.py): the URL Portrait connects to,
SQLite's pragmas on every connection, and errors that name the setting and hide the
password."""

from __future__ import annotations

from pathlib import Path

import pytest

from portrait.errors import WorkspaceError
from portrait.store import schema
from portrait.store.database import database_url, open_database


def test_an_empty_url_means_sqlite_in_the_meta_folder(tmp_path: Path) -> None:
    url = database_url("", tmp_path / "meta")
    assert url.drivername == "sqlite" and url.database == str(tmp_path / "meta" / "portrait.db")


@pytest.mark.parametrize(
    "given",
    [
        "postgres://u:p@db:5432/x",
        "postgresql://u:p@db:5432/x",
        "postgresql+psycopg://u:p@db:5432/x",
    ],
)
def test_postgresql_urls_mean_psycopg_3(given: str) -> None:
    url = database_url(given, Path("unused"))
    assert url.drivername == "postgresql+psycopg"
    assert (url.username, url.password, url.host, url.port, url.database) == (
        "u",
        "p",
        "db",
        5432,
        "x",
    )


def test_other_drivers_are_kept(tmp_path: Path) -> None:
    assert database_url("postgresql+pg8000://u@db/x", tmp_path).drivername == "postgresql+pg8000"
    assert database_url(f"sqlite:///{tmp_path}/m.db", tmp_path).database == f"{tmp_path}/m.db"


def test_sqlite_connections_get_foreign_keys_wal_and_a_busy_timeout(tmp_path: Path) -> None:
    engine = open_database("", tmp_path)
    try:
        with engine.connect() as conn:
            pragma = {
                name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("foreign_keys", "journal_mode", "busy_timeout")
            }
        assert pragma == {"foreign_keys": 1, "journal_mode": "wal", "busy_timeout": 10000}
        assert schema.describe(engine)["up_to_date"]  # opened means upgraded
    finally:
        engine.dispose()


def test_a_url_that_does_not_parse_is_named_with_its_password_hidden(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError) as info:
        open_database("postgresql://admin:s3cret@db:notaport/x", tmp_path)
    assert "s3cret" not in str(info.value) and "admin:***@db" in str(info.value)
    assert info.value.where == schema.URL_NAMES


def test_an_unknown_kind_of_database_is_named(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match="unknown kind of database 'nosuchdb'"):
        open_database("nosuchdb://u:s3cret@host/x", tmp_path)
