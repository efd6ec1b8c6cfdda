"""Pure statistical inference (no I/O, nothing else of Portrait's): proportion tests and
intervals used by insight, and later by campaign effect reports."""

from portrait.stats.proportions import difference_interval, ratio_interval, two_proportion_ztest
from portrait.stats.srm import SRM_ALPHA, SrmResult, srm_test

__all__ = [
    "SRM_ALPHA",
    "SrmResult",
    "difference_interval",
    "ratio_interval",
    "srm_test",
    "two_proportion_ztest",
]
