"""The bitmap index over the profile: a value index per categorical or multi-valued tag and a
range index per numeric tag, keyed by dense user id (the profile row)."""

from portrait.index.bitmaps import bitmap_from_mask, bitmap_from_sorted, bitmap_to_array
from portrait.index.profile_index import ProfileIndex, build_tag_index, index_kind
from portrait.index.ranges import RangeIndex
from portrait.index.values import ValueIndex

__all__ = [
    "ProfileIndex",
    "RangeIndex",
    "ValueIndex",
    "bitmap_from_mask",
    "bitmap_from_sorted",
    "bitmap_to_array",
    "build_tag_index",
    "index_kind",
]
