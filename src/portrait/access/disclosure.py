"""Disclosure control: what numbers reach a caller who may not see exact ones.

One policy, decided here, for every surface (Python API with a role, CLI with ``--role``,
HTTP API, web console). For a caller without the ``aggregate:exact`` permission (the
``viewer`` role):

1. **Noise.** Every released count ``c`` becomes ``c + Z``, where ``Z`` follows the discrete
   Laplace distribution ``P(Z = z) ∝ exp(-ε·|z|)`` (``privacy.epsilon``; standard deviation
   ``√(2q)/(1-q)`` with ``q = exp(-ε)``: 2.8 at ε = 0.5). ``Z`` is drawn from a keyed hash of
   the workspace's secret and what the count counts (a digest of the exact member set, and
   for a tag value's count the profile version, the tag and the value), so asking for the
   same number again, in any form and through any report, gives the same answer and says
   nothing new; different numbers get independent noise.
2. **Small cells.** A count is released only when both the count and its noisy value are at
   least ``k`` (``privacy.min_count``): smaller counts, zero included, are ``None``.
3. **Derived numbers** (shares, ratios, TGI, supports, confidences, lifts, Jaccard indexes,
   differences, tests and intervals) are computed from the released counts only, so they
   carry the noise too; any number computed from a suppressed count is ``None``.
4. **Budget.** Each distinct query costs ε × the number of counts it releases (a histogram of
   one single-valued tag counts once: its cells are disjoint), charged to the caller's
   ledger when first answered; a caller may spend ``privacy.daily_budget`` per UTC day.
   Answering the same query again costs nothing (the answer is the same). By sequential
   composition the counts one caller sees in a day are (budget)-differentially private with
   respect to adding or removing one person, apart from the small-cell threshold, which
   decides on the exact count (see docs/privacy.md).

Numbers fixed by the data rather than chosen by the caller (the catalog's distributions and
coverage, saved segments' sizes and history, RFM segments) get the same noise and
suppression, keyed by the profile version, but cost nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from pyroaring import AbstractBitMap, BitMap

from portrait.errors import PrivacyBudgetError
from portrait.model.expressions import Arithmetic, Expression
from portrait.model.rules import And, Comparison, Not, Or, Rule, TagCondition

if TYPE_CHECKING:
    from portrait.config import Config
    from portrait.model.access import Caller
    from portrait.store.metadata import MetadataStore

SECRET_KEY = "disclosure_secret"  # noqa: S105 (a row name, not a secret)
"""The ``portrait_meta`` row holding the noise secret (never shown)."""

_U53 = float(2**53)


@dataclass(frozen=True)
class Policy:
    """The disclosure settings of a workspace."""

    min_count: int = 10
    epsilon: float = 0.5
    daily_budget: float = 200.0

    @classmethod
    def from_config(cls, config: Config | Mapping[str, Any]) -> Policy:
        return cls(
            int(config["privacy.min_count"]),
            float(config["privacy.epsilon"]),
            float(config["privacy.daily_budget"]),
        )

    @property
    def noise_sd(self) -> float:
        """The standard deviation of the noise on each count (0 without noise)."""
        if self.epsilon <= 0:
            return 0.0
        q = math.exp(-self.epsilon)
        return math.sqrt(2 * q) / (1 - q)

    def describe(self) -> dict[str, Any]:
        return {
            "min_count": self.min_count,
            "epsilon": self.epsilon,
            "noise_sd": round(self.noise_sd, 2),
            "daily_budget": self.daily_budget,
        }


def discrete_laplace(key: bytes, cells: Sequence[str], epsilon: float) -> npt.NDArray[np.int64]:
    """One noise value per cell, fixed by ``key`` and the cell's name: the difference of two
    geometric variables with ``p = 1 - exp(-epsilon)``, each from 53 bits of a keyed BLAKE2b
    of the cell (inverse CDF on integers, so the output has no floating-point tell)."""
    if epsilon <= 0 or not cells:
        return np.zeros(len(cells), dtype=np.int64)
    digests = b"".join(
        hashlib.blake2b(cell.encode(), key=key, digest_size=16).digest() for cell in cells
    )
    words = np.frombuffer(digests, dtype="<u8").reshape(-1, 2)
    # uniform in (0, 1]: 53 high bits, shifted off zero
    u = ((words >> np.uint64(11)).astype(np.float64) + 1.0) / _U53
    log_q = -epsilon
    g = np.floor(np.log(u) / log_q).astype(np.int64)
    return np.asarray(g[:, 0] - g[:, 1], dtype=np.int64)


class Release:
    """How the counts of one query reach one caller: exact, or noisy with small cells
    suppressed. Counts come back as floats with NaN for a suppressed one, so every number
    computed from them is NaN (then ``None``) too."""

    def __init__(self, policy: Policy | None = None, key: bytes | None = None):
        self.policy = policy
        self._key = key

    @property
    def exact(self) -> bool:
        return self.policy is None

    def counts(self, cells: Sequence[str], values: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Released counts for the cells named ``cells`` (one name per count, saying what it
        counts: the noise of a count depends on its name)."""
        exact = np.asarray(values, dtype=np.int64)
        if self.policy is None:
            return exact.astype(np.float64)
        assert self._key is not None
        assert len(cells) == len(exact), (len(cells), len(exact))
        noisy = exact + discrete_laplace(self._key, cells, self.policy.epsilon)
        k = self.policy.min_count
        hidden = (exact < k) | (noisy < k) if k > 0 else np.zeros(len(exact), dtype=bool)
        out: npt.NDArray[np.float64] = np.maximum(noisy, 0).astype(np.float64)
        out[hidden] = np.nan
        return out

    def count(self, cell: str, value: int) -> int | None:
        """One released count (None: suppressed)."""
        (released,) = self.counts([cell], [value])
        return None if math.isnan(released) else int(released)


EXACT = Release()


def as_number(value: float) -> int | None:
    """A released count as an int, NaN as None."""
    return None if math.isnan(value) else int(value)


def ratio(a: int | float | None, b: int | float | None) -> float | None:
    """``a / b`` of released numbers (None when either is suppressed or ``b`` is 0)."""
    if a is None or b is None or (isinstance(a, float) and math.isnan(a)):
        return None
    if isinstance(b, float) and math.isnan(b):
        return None
    return a / b if b else None


def query_id(query: Mapping[str, Any]) -> str:
    """The stable hash of a query's canonical description (kind, rule, parameters, versions)."""
    text = json.dumps(query, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class Disclosure:
    """The disclosure policy of one workspace: :meth:`release` gives a query's
    :class:`Release` for a caller, charging its budget when it is not allowed exact numbers."""

    def __init__(
        self,
        policy: Policy,
        store: Callable[[], MetadataStore],
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ):
        self.policy = policy
        self._store = store
        self._clock = clock
        self._secret: bytes | None = None

    def _key(self, query: str) -> bytes:
        if self._secret is None:
            self._secret = self._store().secret(SECRET_KEY)
        return hashlib.blake2b(query.encode(), key=self._secret, digest_size=32).digest()

    def controlled(self, caller: Caller) -> bool:
        """Whether numbers reach ``caller`` under control (noise, suppression)."""
        active = self.policy.min_count > 0 or self.policy.epsilon > 0
        return active and not caller.exact

    def release(self, caller: Caller, query: Mapping[str, Any], counts: int = 1) -> Release:
        """The release of ``query`` (a canonical description: kind, rule, parameters and the
        versions it reads) for ``caller``; ``counts`` is what it costs in counts (the number
        of distinct counts or disjoint histograms it releases). Raises
        :class:`PrivacyBudgetError` when that would pass the caller's daily budget."""
        if not self.controlled(caller):
            return EXACT
        self.charge(caller, query_id(query), counts * self.policy.epsilon)
        return Release(self.policy, self._key("counts"))

    def fixed(self, caller: Caller, query: Mapping[str, Any] | None = None) -> Release:
        """The release of numbers the data fixes, not the caller (catalog statistics, saved
        segments' sizes): the same noise and suppression, no charge."""
        if not self.controlled(caller):
            return EXACT
        return Release(self.policy, self._key("counts"))

    def charge(self, caller: Caller, query: str, cost: float) -> None:
        """Record ``cost`` for the first answer of ``query`` to ``caller`` (nothing when it
        was answered before), refusing what would pass the daily budget."""
        if cost <= 0:
            return
        from sqlalchemy.exc import IntegrityError

        from portrait.store.privacy import PrivacyRepository

        day = self._clock().astimezone(dt.UTC).date().isoformat()
        budget = self.policy.daily_budget
        try:
            with PrivacyRepository(self._store()).transaction() as ledger:
                if ledger.charged(caller.actor, query):
                    return
                spent = ledger.spent(caller.actor, day)
                if budget > 0 and spent + cost > budget + 1e-9:
                    raise PrivacyBudgetError(
                        f"this query would spend {cost:g} of the privacy budget, and "
                        f"{max(budget - spent, 0):g} of today's {budget:g} is left",
                        where=caller.actor,
                        hint="queries already answered cost nothing again; the budget is "
                        "renewed at 00:00 UTC; exact numbers need the analyst role "
                        "(see docs/privacy.md)",
                    )
                ledger.charge(caller.actor, query, day, cost)
        except IntegrityError:  # the same query charged by a concurrent request
            return

    def spent(self, caller: Caller) -> float:
        """What ``caller`` spent today."""
        from portrait.store.privacy import PrivacyRepository

        day = self._clock().astimezone(dt.UTC).date().isoformat()
        return PrivacyRepository(self._store()).spent(caller.actor, day)


def set_digest(members: AbstractBitMap) -> str:
    """A short digest of a member set (equal sets, equal digests): what a count counts."""
    canonical = BitMap(members)
    canonical.run_optimize()
    return hashlib.blake2b(canonical.serialize(), digest_size=12).hexdigest()


def mask_rule_literals(rule: Rule, pii: Collection[str]) -> Rule:
    """``rule`` with the values compared with personal-data tags masked (a segment's rule
    shown to a role that may not see personal data)."""
    from portrait.model.pii import mask_text

    def literal(side: Expression) -> Expression:
        if isinstance(side, Arithmetic):
            return side.model_copy(
                update={"left": literal(side.left), "right": literal(side.right)}
            )
        if isinstance(side, str | int | float) and not isinstance(side, bool):
            return mask_text(str(side)) or ""
        return side

    def visit(node: Rule) -> Rule:
        if isinstance(node, And | Or):
            return node.model_copy(update={"items": [visit(i) for i in node.items]})
        if isinstance(node, Not):
            return node.model_copy(update={"item": visit(node.item)})
        if isinstance(node, TagCondition) and node.tag in pii and node.value is not None:
            value = node.value
            masked = (
                [mask_text(str(v)) for v in value]
                if isinstance(value, list)
                else mask_text(str(value))
            )
            return node.model_copy(update={"value": masked})
        if isinstance(node, Comparison) and node.tags & set(pii):
            right = node.right
            return node.model_copy(
                update={
                    "left": literal(node.left),
                    "right": [literal(r) for r in right]
                    if isinstance(right, list)
                    else literal(right),
                }
            )
        return node

    return visit(rule)


def privacy_note(disclosure: Disclosure, caller: Caller) -> dict[str, Any]:
    """What a controlled answer says about its numbers: the policy and today's spending."""
    return {
        **disclosure.policy.describe(),
        "spent_today": round(disclosure.spent(caller), 6),
        "note": "counts are noisy; counts below min_count, and every number computed from "
        "them, are null (docs/privacy.md)",
    }
