"""Uploaded ID files: one id a line (TXT/CSV) or a named column of a CSV.

Tolerates what real exports contain: a UTF-8 byte-order mark, Windows line endings, blank
lines, surrounding spaces, a header line (``user_id``, ``id``, …). Ids are matched to users by
the external user id; unknown ids are reported, not an error.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from portrait.errors import InputError

#: First lines taken for a header when no column is named (compared case-insensitively).
HEADER_NAMES = frozenset(
    {"user_id", "userid", "user", "id", "ids", "uid", "member_id", "customer_id", "用户id", "用户"}
)


@dataclass(frozen=True)
class IdFile:
    """Ids read from a file, in file order, stripped, blanks dropped (duplicates kept)."""

    path: Path
    ids: list[str]
    header: str | None


def read_id_file(path: Path, column: str | None = None) -> IdFile:
    """Read the ids of ``path``; ``column`` names the CSV column that holds them."""
    if not path.is_file():
        raise InputError("no such file", where=str(path))
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"the ID file is not UTF-8 text (byte {exc.start})",
            where=str(path),
            hint="save it as UTF-8 (CSV UTF-8 in Excel)",
        ) from None
    rows = [row for row in csv.reader(io.StringIO(text, newline="")) if any(c.strip() for c in row)]
    if not rows:
        raise InputError("the ID file has no ids", where=str(path), hint="one id a line")
    header: str | None = None
    if column is not None:
        names = [c.strip() for c in rows[0]]
        if column not in names:
            raise InputError(
                f"the ID file has no column '{column}'",
                where=f"{path}, line 1",
                hint="columns: " + ", ".join(names),
            )
        position = names.index(column)
        header = column
        body = rows[1:]
        ids = []
        for line, row in enumerate(body, start=2):
            if position >= len(row):
                raise InputError(
                    f"line {line} has {len(row)} fields; column '{column}' is field {position + 1}",
                    where=f"{path}, line {line}",
                )
            ids.append(row[position].strip())
        ids = [i for i in ids if i]
    else:
        if max(len(r) for r in rows) > 1:
            raise InputError(
                "the ID file has several columns; say which holds the ids",
                where=str(path),
                hint="--column NAME (the header names: " + ", ".join(rows[0]) + ")",
            )
        ids = [r[0].strip() for r in rows if r and r[0].strip()]
        if ids and ids[0].lower() in HEADER_NAMES:
            header = ids.pop(0)
    if not ids:
        raise InputError("the ID file has no ids", where=str(path), hint="one id a line")
    return IdFile(path, ids, header)


@dataclass(frozen=True)
class IdMatch:
    """``uids``: dense ids of the matched users (unique, ascending); ``unmatched``: ids of the
    file without a user (unique, in file order); ``duplicates``: lines repeating an id."""

    rows: int
    uids: npt.NDArray[np.uint32]
    unmatched: list[str]
    duplicates: int


def match_ids(ids: list[str], user_ids: pa.Array | pa.ChunkedArray) -> IdMatch:
    """Match ids against the profile's ``user_id`` column (row number = dense id)."""
    unique = list(dict.fromkeys(ids))
    positions = pc.index_in(
        pa.array(unique, type=pa.string()), value_set=user_ids.cast(pa.string())
    )
    found = positions.is_valid()
    matched = np.asarray(positions.filter(found), dtype=np.uint32)
    missing = pc.invert(found)
    unmatched = pa.array(unique, type=pa.string()).filter(missing).to_pylist()
    return IdMatch(
        rows=len(ids),
        uids=np.unique(matched),
        unmatched=[str(u) for u in unmatched],
        duplicates=len(ids) - len(unique),
    )
