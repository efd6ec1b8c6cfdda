"""External user id → dense id lookups, for the per-user interfaces (profile, membership).

A linear scan of 10M ids costs tens of milliseconds per lookup and a Python dict of them about
1 GB per process, so the index keeps a 64-bit FNV-1a hash per id, sorted (12 bytes per user):
a lookup hashes the query ids, binary-searches the hashes and confirms each hit against the id
itself, so a hash collision can never return the wrong user.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)
_PRIME = int(_FNV_PRIME)
_MASK = 2**64 - 1
_FEW = 8  # up to this many ids per lookup, plain Python is faster than array calls


def hash_strings(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """FNV-1a (64-bit) of each string's UTF-8 bytes, vectorised one byte position at a time
    (cost follows the total length of the strings). Nulls hash like empty strings."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    values = values.cast(pa.large_string()) if values.type != pa.large_string() else values
    n = len(values)
    out = np.full(n, _FNV_OFFSET, dtype=np.uint64)
    if n == 0:
        return out
    _validity, offsets_buf, data_buf = values.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int64)[values.offset : values.offset + n + 1]
    data = (
        np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    )
    starts = offsets[:-1]
    lengths = np.diff(offsets)
    if values.null_count:
        lengths = np.where(np.asarray(values.is_null()), 0, lengths)
    active = np.flatnonzero(lengths > 0)
    position = 0
    while active.size:
        at = starts[active] + position
        out[active] = (out[active] ^ data[at].astype(np.uint64)) * _FNV_PRIME
        position += 1
        active = active[lengths[active] > position]
    return out


class UserIdIndex:
    """The dense ids (rows) of external user ids, over one profile's ``user_id`` column."""

    def __init__(self, ids: pa.Array | pa.ChunkedArray):
        if isinstance(ids, pa.ChunkedArray):
            ids = ids.combine_chunks()
        self.ids = ids
        hashes = hash_strings(ids)
        self._order = np.argsort(hashes, kind="stable").astype(np.int64)
        self._hashes = hashes[self._order]

    def __len__(self) -> int:
        return len(self.ids)

    def find(self, user_ids: Sequence[str]) -> list[int | None]:
        """The dense id of each user id, None for an unknown one."""
        if len(user_ids) <= _FEW:
            return [self._find_one(str(u)) for u in user_ids]
        queries = pa.array([str(u) for u in user_ids], pa.large_string())
        wanted = hash_strings(queries)
        low = np.searchsorted(self._hashes, wanted, side="left")
        high = np.searchsorted(self._hashes, wanted, side="right")
        found: list[int | None] = [None] * len(user_ids)
        single = np.flatnonzero(high - low == 1)
        if single.size:  # the usual case, checked in one vectorised comparison
            rows = self._order[low[single]]
            same = pc.equal(
                self.ids.take(pa.array(rows)).cast(pa.large_string()), queries.take(single)
            )
            for i, row, ok in zip(single.tolist(), rows.tolist(), same.to_pylist(), strict=True):
                if ok:
                    found[i] = row
        for i in np.flatnonzero(high - low > 1).tolist():  # a hash shared by several ids
            for row in self._order[low[i] : high[i]].tolist():
                if self.ids[row].as_py() == str(user_ids[i]):
                    found[i] = row
                    break
        return found

    def _find_one(self, user_id: str) -> int | None:
        """One lookup in plain Python: for a handful of ids, array calls cost more than this."""
        h = int(_FNV_OFFSET)
        for byte in user_id.encode():
            h = ((h ^ byte) * _PRIME) & _MASK
        at = int(np.searchsorted(self._hashes, np.uint64(h)))
        while at < len(self._hashes) and int(self._hashes[at]) == h:
            row = int(self._order[at])
            if self.ids[row].as_py() == user_id:
                return row
            at += 1
        return None

    def user_ids(self, rows: Sequence[int]) -> list[str]:
        """The user ids of dense ids."""
        return [str(v) for v in self.ids.take(pa.array(list(rows), pa.int64())).to_pylist()]
