"""The console's two languages: English (the source strings) and Chinese.

Templates and page handlers write English through ``_("…")``; ``locales/zh/*.json`` (one file
per page group) map them to Chinese. The language is the ``lang`` cookie's (set by the switch
in the header), else the browser's first choice among the two (Accept-Language), else English.
A string missing from a catalog shows in English (``tests/unit/web/test_i18n.py`` checks that
every string the templates use has its Chinese)."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from importlib import resources

LANGUAGES = ("en", "zh")
COOKIE = "lang"


@cache
def catalog(language: str) -> dict[str, str]:
    """English → ``language``, merged from every file of its folder."""
    merged: dict[str, str] = {}
    if language == "en":
        return merged
    folder = resources.files("portrait.web") / "locales" / language
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".json"):
            merged.update(json.loads(entry.read_text(encoding="utf-8")))
    return merged


def choose(cookie: str | None, accept_language: str | None) -> str:
    """The language for a request."""
    if cookie in LANGUAGES:
        return str(cookie)
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            return "zh"
        if tag.startswith("en"):
            return "en"
    return "en"


def translator(language: str) -> Callable[..., str]:
    """``_("Hello {name}", name=…)``: the translation, formatted with the named values."""
    table = catalog(language)

    def _(text: str, **values: object) -> str:
        shown = table.get(text, text)
        return shown.format(**values) if values else shown

    return _
