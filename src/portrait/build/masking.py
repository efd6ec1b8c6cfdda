"""Vectorised PII masking of Arrow columns (same rule as :func:`portrait.model.pii.mask_text`)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from portrait.model.pii import KEEP_HEAD, KEEP_TAIL, MASK, MIN_LENGTH_TO_KEEP


def _mask_strings(array: pa.Array) -> pa.Array:
    text = array.cast(pa.string())
    head = pc.utf8_slice_codeunits(text, 0, KEEP_HEAD)
    tail = pc.utf8_slice_codeunits(text, -KEEP_TAIL)
    kept = pc.binary_join_element_wise(head, pa.scalar(MASK), tail, pa.scalar(""))
    long_enough = pc.greater_equal(pc.utf8_length(text), MIN_LENGTH_TO_KEEP)
    return pc.if_else(long_enough, kept, pa.scalar(MASK))


def mask_column(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Masked copy of a column: text masked, lists masked element by element."""
    chunks = []
    for chunk in column.chunks:
        if pa.types.is_list(chunk.type) or pa.types.is_large_list(chunk.type):
            values = _mask_strings(chunk.values)
            chunks.append(pa.ListArray.from_arrays(chunk.offsets, values, mask=chunk.is_null()))
        else:
            chunks.append(_mask_strings(chunk))
    out_type = pa.list_(pa.string()) if pa.types.is_list(column.type) else pa.string()
    return pa.chunked_array(chunks, type=out_type)
