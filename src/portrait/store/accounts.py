"""The console account repository: user accounts (role, password hash, sign-in failures) and
their sessions as stored (the tables are in :mod:`portrait.store.tables`). Hashing, checking,
throttling and expiry are decided above this layer (:mod:`portrait.access.accounts`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.engine import RowMapping

from portrait.model.access import Account
from portrait.store.repository import Repository, utc, utc_or_none
from portrait.store.tables import console_sessions, console_users


@dataclass(frozen=True)
class StoredAccount:
    """An account's row: what it is, its password hash, and its sign-in failures."""

    account: Account
    password_hash: str
    failures: int
    locked_until: dt.datetime | None


@dataclass(frozen=True)
class StoredSession:
    """A session's row (its id is the hash of the cookie's token)."""

    id: str
    user: str
    csrf: str
    created_at: dt.datetime
    seen_at: dt.datetime


class AccountRepository(Repository):
    """Console accounts and sessions in the metadata database."""

    def insert(self, name: str, *, role: str, password_hash: str, at: dt.datetime) -> None:
        with self._write() as conn:
            conn.execute(
                console_users.insert().values(
                    name=name,
                    role=role,
                    password_hash=password_hash,
                    created_at=at,
                    password_at=at,
                    failures=0,
                )
            )

    def account(self, name: str) -> StoredAccount | None:
        row = self._first(select(console_users).where(console_users.c.name == name))
        return None if row is None else _stored(row)

    def all(self) -> list[Account]:
        """Every account, by name."""
        query = select(console_users).order_by(console_users.c.name)
        return [_stored(r).account for r in self._mappings(query)]

    def update(self, name: str, **values: object) -> None:
        """Change an account's columns; a change of role, password or state ends its
        sessions in the same transaction when ``end_sessions`` is among ``values``."""
        end = bool(values.pop("end_sessions", False))
        with self._write() as conn:
            conn.execute(console_users.update().where(console_users.c.name == name).values(values))
            if end:
                conn.execute(delete(console_sessions).where(console_sessions.c.user == name))

    def add_session(self, session_id: str, user: str, csrf: str, at: dt.datetime) -> None:
        with self._write() as conn:
            conn.execute(
                console_sessions.insert().values(
                    id=session_id, user=user, csrf=csrf, created_at=at, seen_at=at
                )
            )
            # a successful sign-in clears the failures
            conn.execute(
                console_users.update()
                .where(console_users.c.name == user)
                .values(failures=0, locked_until=None)
            )

    def session(self, session_id: str) -> tuple[StoredSession, StoredAccount] | None:
        query = (
            select(console_sessions, console_users)
            .join(console_users, console_users.c.name == console_sessions.c.user)
            .where(console_sessions.c.id == session_id)
        )
        row = self._first(query)
        if row is None:
            return None
        stored = StoredSession(
            row["id"], row["user"], row["csrf"], utc(row["created_at"]), utc(row["seen_at"])
        )
        return stored, _stored(row)

    def touch(self, session_id: str, at: dt.datetime) -> None:
        with self._write() as conn:
            conn.execute(
                console_sessions.update()
                .where(console_sessions.c.id == session_id)
                .values(seen_at=at)
            )

    def end_session(self, session_id: str) -> None:
        with self._write() as conn:
            conn.execute(delete(console_sessions).where(console_sessions.c.id == session_id))

    def end_sessions_before(self, seen: dt.datetime, created: dt.datetime) -> int:
        """Forget sessions idle since before ``seen`` or begun before ``created``."""
        with self._write() as conn:
            gone = conn.execute(
                delete(console_sessions).where(
                    (console_sessions.c.seen_at < seen) | (console_sessions.c.created_at < created)
                )
            )
            return int(gone.rowcount or 0)


def _stored(row: RowMapping) -> StoredAccount:
    account = Account(
        name=row["name"],
        role=row["role"],
        created_at=utc(row["created_at"]),
        password_at=utc(row["password_at"]),
        disabled_at=utc_or_none(row["disabled_at"]),
    )
    return StoredAccount(
        account, str(row["password_hash"]), int(row["failures"]), utc_or_none(row["locked_until"])
    )
