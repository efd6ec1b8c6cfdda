"""The index of one profile version: a file per tag under ``index/``."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy.typing as npt

from portrait.index.ranges import RangeIndex
from portrait.index.values import ValueIndex

if TYPE_CHECKING:
    import pyarrow as pa

NUMERIC = frozenset({"int", "float", "date", "timestamp"})

DENSE_CACHE_BYTES = 512 << 20
"""Per-user value arrays rebuilt from indexes written before the value column was stored
(about 80 MB per tag at 10M users), kept for the next rule; the least recently used go
first."""


def index_kind(value_type: str) -> str:
    """``range`` for numeric value types, ``values`` for strings, booleans and lists."""
    return "range" if value_type in NUMERIC else "values"


def index_file(index_dir: Path, tag: str, value_type: str) -> Path:
    suffix = ".range.bin" if index_kind(value_type) == "range" else ".values.bin"
    return index_dir / f"{tag}{suffix}"


def build_tag_index(column: pa.ChunkedArray, value_type: str) -> ValueIndex | RangeIndex:
    if index_kind(value_type) == "range":
        return RangeIndex.build(column)
    return ValueIndex.build(column)


class ProfileIndex:
    """Loads tag indexes of a profile version on first use."""

    def __init__(self, index_dir: Path, types: dict[str, str], n_users: int):
        self.index_dir = index_dir
        self.types = types
        self.n_users = n_users
        self._loaded: dict[str, ValueIndex | RangeIndex] = {}
        self._dense: OrderedDict[str, npt.NDArray[Any]] = OrderedDict()

    def __contains__(self, tag: str) -> bool:
        return tag in self.types

    def tag(self, name: str) -> ValueIndex | RangeIndex:
        if name not in self._loaded:
            path = index_file(self.index_dir, name, self.types[name])
            if index_kind(self.types[name]) == "range":
                self._loaded[name] = RangeIndex.load(path)
            else:
                self._loaded[name] = ValueIndex.load(path)
        return self._loaded[name]

    def values(self, name: str) -> ValueIndex:
        index = self.tag(name)
        if not isinstance(index, ValueIndex):
            raise TypeError(f"tag '{name}' has a range index, not a value index")
        return index

    def range(self, name: str) -> RangeIndex:
        index = self.tag(name)
        if not isinstance(index, RangeIndex):
            raise TypeError(f"tag '{name}' has a value index, not a range index")
        return index

    def column(self, name: str) -> npt.NDArray[Any]:
        """Every user's value of a numeric tag in user order (0 for missing users: see the
        index's ``missing``), memory-mapped from the index; rebuilt and kept while they fit
        :data:`DENSE_CACHE_BYTES` for an index written before the column was stored."""
        index = self.range(name)
        if index.column is not None:
            return index.column
        found = self._dense.get(name)
        if found is not None:
            self._dense.move_to_end(name)
            return found
        found = index.values()
        self._dense[name] = found
        while len(self._dense) > 1 and sum(v.nbytes for v in self._dense.values()) > (
            DENSE_CACHE_BYTES
        ):
            self._dense.popitem(last=False)
        return found
