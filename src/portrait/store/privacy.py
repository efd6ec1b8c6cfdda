"""The privacy ledger's repository: what each actor spent of the privacy budget, per query and
UTC day (the table is in :mod:`portrait.store.tables`). The budget and the noise are decided
above this layer (:mod:`portrait.access.disclosure`); a charge and the checks before it belong
in one transaction (``with repo.transaction() as tx``)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from portrait.store.repository import Repository
from portrait.store.tables import privacy_ledger


class PrivacyRepository(Repository):
    """The privacy ledger in the metadata database."""

    def spent(self, actor: str, day: str) -> float:
        """The epsilon ``actor`` spent on ``day`` (ISO date, UTC)."""
        total = self._scalar(
            select(func.coalesce(func.sum(privacy_ledger.c.cost), 0.0)).where(
                privacy_ledger.c.actor == actor, privacy_ledger.c.day == day
            )
        )
        return float(total)

    def charged(self, actor: str, query: str) -> bool:
        """Whether ``query`` (its hash) was charged to ``actor`` before, on any day."""
        found = self._all(
            select(privacy_ledger.c.cost).where(
                privacy_ledger.c.actor == actor, privacy_ledger.c.query == query
            )
        )
        return bool(found)

    def charge(self, actor: str, query: str, day: str, cost: float) -> None:
        """Record the first answer of ``query`` to ``actor``; a second charge of the same
        query is an ``IntegrityError`` (the key is actor and query)."""
        with self._write() as conn:
            conn.execute(
                privacy_ledger.insert().values(
                    actor=actor, query=query, day=day, cost=cost, at=dt.datetime.now(dt.UTC)
                )
            )
