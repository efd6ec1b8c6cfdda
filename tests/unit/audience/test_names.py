"""Segment and ID-list names: what rules can quote simply, any script, no path tricks."""

from __future__ import annotations

import pytest

from portrait.audience.names import check_name
from portrait.errors import SegmentError


@pytest.mark.parametrize(
    "name", ["vip", "高价值用户", "vip.2026", "a-b_c", "A1", "x" * 128, "用户-2026.v2"]
)
def test_usable_names_pass_unchanged(name: str) -> None:
    assert check_name(name) == name


def test_surrounding_spaces_are_dropped() -> None:
    assert check_name("  vip\t") == "vip"


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("", "not usable"),
        ("   ", "not usable"),
        ("x" * 129, "not usable"),
        ('a"b', "not usable"),
        ("a\\b", "not usable"),
        ("a b", "cannot quote simply"),
        ("a/b", "cannot quote simply"),
        ("a(b)", "cannot quote simply"),
        ("a\u3000b", "cannot quote simply"),  # an ideographic space is still a space
        (".hidden", "cannot start or end with '.'"),
        ("vip.", "cannot start or end with '.'"),
        ("..", "cannot start or end with '.'"),
    ],
)
def test_unusable_names_are_refused_with_a_hint(name: str, words: str) -> None:
    with pytest.raises(SegmentError, match=words) as info:
        check_name(name, "ID list")
    assert str(info.value).startswith("ID list name ")
    assert info.value.hint
