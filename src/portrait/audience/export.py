"""Stream an audience's rows of the profile to a CSV or Parquet file.

Row groups of the profile (row number = dense id) are read one at a time and only members'
rows are kept, so memory holds one row group and the member ids (a NumPy array), never the
whole audience as Python objects. The file appears complete or not at all (temp + rename).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from pyroaring import AbstractBitMap

from portrait.errors import InputError

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


def take_rows(profile_file: Path, uids: npt.NDArray[Any], columns: list[str]) -> pa.Table:
    """Rows of the given dense ids (ascending) with ``columns``, reading only the row groups
    that hold them."""
    parquet = pq.ParquetFile(profile_file)
    ids = np.asarray(uids, dtype=np.int64)
    parts = []
    start = 0
    for group in range(parquet.num_row_groups):
        rows = parquet.metadata.row_group(group).num_rows
        lo, hi = np.searchsorted(ids, [start, start + rows])
        if hi > lo:
            chunk = parquet.read_row_group(group, columns=columns)
            parts.append(chunk.take(pa.array(ids[lo:hi] - start)))
        start += rows
    if not parts:
        return parquet.schema_arrow.empty_table().select(columns)
    return pa.concat_tables(parts)


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
    parquet = pq.ParquetFile(profile_file)
    names = ["user_id", *columns]
    tmp = output.with_name(f".{output.name}.tmp")
    written = 0
    writer: pq.ParquetWriter | pacsv.CSVWriter | None = None
    try:
        start = 0
        for group in range(parquet.num_row_groups):
            rows = parquet.metadata.row_group(group).num_rows
            lo, hi = np.searchsorted(uids, [start, start + rows])
            if hi > lo:
                chunk = parquet.read_row_group(group, columns=names)
                chunk = transform(chunk.take(pa.array(uids[lo:hi] - start)))
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
            start += rows
        if writer is None:  # no members: a file with the header / schema only
            empty = transform(parquet.schema_arrow.empty_table().select(names))
            if fmt == "csv":
                empty = csv_ready(empty)
            writer = (
                pacsv.CSVWriter(tmp, empty.schema)
                if fmt == "csv"
                else pq.ParquetWriter(tmp, empty.schema, compression="zstd")
            )
        writer.close()
        writer = None
        tmp.replace(output)
    finally:
        if writer is not None:
            writer.close()
        tmp.unlink(missing_ok=True)
    return written
