"""Pure statistical inference (no I/O, nothing else of Portrait's): proportion tests and
intervals used by insight, and later by campaign effect reports."""

from portrait.stats.proportions import ratio_interval, two_proportion_ztest

__all__ = ["ratio_interval", "two_proportion_ztest"]
