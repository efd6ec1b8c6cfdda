"""What every two-arm comparison starts from: each arm's size, mean and unit variance, and the
difference between two arms with its variance (absolute, or relative by the delta method).

A proportion is a mean of 0/1 values: its unit variance is ``p(1 − p)`` (the population
variance, as the normal approximation and GrowthBook's engine use it). A mean of any per-user
value (revenue per user) has the sample variance (``ddof=1``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class Arm:
    """One arm of a comparison: ``n`` units, the ``mean`` of their values and the variance
    of one unit's value."""

    n: int
    mean: float
    variance: float

    @classmethod
    def proportion(cls, count: int, n: int) -> Arm:
        """``count`` successes out of ``n``."""
        p = count / n if n else math.nan
        return cls(n, p, p * (1 - p) if n else math.nan)

    @classmethod
    def of(cls, values: npt.ArrayLike) -> Arm:
        """The arm of per-unit values (sample variance; NaN below 2 units)."""
        x = np.asarray(values, dtype=np.float64)
        n = int(x.size)
        mean = float(x.mean()) if n else math.nan
        variance = float(x.var(ddof=1)) if n > 1 else math.nan
        return cls(n, mean, variance)

    @property
    def standard_error(self) -> float:
        return math.sqrt(self.variance / self.n) if self.n else math.nan


@dataclass(frozen=True)
class Difference:
    """``treatment − control`` (or its relative form ``(t − c) / c``) and the variance of
    that estimate."""

    estimate: float
    variance: float
    relative: bool

    @property
    def standard_error(self) -> float:
        return math.sqrt(self.variance) if self.variance >= 0 else math.nan


def difference(control: Arm, treatment: Arm, *, relative: bool = False) -> Difference:
    """The difference of two arms' means with its (unpooled) variance. Relative: the delta
    method, ``Var((t − c)/c) ≈ v_t/(c² n_t) + v_c t²/(c⁴ n_c)``. NaN where undefined (an
    empty arm, a control mean of 0 for a relative difference)."""
    c, t = control, treatment
    if c.n == 0 or t.n == 0:
        return Difference(math.nan, math.nan, relative)
    if not relative:
        return Difference(t.mean - c.mean, t.variance / t.n + c.variance / c.n, False)
    if c.mean == 0:
        return Difference(math.nan, math.nan, True)
    estimate = (t.mean - c.mean) / c.mean
    variance = t.variance / (c.mean**2 * t.n) + c.variance * t.mean**2 / (c.mean**4 * c.n)
    return Difference(estimate, variance, True)
