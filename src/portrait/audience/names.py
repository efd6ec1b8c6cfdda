"""Names of saved segments and ID lists: what users type in rules, so quoting them stays simple."""

from __future__ import annotations

from portrait.errors import SegmentError

_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-.")


def check_name(name: str, what: str = "segment") -> str:
    """Names are what users type in rules: letters, digits, ``_ - .``, up to 128 characters
    (any script: 高价值用户 is fine)."""
    text = name.strip()
    if not text or len(text) > 128 or '"' in text or "\\" in text:
        raise SegmentError(
            f"{what} name {name!r} is not usable",
            hint="1-128 characters without quotes or backslashes",
        )
    if any(c.isspace() for c in text) or any(
        not (c.lower() in _NAME_CHARS or not c.isascii()) for c in text
    ):
        raise SegmentError(
            f"{what} name {name!r} has characters rules cannot quote simply",
            hint="use letters, digits, '_', '-' or '.'",
        )
    if text.startswith(".") or text.endswith("."):
        # '.', '..' and hidden names are no single safe path segment (exports, uploads)
        raise SegmentError(
            f"{what} name {name!r} cannot start or end with '.'",
            hint="e.g. vip.2026 or vip_2026",
        )
    return text
