"""The API key repository (portrait/store/keys.py) on SQLite and PostgreSQL: keys stored with
the hash of their secret, read back with aware UTC times, listed oldest first, and revoked
once, each revocation counted as a change of the metadata."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.exc import IntegrityError

from portrait.model.access import KeyInfo
from portrait.store.keys import KeyRepository, StoredKey
from portrait.store.metadata import MetadataStore

T0 = dt.datetime(2026, 10, 1, 12, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
HASH = "ab" * 32


class Failed(Exception):
    """Raised inside a transaction, to see it rolled back."""


@pytest.fixture
def repo(store: MetadataStore) -> KeyRepository:
    return KeyRepository(store)


def add(
    repo: KeyRepository,
    key_id: str,
    at: dt.datetime = T0,
    *,
    name: str = "",
    role: str = "viewer",
    secret_hash: str = HASH,
    expires_at: dt.datetime | None = None,
) -> None:
    repo.insert(
        key_id,
        name=name or key_id,
        role=role,
        secret_hash=secret_hash,
        created_at=at,
        expires_at=expires_at,
    )


def test_a_key_is_read_back_with_its_secrets_hash(repo: KeyRepository) -> None:
    add(repo, "k1", name="ci", role="analyst", secret_hash="cd" * 32, expires_at=T0 + DAY)
    stored = repo.key("k1")
    assert stored == StoredKey(KeyInfo("k1", "ci", "analyst", T0, T0 + DAY, None), "cd" * 32)
    assert stored.info.created_at.utcoffset() == dt.timedelta(0)
    assert stored.info.expires_at is not None
    assert stored.info.expires_at.utcoffset() == dt.timedelta(0)
    assert repo.key("nosuch") is None
    with pytest.raises(IntegrityError):  # ids are unique
        add(repo, "k1")


def test_keys_are_listed_oldest_first(repo: KeyRepository) -> None:
    add(repo, "b", at=T0)
    add(repo, "a", at=T0 + DAY)
    add(repo, "c", at=T0 - DAY)
    assert [k.id for k in repo.all()] == ["c", "b", "a"]
    assert all(isinstance(k, KeyInfo) and k.revoked_at is None for k in repo.all())


def test_a_key_is_revoked_once_and_each_revocation_counts_as_a_change(
    store: MetadataStore, repo: KeyRepository
) -> None:
    add(repo, "k1")
    add(repo, "k2")
    before = store.generation()
    repo.revoke("k1", T0 + DAY)
    stored = repo.key("k1")
    assert stored is not None and stored.info.revoked_at == T0 + DAY
    assert not stored.info.active(T0 + 2 * DAY)
    assert store.generation() == before + 1  # servers remembering verified keys look again
    repo.revoke("k1", T0 + 2 * DAY)  # revoked already: keeps its time
    again = repo.key("k1")
    assert again is not None and again.info.revoked_at == T0 + DAY
    assert store.generation() == before + 2
    other = repo.key("k2")
    assert other is not None and other.info.revoked_at is None


def test_a_revocation_and_its_count_go_together(store: MetadataStore, repo: KeyRepository) -> None:
    add(repo, "k1")
    before = store.generation()

    def revoke_then_fail() -> None:
        with repo.transaction() as tx:
            tx.revoke("k1", T0)
            raise Failed

    with pytest.raises(Failed):
        revoke_then_fail()
    stored = repo.key("k1")
    assert stored is not None and stored.info.revoked_at is None
    assert store.generation() == before
