"""Stream an audience's rows of the profile to a CSV or Parquet file.

Row groups of the profile (row number = dense id) are read one at a time
(:func:`portrait.index.rows.member_chunks`) and only members' rows are kept, so memory holds one row group and the member ids (a NumPy array), never the
whole audience as Python objects. The file appears complete or not at all (temp + rename).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from pyroaring import AbstractBitMap

from portrait.errors import InputError
from portrait.index.rows import empty_rows, member_chunks

FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def output_format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputError(
            f"cannot write '{path.suffix or path.name}' files",
            where=str(path),
            hint="use .csv or .parquet",
        )
    return fmt


def csv_ready(table: pa.Table) -> pa.Table:
    """Lists joined with ``|`` (CSV has no list type)."""
    for i, field in enumerate(table.schema):
        if pa.types.is_list(field.type):
            table = table.set_column(i, field.name, pc.binary_join(table.column(i), "|"))
    return table


def export_members(
    profile_file: Path,
    members: AbstractBitMap,
    output: Path,
    columns: list[str],
    transform: Callable[[pa.Table], pa.Table] = lambda t: t,
) -> int:
    """Write ``user_id`` and ``columns`` of the members to ``output``; returns rows written.

    ``transform`` is applied to each chunk before writing (PII masking).
    """
    fmt = output_format(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    uids = np.asarray(members.to_array(), dtype=np.int64)
    names = ["user_id", *columns]
    tmp = output.with_name(f".{output.name}.tmp")
    written = 0
    writer: pq.ParquetWriter | pacsv.CSVWriter | None = None
    try:
        chunks = member_chunks(profile_file, uids, names)
        for raw in itertools.chain(chunks, [] if len(uids) else [empty_rows(profile_file, names)]):
            chunk = transform(raw)  # no members: a file with the header / schema only
            if fmt == "csv":
                chunk = csv_ready(chunk)
            if writer is None:
                writer = (
                    pacsv.CSVWriter(tmp, chunk.schema)
                    if fmt == "csv"
                    else pq.ParquetWriter(tmp, chunk.schema, compression="zstd")
                )
            writer.write_table(chunk)
            written += chunk.num_rows
        assert writer is not None
        writer.close()
        writer = None
        tmp.replace(output)
    finally:
        if writer is not None:
            writer.close()
        tmp.unlink(missing_ok=True)
    return written
