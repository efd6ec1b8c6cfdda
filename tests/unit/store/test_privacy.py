"""The privacy ledger's repository (portrait/store/privacy.py) on SQLite and PostgreSQL: what an
actor spent per UTC day, whether a query was charged before, and one charge per actor and
query."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError

from portrait.store.metadata import MetadataStore
from portrait.store.privacy import PrivacyRepository


class Failed(Exception):
    """Raised inside a transaction, to see it rolled back."""


@pytest.fixture
def ledger(store: MetadataStore) -> PrivacyRepository:
    return PrivacyRepository(store)


def test_spending_is_summed_per_actor_and_day(ledger: PrivacyRepository) -> None:
    assert ledger.spent("key1", "2026-10-01") == 0.0
    ledger.charge("key1", "q1", "2026-10-01", 0.25)
    ledger.charge("key1", "q2", "2026-10-01", 0.5)
    ledger.charge("key1", "q3", "2026-10-02", 2.0)  # another day
    ledger.charge("key2", "q1", "2026-10-01", 4.0)  # another actor, the same query
    assert ledger.spent("key1", "2026-10-01") == pytest.approx(0.75)
    assert ledger.spent("key1", "2026-10-02") == pytest.approx(2.0)
    assert ledger.spent("key2", "2026-10-01") == pytest.approx(4.0)
    assert isinstance(ledger.spent("nobody", "2026-10-01"), float)


def test_a_query_is_charged_once_per_actor(ledger: PrivacyRepository) -> None:
    assert not ledger.charged("key1", "q1")
    ledger.charge("key1", "q1", "2026-10-01", 0.25)
    assert ledger.charged("key1", "q1")
    assert not ledger.charged("key2", "q1") and not ledger.charged("key1", "q2")
    with pytest.raises(IntegrityError):  # on any day: the first answer is what counts
        ledger.charge("key1", "q1", "2026-10-02", 0.25)
    assert ledger.spent("key1", "2026-10-02") == 0.0
    assert ledger.spent("key1", "2026-10-01") == pytest.approx(0.25)


def test_a_charge_and_its_checks_share_one_transaction(ledger: PrivacyRepository) -> None:
    def charge_then_fail() -> None:
        with ledger.transaction() as tx:
            assert not tx.charged("key1", "q1")
            tx.charge("key1", "q1", "2026-10-01", 0.25)
            assert tx.charged("key1", "q1")  # seen inside the transaction
            assert tx.spent("key1", "2026-10-01") == pytest.approx(0.25)
            raise Failed

    with pytest.raises(Failed):
        charge_then_fail()
    assert not ledger.charged("key1", "q1") and ledger.spent("key1", "2026-10-01") == 0.0
