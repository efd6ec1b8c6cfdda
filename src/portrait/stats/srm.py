"""Sample ratio mismatch (SRM): are the observed group sizes what the weights promise?

A chi-square goodness-of-fit test of the observed counts against the expected shares
(SciPy's ``chisquare``). A very small p-value (below :data:`SRM_ALPHA`) means the split is
broken (a bug in assignment, users lost on one side), so comparisons between the groups are
not to be trusted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats

SRM_ALPHA = 0.001


@dataclass(frozen=True)
class SrmResult:
    observed: tuple[int, ...]
    expected: tuple[float, ...]
    chi2: float | None
    p_value: float | None

    @property
    def mismatch(self) -> bool:
        return self.p_value is not None and self.p_value < SRM_ALPHA


def srm_test(observed: Sequence[int], shares: Sequence[float]) -> SrmResult:
    """Chi-square test of ``observed`` counts against ``shares`` (any positive scale). Without
    members or with a single group there is nothing to test (``p_value`` None)."""
    total = sum(observed)
    weight = sum(shares)
    expected = tuple(total * s / weight for s in shares) if weight else tuple(0.0 for _ in shares)
    if total == 0 or len(observed) < 2:
        return SrmResult(tuple(observed), expected, None, None)
    chi2, p = stats.chisquare(list(observed), list(expected))
    return SrmResult(tuple(int(o) for o in observed), expected, float(chi2), float(p))
