"""Roaring bitmaps of dense user ids.

A user's dense id (``uid``) is its row in the profile, so a bitmap of uids is an audience.
"""

from __future__ import annotations

import array

import numpy as np
import numpy.typing as npt
from pyroaring import BitMap

_CHUNK_BITS = 1 << 16  # a Roaring container holds one 2**16 block of ids
_ARRAY_MAX = 4096  # more ids than this in a block are stored as a bitset
_NO_RUN_COOKIE = 12346  # the portable format's cookie when no container is a run


def bitmap_from_sorted(uids: npt.NDArray[np.integer]) -> BitMap:
    """A bitmap from an ascending array of uids, without a Python loop."""
    buffer = array.array("I")
    buffer.frombytes(np.ascontiguousarray(uids, dtype=np.uint32).tobytes())
    return BitMap(buffer)


def bitmap_from_mask(mask: npt.NDArray[np.bool_]) -> BitMap:
    """A bitmap of the positions where ``mask`` is true.

    Written straight in Roaring's portable serialization (a bitset per dense 2**16 block, a
    sorted array per sparse one) and deserialized: when millions are true, far faster than
    adding the positions (3 ms against 150 ms for half of 10M users)."""
    mask = np.ascontiguousarray(mask, dtype=np.bool_)
    n = int(mask.size)
    if n == 0:
        return BitMap()
    blocks = -(-n // _CHUNK_BITS)
    packed = np.packbits(mask, bitorder="little")
    padded = np.zeros(blocks * (_CHUNK_BITS // 8), dtype=np.uint8)
    padded[: packed.size] = packed
    words = padded.view("<u8").reshape(blocks, _CHUNK_BITS // 64)
    cardinality = np.bitwise_count(words).sum(axis=1, dtype=np.int64)
    if int(cardinality.sum()) * 64 < n:  # sparse: adding the few positions is faster
        return bitmap_from_sorted(np.flatnonzero(mask))
    keys = np.flatnonzero(cardinality)
    descriptions = np.empty((keys.size, 2), dtype="<u2")
    descriptions[:, 0] = keys
    descriptions[:, 1] = cardinality[keys] - 1
    bodies: list[bytes] = []
    for key in keys:
        if cardinality[key] > _ARRAY_MAX:
            bodies.append(words[key].tobytes())
        else:
            low = int(key) * _CHUNK_BITS
            positions = np.flatnonzero(mask[low : low + _CHUNK_BITS])
            bodies.append(positions.astype("<u2").tobytes())
    start = 8 + 8 * keys.size  # cookie and count, descriptions, offsets
    sizes = np.fromiter((len(b) for b in bodies), dtype=np.int64, count=len(bodies))
    offsets = (start + np.concatenate(([0], np.cumsum(sizes)[:-1]))).astype("<u4")
    head = np.array([_NO_RUN_COOKIE, keys.size], dtype="<u4").tobytes()
    data = b"".join([head, descriptions.tobytes(), offsets.tobytes(), *bodies])
    return BitMap.deserialize(data)


def bitmap_to_array(bitmap: BitMap) -> npt.NDArray[np.uint32]:
    return np.asarray(bitmap.to_array(), dtype=np.uint32)
