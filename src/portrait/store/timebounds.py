"""The accepted time range [``ingest.min_time``, ``ingest.max_time``): ingest rejects
timestamps outside it, and a build reads stored data through it (docs/ingest.md)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlglot import exp

from portrait.config import Config


@dataclass(frozen=True)
class TimeBounds:
    """Timestamps ``lo <= t < hi`` (naive UTC) are accepted."""

    lo: dt.datetime
    hi: dt.datetime

    @classmethod
    def from_config(cls, config: Config) -> TimeBounds:
        lo = dt.date.fromisoformat(config["ingest.min_time"])
        hi = dt.date.fromisoformat(config["ingest.max_time"])
        return cls(dt.datetime.combine(lo, dt.time()), dt.datetime.combine(hi, dt.time()))

    def describe(self) -> str:
        return f"[{self.lo.date().isoformat()}, {self.hi.date().isoformat()})"

    def holds_text(self, text: str | None) -> bool:
        """Whether a stored ``max_time`` text is a timestamp inside the range."""
        if not text:
            return False
        try:
            moment = dt.datetime.fromisoformat(text)
        except ValueError:  # e.g. a year beyond 9999, stored before ingest checked the range
            return False
        if moment.tzinfo is not None:
            moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
        return self.lo <= moment < self.hi

    def condition(self, column: str) -> exp.Expr:
        """``lo <= column < hi`` as an SQLGlot condition (NULL for a NULL value)."""
        col = exp.column(column, quoted=True)
        lo = exp.cast(exp.Literal.string(self.lo.isoformat(" ")), exp.DataType.Type.TIMESTAMP)
        hi = exp.cast(exp.Literal.string(self.hi.isoformat(" ")), exp.DataType.Type.TIMESTAMP)
        return exp.and_(exp.GTE(this=col, expression=lo), exp.LT(this=col.copy(), expression=hi))
