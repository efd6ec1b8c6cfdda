"""An audience: a set of users (a Roaring bitmap of dense ids) tied to one built profile."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from pyroaring import AbstractBitMap

if TYPE_CHECKING:
    import pyarrow as pa


class Audience:
    """Users selected by a rule. Supports ``len``, ``&``, ``|``, ``-``, ``^`` and ``in``."""

    def __init__(
        self,
        bitmap: AbstractBitMap,
        profile_file: Path,
        population: int,
        pii: Callable[[], frozenset[str]] | frozenset[str] = frozenset(),
    ):
        self.bitmap = bitmap
        self.profile_file = profile_file
        self.population = population
        self._pii = pii  # tag columns masked by to_arrow unless unmask=True (or how to know)

    def __len__(self) -> int:
        return len(self.bitmap)

    def __contains__(self, uid: int) -> bool:
        return uid in self.bitmap

    def _combine(self, other: Audience, bitmap: AbstractBitMap) -> Audience:
        if other.profile_file != self.profile_file:
            raise ValueError("audiences from different profile versions cannot be combined")
        return Audience(bitmap, self.profile_file, self.population, self._pii)

    def __and__(self, other: Audience) -> Audience:
        return self._combine(other, self.bitmap & other.bitmap)

    def __or__(self, other: Audience) -> Audience:
        return self._combine(other, self.bitmap | other.bitmap)

    def __sub__(self, other: Audience) -> Audience:
        return self._combine(other, self.bitmap - other.bitmap)

    def __xor__(self, other: Audience) -> Audience:
        return self._combine(other, self.bitmap ^ other.bitmap)

    @property
    def share(self) -> float:
        """Members / all users of the profile."""
        return len(self) / self.population if self.population else 0.0

    def uids(self) -> npt.NDArray[np.uint32]:
        """Dense ids of the members, ascending."""
        return np.asarray(self.bitmap.to_array(), dtype=np.uint32)

    def to_arrow(self, columns: list[str] | None = None, *, unmask: bool = False) -> pa.Table:
        """Members as a table: ``user_id`` and the given tag columns (none by default), read
        from the row groups that hold members only. Personal data (``pii`` tags) is masked
        unless ``unmask=True``."""
        from portrait.index.rows import take_rows
        from portrait.model.pii import mask_column

        table = take_rows(self.profile_file, self.uids(), ["user_id", *(columns or [])])
        if not unmask:
            pii = self._pii() if callable(self._pii) else self._pii
            for i, field in enumerate(table.schema):
                if field.name in pii:
                    table = table.set_column(i, field.name, mask_column(table.column(i)))
        return table

    def ids(self) -> list[str]:
        """External user ids of the members."""
        return [str(v) for v in self.to_arrow().column("user_id").to_pylist()]
