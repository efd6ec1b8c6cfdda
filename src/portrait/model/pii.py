"""Masking of personal data (tags marked ``pii: true``) on every output.

Text of 8 or more characters keeps its first 3 and last 4 (``13812345678`` → ``138****5678``);
shorter text becomes ``****``. Missing values stay missing.
"""

from __future__ import annotations

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
