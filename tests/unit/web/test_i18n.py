"""Every English string the console shows through ``_()`` has its Chinese, and the language
is chosen from the cookie, then the browser's preference."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import pytest

from portrait.web.i18n import catalog, choose, translator

WEB = Path(str(resources.files("portrait.web")))
# _("…") and _('…') in templates and handlers (the first argument, a literal)
CALL = re.compile(r"""\b_\(\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')""")
ROLE_NAMES = ("viewer", "analyst", "marketer", "admin")


def used_strings() -> dict[str, str]:
    found: dict[str, str] = {}
    for path in sorted([*WEB.rglob("*.html"), *(WEB / "pages").rglob("*.py")]):
        for match in CALL.finditer(path.read_text(encoding="utf-8")):
            text = match.group(1) if match.group(1) is not None else match.group(2)
            found.setdefault(text.replace('\\"', '"').replace("\\'", "'"), str(path.name))
    for role in ROLE_NAMES:
        found.setdefault(role, "base.html")
    return found


def test_every_shown_string_has_its_chinese() -> None:
    zh = catalog("zh")
    missing = {text: where for text, where in used_strings().items() if text not in zh}
    assert not missing, f"add to portrait/web/locales/zh/*.json: {missing}"


def test_no_string_is_translated_two_ways() -> None:
    """The catalogs are merged: one English string has one Chinese, whichever page shows it."""
    import json

    seen: dict[str, tuple[str, str]] = {}
    clashes = []
    for path in sorted((WEB / "locales" / "zh").glob("*.json")):
        for english, chinese in json.loads(path.read_text(encoding="utf-8")).items():
            if english in seen and seen[english][0] != chinese:
                clashes.append(f"{english!r}: {seen[english]} vs {(chinese, path.name)}")
            seen.setdefault(english, (chinese, path.name))
    assert not clashes, "give these strings distinct English texts: " + "; ".join(clashes)


def test_translations_keep_their_placeholders() -> None:
    for english, chinese in catalog("zh").items():
        assert set(re.findall(r"{(\w+)}", english)) == set(re.findall(r"{(\w+)}", chinese)), english


def test_no_translation_is_left_unused() -> None:
    used = used_strings()
    unused = sorted(set(catalog("zh")) - set(used))
    assert not unused, f"remove from portrait/web/locales/zh/*.json: {unused}"


@pytest.mark.parametrize(
    ("cookie", "header", "expected"),
    [
        ("zh", "en-US", "zh"),
        ("en", "zh-CN,zh;q=0.9", "en"),
        (None, "zh-CN,zh;q=0.9,en;q=0.8", "zh"),
        (None, "en-GB,en;q=0.9,zh;q=0.5", "en"),
        (None, "fr-FR", "en"),
        ("xx", None, "en"),
    ],
)
def test_the_language_comes_from_the_cookie_then_the_browser(
    cookie: str | None, header: str | None, expected: str
) -> None:
    assert choose(cookie, header) == expected


def test_placeholders_are_filled_in_either_language() -> None:
    assert translator("en")("Welcome, {name}", name="ann") == "Welcome, ann"
    assert "ann" in translator("zh")("Welcome, {name}", name="ann")
