"""Value index: one bitmap per distinct value of a categorical or multi-valued tag."""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyroaring import BitMap

from portrait.index.bitmaps import bitmap_from_sorted

_MAGIC = b"PTVIDX1\n"


def _as_text(array: pa.Array) -> pa.Array:
    if pa.types.is_boolean(array.type):
        return pc.if_else(array, "true", "false")
    if pa.types.is_dictionary(array.type):
        array = array.cast(array.type.value_type)
    return array.cast(pa.string())


class ValueIndex:
    """Bitmaps per value (strings; booleans as ``"true"``/``"false"``) plus the missing users.

    For a list column every element value maps to the users whose list holds it; a user with
    a NULL or empty list is missing.
    """

    def __init__(self, n_users: int, values: list[str], bitmaps: list[BitMap], missing: BitMap):
        self.n_users = n_users
        self.values = values
        self.bitmaps = bitmaps
        self.missing = missing
        self._position = {v: i for i, v in enumerate(values)}

    @classmethod
    def build(cls, column: pa.ChunkedArray | pa.Array) -> ValueIndex:
        array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
        n_users = len(array)
        if pa.types.is_list(array.type) or pa.types.is_large_list(array.type):
            lengths = pc.fill_null(pc.list_value_length(array), 0).to_numpy(zero_copy_only=False)
            missing = bitmap_from_sorted(np.flatnonzero(lengths == 0))
            parents = pc.list_parent_indices(array).to_numpy(zero_copy_only=False)
            flat = _as_text(pc.list_flatten(array))
            keep = pc.is_valid(flat).to_numpy(zero_copy_only=False)
            flat = pc.filter(flat, pa.array(keep))
            parents = parents[keep]
        else:
            flat = _as_text(array)
            parents = np.arange(n_users, dtype=np.int64)
            valid = pc.is_valid(flat).to_numpy(zero_copy_only=False)
            missing = bitmap_from_sorted(np.flatnonzero(~valid))
            flat = pc.filter(flat, pa.array(valid))
            parents = parents[valid]
        encoded = pc.dictionary_encode(flat)
        if isinstance(encoded, pa.ChunkedArray):
            encoded = encoded.combine_chunks()
        codes = encoded.indices.to_numpy(zero_copy_only=False)
        dictionary = encoded.dictionary.to_pylist()
        order = np.argsort(codes, kind="stable")  # stable: uids stay ascending within a value
        sorted_codes = codes[order]
        sorted_uids = parents[order]
        bounds = np.searchsorted(sorted_codes, np.arange(len(dictionary) + 1))
        bitmaps = [
            bitmap_from_sorted(np.unique(sorted_uids[bounds[i] : bounds[i + 1]]))
            for i in range(len(dictionary))
        ]
        return cls(n_users, [str(v) for v in dictionary], bitmaps, missing)

    def __contains__(self, value: str) -> bool:
        return value in self._position

    def get(self, value: str) -> BitMap:
        """Users holding ``value`` (an empty bitmap for an unseen value)."""
        i = self._position.get(value)
        return self.bitmaps[i] if i is not None else BitMap()

    def items(self) -> Iterator[tuple[str, BitMap]]:
        return zip(self.values, self.bitmaps, strict=True)

    def counts(self) -> list[tuple[str, int]]:
        return [(v, len(b)) for v, b in self.items()]

    # -- files ---------------------------------------------------------------------------
    def save(self, path: Path) -> None:
        blobs = [b.serialize() for b in [self.missing, *self.bitmaps]]
        header = json.dumps(
            {"n_users": self.n_users, "values": self.values, "sizes": [len(b) for b in blobs]},
            ensure_ascii=False,
        ).encode()
        with open(path, "wb") as fh:
            fh.write(_MAGIC)
            fh.write(struct.pack("<Q", len(header)))
            fh.write(header)
            for blob in blobs:
                fh.write(blob)

    @classmethod
    def load(cls, path: Path) -> ValueIndex:
        data = path.read_bytes()
        if not data.startswith(_MAGIC):
            raise ValueError(f"{path} is not a value index")
        (size,) = struct.unpack_from("<Q", data, len(_MAGIC))
        offset = len(_MAGIC) + 8
        header = json.loads(data[offset : offset + size])
        offset += size
        bitmaps = []
        for n in header["sizes"]:
            bitmaps.append(BitMap.deserialize(data[offset : offset + n]))
            offset += n
        return cls(header["n_users"], header["values"], bitmaps[1:], bitmaps[0])
