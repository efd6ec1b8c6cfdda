"""API keys: created with a role, stored hashed, revocable, optionally expiring.

A key reads ``pk_<id>_<secret>``: the id finds the row, the secret is checked against its
SHA-256 (secrets are 32 random bytes, so a plain hash is enough: nothing to brute-force), in
constant time. The secret is shown once, when the key is created.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

from portrait.errors import InputError, NotFoundError
from portrait.model.access import ROLES, KeyInfo
from portrait.store.keys import KeyRepository
from portrait.store.metadata import MetadataStore

PREFIX = "pk"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class Keys:
    """The API keys of a workspace."""

    def __init__(self, store: MetadataStore):
        self.store = store
        self.repo = KeyRepository(store)
        self._remember = False
        self._verified: dict[str, KeyInfo | None] = {}
        self._generation = -1

    def remember_verified(self) -> None:
        """Remember verifications while the metadata's change counter stays put (a server
        checks the same keys thousands of times a second): revoking a key moves the counter,
        so a revocation by any process takes effect at the next request."""
        self._remember = True

    def create(
        self, role: str, *, name: str = "", expires_days: int | None = None
    ) -> tuple[KeyInfo, str]:
        """A new key; returns its info and the full key (shown once)."""
        if role not in ROLES:
            raise InputError(
                f"unknown role '{role}'", where="--role", hint="one of " + ", ".join(ROLES)
            )
        if expires_days is not None and expires_days < 1:
            raise InputError("--expires-days must be at least 1")
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        now = dt.datetime.now(dt.UTC)
        expires = now + dt.timedelta(days=expires_days) if expires_days else None
        self.repo.insert(
            key_id,
            name=name or role,
            role=role,
            secret_hash=_hash(secret),
            created_at=now,
            expires_at=expires,
        )
        return self.get(key_id), f"{PREFIX}_{key_id}_{secret}"

    def get(self, key_id: str) -> KeyInfo:
        stored = self.repo.key(key_id)
        if stored is None:
            raise NotFoundError(f"no API key with id '{key_id}'", hint="see 'portrait keys list'")
        return stored.info

    def all(self) -> list[KeyInfo]:
        return self.repo.all()

    def revoke(self, key_id: str) -> KeyInfo:
        self.get(key_id)
        self.repo.revoke(key_id, dt.datetime.now(dt.UTC))  # servers remembering keys look again
        return self.get(key_id)

    def verify(self, token: str) -> KeyInfo | None:
        """The active key ``token`` is, or None (malformed, unknown, wrong, revoked, expired)."""
        if not self._remember:
            return self._verify(token)
        generation = self.store.generation()
        if generation != self._generation or len(self._verified) > 10_000:
            self._verified = {}  # (a flood of made-up keys must not grow it without end)
            self._generation = generation
        if token not in self._verified:
            self._verified[token] = self._verify(token)
        info = self._verified[token]
        return info if info is not None and info.active(dt.datetime.now(dt.UTC)) else None

    def _verify(self, token: str) -> KeyInfo | None:
        parts = token.split("_", 2)
        if len(parts) != 3 or parts[0] != PREFIX:
            return None
        _, key_id, secret = parts
        stored = self.repo.key(key_id)
        if stored is None or not hmac.compare_digest(stored.secret_hash, _hash(secret)):
            return None
        info = stored.info
        return info if info.active(dt.datetime.now(dt.UTC)) else None
