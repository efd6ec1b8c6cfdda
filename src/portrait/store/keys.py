"""The API key repository: keys as stored, with the hash of their secret (the table is in
:mod:`portrait.store.tables`). Making secrets, hashing and checking them, roles and expiry
are decided above this layer (:mod:`portrait.access.keys`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.engine import RowMapping

from portrait.model.access import KeyInfo
from portrait.store.repository import Repository, utc, utc_or_none
from portrait.store.tables import api_keys


@dataclass(frozen=True)
class StoredKey:
    """A key's row: what it is, and the SHA-256 of its secret to check a token against."""

    info: KeyInfo
    secret_hash: str


class KeyRepository(Repository):
    """The API keys in the metadata database."""

    def insert(
        self,
        key_id: str,
        *,
        name: str,
        role: str,
        secret_hash: str,
        created_at: dt.datetime,
        expires_at: dt.datetime | None,
    ) -> None:
        with self._write() as conn:
            conn.execute(
                api_keys.insert().values(
                    id=key_id,
                    name=name,
                    role=role,
                    secret_hash=secret_hash,
                    created_at=created_at,
                    expires_at=expires_at,
                )
            )

    def key(self, key_id: str) -> StoredKey | None:
        row = self._first(select(api_keys).where(api_keys.c.id == key_id))
        return None if row is None else StoredKey(_info(row), str(row["secret_hash"]))

    def all(self) -> list[KeyInfo]:
        """Every key, oldest first."""
        return [_info(r) for r in self._mappings(select(api_keys).order_by(api_keys.c.created_at))]

    def revoke(self, key_id: str, at: dt.datetime) -> None:
        """Revoke a key (one revoked already keeps its time) and count the change, in one
        transaction: servers remembering verified keys look again
        (:meth:`MetadataStore.generation <portrait.store.metadata.MetadataStore.generation>`)."""
        with self._write() as conn:
            conn.execute(
                api_keys.update()
                .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=at)
            )
            self.store.bump(conn)


def _info(row: RowMapping) -> KeyInfo:
    return KeyInfo(
        row["id"],
        row["name"],
        row["role"],
        utc(row["created_at"]),
        utc_or_none(row["expires_at"]),
        utc_or_none(row["revoked_at"]),
    )
