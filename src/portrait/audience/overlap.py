"""How two audiences overlap: sizes of A, B, A∩B, A∪B, A only, B only and the Jaccard index."""

from __future__ import annotations

from typing import Any

from pyroaring import AbstractBitMap


def overlap(a: str, b: str, ma: AbstractBitMap, mb: AbstractBitMap) -> dict[str, Any]:
    """The overlap of audiences named ``a`` and ``b`` with members ``ma`` and ``mb``; the
    Jaccard index is |A∩B| / |A∪B| (0 when both are empty).

    Example::

        >>> from pyroaring import BitMap
        >>> overlap("a", "b", BitMap([1, 2, 3]), BitMap([3, 4]))["jaccard"]
        0.25
    """
    both = ma.intersection_cardinality(mb)
    either = ma.union_cardinality(mb)
    return {
        "a": a,
        "b": b,
        "size_a": len(ma),
        "size_b": len(mb),
        "intersection": both,
        "union": either,
        "jaccard": both / either if either else 0.0,
        "a_only": len(ma) - both,
        "b_only": len(mb) - both,
    }
