"""Value index: the users holding each distinct value of a categorical or multi-valued tag.

Values are kept sorted. Two layouts, chosen by cardinality when the index is built:

- **bitmaps** (the usual case): one Roaring bitmap per value, serialized — small on disk, and
  ready for bitmap algebra and intersection counts;
- **grouped ids** for high-cardinality tags (more than :data:`SPARSE_MIN_VALUES` distinct values
  and more than one per :data:`SPARSE_USERS_PER_VALUE` users, e.g. a phone number): the user
  ids grouped by value (CSR: offsets + ids) in an Arrow file; a value's bitmap is built when it
  is asked for. Millions of one-user bitmaps would cost minutes to build and far more space.
"""

from __future__ import annotations

import bisect
import json
import struct
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from pyroaring import AbstractBitMap, BitMap, FrozenBitMap

from portrait.index.bitmaps import bitmap_from_sorted
from portrait.index.ranges import RangeIndex

if TYPE_CHECKING:
    import pyarrow as pa

_MAGIC = b"PTVIDX1\n"
_ARROW_MAGIC = b"ARROW1"
SPARSE_MIN_VALUES = 10_000
SPARSE_USERS_PER_VALUE = 20


def _as_text(array: pa.Array) -> pa.Array:
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_boolean(array.type):
        return pc.if_else(array, "true", "false")
    if pa.types.is_dictionary(array.type):
        array = array.cast(array.type.value_type)
    return array.cast(pa.string())


class ValueIndex:
    """Users per value (strings; booleans as ``"true"``/``"false"``) plus the missing users.

    For a list column every element value maps to the users whose list holds it; a user with
    a NULL or empty list is missing (no value to test), and ``empty`` holds the users whose
    list is empty (so ``is null`` and ``is empty`` can tell them apart). ``lengths`` is each
    user's list length as stored (duplicates and NULL elements counted, as SQL's array
    length; 0 for no list), for ``size(tag)``. Both are None for an index written before
    they were kept, and for single-valued tags.
    """

    def __init__(
        self,
        n_users: int,
        values: pa.Array | list[str],
        missing: AbstractBitMap,
        *,
        bitmaps: Sequence[AbstractBitMap] | None = None,
        offsets: npt.NDArray[np.int64] | None = None,
        uids: npt.NDArray[np.uint32] | None = None,
        empty: AbstractBitMap | None = None,
        lengths: npt.NDArray[np.integer] | None = None,
    ):
        self.n_users = n_users
        self._values = values  # sorted, distinct
        self.missing = missing
        self.empty = empty
        self.lengths = lengths
        self._sizes_index: RangeIndex | None = None
        self._bitmaps = bitmaps
        self._offsets = offsets
        self._uids = uids
        self._position: dict[str, int] | None = None
        self._present: AbstractBitMap | None = None
        self._partitions: bool | None = None

    # -- building ------------------------------------------------------------------------
    @classmethod
    def build(cls, column: pa.ChunkedArray | pa.Array) -> ValueIndex:
        import pyarrow as pa
        import pyarrow.compute as pc

        array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
        n_users = len(array)
        if pa.types.is_list(array.type) or pa.types.is_large_list(array.type):
            lengths = pc.fill_null(pc.list_value_length(array), 0).to_numpy(zero_copy_only=False)
            missing = bitmap_from_sorted(np.flatnonzero(lengths == 0))
            listed = pc.is_valid(array).to_numpy(zero_copy_only=False)
            empty: AbstractBitMap = bitmap_from_sorted(np.flatnonzero((lengths == 0) & listed))
            stored: npt.NDArray[np.integer] | None = lengths.astype(
                np.min_scalar_type(int(lengths.max(initial=0)))
            )
            parents = pc.list_parent_indices(array).to_numpy(zero_copy_only=False)
            flat = _as_text(pc.list_flatten(array))
        else:
            flat = _as_text(array)
            parents = np.arange(n_users, dtype=np.int64)
            missing = None
            empty = FrozenBitMap()
            stored = None
        valid = pc.is_valid(flat).to_numpy(zero_copy_only=False)
        if missing is None:
            missing = bitmap_from_sorted(np.flatnonzero(~valid))
        flat = pc.filter(flat, pa.array(valid))
        parents = parents[valid]
        encoded = pc.dictionary_encode(flat)
        if isinstance(encoded, pa.ChunkedArray):
            encoded = encoded.combine_chunks()
        dictionary = encoded.dictionary
        # Sort the values and renumber the codes to match, so lookups can bisect.
        order = pc.array_sort_indices(dictionary).to_numpy(zero_copy_only=False)
        # the narrowest code type: a stable sort of 8/16-bit codes is a radix sort
        code_type = np.min_scalar_type(max(len(order) - 1, 0))
        rank = np.empty(len(order), dtype=code_type)
        rank[order] = np.arange(len(order), dtype=code_type)
        values = pc.take(dictionary, pa.array(order))
        codes = rank[encoded.indices.to_numpy(zero_copy_only=False)]
        by_value = np.argsort(codes, kind="stable")  # stable: ids stay ascending in a value
        codes, ids = codes[by_value], parents[by_value]
        if len(codes) > 1:  # a list holding a value twice counts its user once
            keep = np.ones(len(codes), dtype=bool)
            keep[1:] = (codes[1:] != codes[:-1]) | (ids[1:] != ids[:-1])
            codes, ids = codes[keep], ids[keep]
        offsets = np.searchsorted(codes, np.arange(len(values) + 1)).astype(np.int64)
        uids = ids.astype(np.uint32)
        if len(values) > SPARSE_MIN_VALUES and len(values) * SPARSE_USERS_PER_VALUE > n_users:
            return cls(
                n_users, values, missing, offsets=offsets, uids=uids, empty=empty, lengths=stored
            )
        bitmaps = [
            bitmap_from_sorted(uids[offsets[i] : offsets[i + 1]]) for i in range(len(values))
        ]
        return cls(n_users, values, missing, bitmaps=bitmaps, empty=empty, lengths=stored)

    # -- reading -------------------------------------------------------------------------
    @property
    def present_users(self) -> AbstractBitMap:
        """Users with a value (computed once)."""
        if self._present is None:
            self._present = FrozenBitMap(range(self.n_users)) - self.missing
        return self._present

    @property
    def partitions_users(self) -> bool:
        """True when every user is in exactly one of the missing and the value bitmaps, as in
        a single-valued tag; a multi-valued (list) tag's user may hold several values. Checked
        once from the bitmaps themselves: their sizes add up to the users and so does the size of
        their union (so no two overlap). Always False for the grouped-ids layout."""
        if self._partitions is None:
            if self._bitmaps is None:
                self._partitions = False
            else:
                parts = [self.missing, *self._bitmaps]
                self._partitions = (
                    sum(len(b) for b in parts) == self.n_users
                    and len(FrozenBitMap.union(*parts)) == self.n_users
                )
        return self._partitions

    @property
    def sparse(self) -> bool:
        """True for the grouped-ids layout of high-cardinality tags."""
        return self._bitmaps is None

    @property
    def values(self) -> list[str]:
        """Distinct values, sorted (a Python list: avoid on high-cardinality tags)."""
        if isinstance(self._values, list):
            return self._values
        return [str(v) for v in self._values.to_pylist()]

    @property
    def distinct(self) -> int:
        return len(self._values)

    def _find(self, value: str) -> int | None:
        if self._bitmaps is not None:
            if self._position is None:
                self._position = {v: i for i, v in enumerate(self.values)}
            return self._position.get(value)
        i = bisect.bisect_left(range(self.distinct), value, key=self._value_at)
        return i if i < self.distinct and self._value_at(i) == value else None

    def _value_at(self, i: int) -> str:
        if isinstance(self._values, list):
            return self._values[i]
        return str(self._values[i].as_py())

    def __contains__(self, value: str) -> bool:
        return self._find(value) is not None

    def _bitmap(self, i: int) -> AbstractBitMap:
        if self._bitmaps is not None:
            return self._bitmaps[i]
        assert self._offsets is not None
        assert self._uids is not None
        return bitmap_from_sorted(self._uids[self._offsets[i] : self._offsets[i + 1]])

    def get(self, value: str) -> AbstractBitMap:
        """Users holding ``value`` (an empty bitmap for an unseen value)."""
        i = self._find(value)
        return self._bitmap(i) if i is not None else BitMap()

    def items(self) -> Iterator[tuple[str, AbstractBitMap]]:
        for i, value in enumerate(self.values):
            yield value, self._bitmap(i)

    def _sizes(self) -> npt.NDArray[np.int64]:
        if self._bitmaps is not None:
            return np.array([len(b) for b in self._bitmaps], dtype=np.int64)
        assert self._offsets is not None
        return np.diff(self._offsets)

    def counts(self) -> list[tuple[str, int]]:
        """(value, users) for every value, in value order."""
        return list(zip(self.values, (int(n) for n in self._sizes()), strict=True))

    def top_counts(self, k: int) -> list[tuple[str, int]]:
        """The ``k`` values with most users (ties: value order), without touching the rest."""
        sizes = self._sizes()
        top = np.argsort(-sizes, kind="stable")[:k]
        return [(self._value_at(int(i)), int(sizes[i])) for i in top]

    def sizes(self) -> npt.NDArray[np.integer]:
        """Each user's list length (0 for no list and for an empty one)."""
        if self.lengths is None:
            raise ValueError("this value index keeps no list lengths")
        return self.lengths

    def sizes_index(self) -> RangeIndex:
        """A range index over :meth:`sizes` (built on first use, then kept): ``size(tag) >= 3``
        is a range query like any numeric tag's."""
        if self._sizes_index is None:
            import pyarrow as pa

            self._sizes_index = RangeIndex.build(pa.array(self.sizes()))
        return self._sizes_index

    # -- files ---------------------------------------------------------------------------
    def save(self, path: Path) -> None:
        import pyarrow as pa

        if self._bitmaps is None:
            assert self._offsets is not None
            assert self._uids is not None
            ids = pa.array(self._uids, pa.uint32())
            if self._offsets[-1] < 2**31:
                groups = pa.ListArray.from_arrays(pa.array(self._offsets, pa.int32()), ids)
            else:
                groups = pa.LargeListArray.from_arrays(pa.array(self._offsets, pa.int64()), ids)
            table = pa.table({"value": self._values, "uids": groups})
            meta = {b"n_users": str(self.n_users).encode(), b"missing": self.missing.serialize()}
            if self.empty is not None:
                meta[b"empty"] = self.empty.serialize()
            if self.lengths is not None:
                meta[b"lengths"] = self.lengths.tobytes()
                meta[b"lengths_dtype"] = self.lengths.dtype.str.encode()
            table = table.replace_schema_metadata(meta)
            with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
                writer.write_table(table)
            return
        blobs = [b.serialize() for b in [self.missing, *self._bitmaps]]
        head: dict[str, object] = {
            "n_users": self.n_users,
            "values": self.values,
            "sizes": [len(b) for b in blobs],
        }
        if self.empty is not None:  # after the value bitmaps
            blobs.append(self.empty.serialize())
            head["empty"] = len(blobs[-1])
        if self.lengths is not None:  # then the lengths
            blobs.append(self.lengths.tobytes())
            head["lengths"] = [self.lengths.dtype.str, len(blobs[-1])]
        header = json.dumps(head, ensure_ascii=False).encode()
        with open(path, "wb") as fh:
            fh.write(_MAGIC)
            fh.write(struct.pack("<Q", len(header)))
            fh.write(header)
            for blob in blobs:
                fh.write(blob)

    @classmethod
    def load(cls, path: Path) -> ValueIndex:
        import pyarrow as pa

        with open(path, "rb") as fh:
            head = fh.read(len(_ARROW_MAGIC))
        if head == _ARROW_MAGIC:
            with pa.memory_map(str(path)) as source:
                table = pa.ipc.open_file(source).read_all()
            meta = table.schema.metadata
            groups = table.column("uids").combine_chunks()
            return cls(
                int(meta[b"n_users"]),
                table.column("value").combine_chunks(),
                FrozenBitMap.deserialize(meta[b"missing"]),
                offsets=groups.offsets.to_numpy().astype(np.int64),
                uids=groups.values.to_numpy(),
                empty=FrozenBitMap.deserialize(meta[b"empty"]) if b"empty" in meta else None,
                lengths=np.frombuffer(meta[b"lengths"], dtype=meta[b"lengths_dtype"].decode())
                if b"lengths" in meta
                else None,
            )
        data = path.read_bytes()
        if not data.startswith(_MAGIC):
            raise ValueError(f"{path} is not a value index")
        (size,) = struct.unpack_from("<Q", data, len(_MAGIC))
        offset = len(_MAGIC) + 8
        header = json.loads(data[offset : offset + size])
        offset += size
        bitmaps = []
        for n in header["sizes"]:
            bitmaps.append(FrozenBitMap.deserialize(data[offset : offset + n]))
            offset += n
        empty = lengths = None
        if "empty" in header:
            empty = FrozenBitMap.deserialize(data[offset : offset + header["empty"]])
            offset += header["empty"]
        if "lengths" in header:
            dtype, size = header["lengths"]
            lengths = np.frombuffer(data[offset : offset + size], dtype=dtype)
        values = [str(v) for v in header["values"]]
        return cls(
            header["n_users"], values, bitmaps[0], bitmaps=bitmaps[1:], empty=empty, lengths=lengths
        )
