"""Index objects as an earlier version of Portrait wrote them, for the tests that check such
files are still read."""

from __future__ import annotations

from portrait.index import RangeIndex


def without_column(index: RangeIndex) -> RangeIndex:
    """The same range index as a version that kept no per-user value column wrote it."""
    return RangeIndex(
        index.n_users,
        index.breakpoints,
        index.stored,
        index.complemented,
        index.missing,
        index.counts,
        index.bin_offsets,
        index.bin_values,
        index.bin_uids,
        column=None,
    )
