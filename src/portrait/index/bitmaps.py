"""Roaring bitmaps of dense user ids.

A user's dense id (``uid``) is its row in the profile, so a bitmap of uids is an audience.
"""

from __future__ import annotations

import array

import numpy as np
import numpy.typing as npt
from pyroaring import BitMap


def bitmap_from_sorted(uids: npt.NDArray[np.integer]) -> BitMap:
    """A bitmap from an ascending array of uids, without a Python loop."""
    buffer = array.array("I")
    buffer.frombytes(np.ascontiguousarray(uids, dtype=np.uint32).tobytes())
    return BitMap(buffer)


def bitmap_from_mask(mask: npt.NDArray[np.bool_]) -> BitMap:
    """A bitmap of the positions where ``mask`` is true."""
    return bitmap_from_sorted(np.flatnonzero(mask))


def bitmap_to_array(bitmap: BitMap) -> npt.NDArray[np.uint32]:
    return np.asarray(bitmap.to_array(), dtype=np.uint32)
