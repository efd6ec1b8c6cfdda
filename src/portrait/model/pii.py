"""Masking of personal data (tags marked ``pii: true``) on every output.

Text of 8 or more characters keeps its first 3 and last 4 (``13812345678`` → ``138****5678``);
shorter text becomes ``****``. Missing values stay missing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

MASK = "****"
KEEP_HEAD = 3
KEEP_TAIL = 4
MIN_LENGTH_TO_KEEP = KEEP_HEAD + KEEP_TAIL + 1


def mask_text(value: str | None) -> str | None:
    """Mask one value."""
    if value is None:
        return None
    text = str(value)
    if len(text) >= MIN_LENGTH_TO_KEEP:
        return text[:KEEP_HEAD] + MASK + text[-KEEP_TAIL:]
    return MASK


def _mask_strings(array: pa.Array) -> pa.Array:
    import pyarrow as pa
    import pyarrow.compute as pc

    text = array.cast(pa.string())
    head = pc.utf8_slice_codeunits(text, 0, KEEP_HEAD)
    tail = pc.utf8_slice_codeunits(text, -KEEP_TAIL)
    kept = pc.binary_join_element_wise(head, pa.scalar(MASK), tail, pa.scalar(""))
    long_enough = pc.greater_equal(pc.utf8_length(text), MIN_LENGTH_TO_KEEP)
    return pc.if_else(long_enough, kept, pa.scalar(MASK))


def mask_column(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Masked copy of a column: text masked, lists masked element by element (vectorised,
    the same rule as :func:`mask_text`)."""
    import pyarrow as pa

    chunks = []
    for chunk in column.chunks:
        if pa.types.is_list(chunk.type) or pa.types.is_large_list(chunk.type):
            values = _mask_strings(chunk.values)
            chunks.append(pa.ListArray.from_arrays(chunk.offsets, values, mask=chunk.is_null()))
        else:
            chunks.append(_mask_strings(chunk))
    out_type = pa.list_(pa.string()) if pa.types.is_list(column.type) else pa.string()
    return pa.chunked_array(chunks, type=out_type)
