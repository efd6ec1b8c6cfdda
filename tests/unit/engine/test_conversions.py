"""The DuckDB SQL that trims input text: the fast path gives what ``trim`` with the set gives."""

from __future__ import annotations

import itertools

import duckdb
import pyarrow as pa

from portrait.engine.duckdb.conversions import WHITESPACE, _split, all_whitespace, trimmed

# ASCII whitespace, other characters at or below the space, and characters above it
# (multi-byte ones, Unicode spaces that are not trimmed, a combining mark).
CHARACTERS = [" ", "\t", "\n", "\r", "\x0b", "\x0c", "\x00", "\x01", "\x1f", "!", "a", "|"]
CHARACTERS += ["\x7f", "\u00a0", "\u3000", "é", "中", "\u0301", "😀"]


def test_trimmed_and_all_whitespace_agree_with_trim() -> None:
    texts = ["", *("".join(p) for n in (1, 2, 3) for p in itertools.product(CHARACTERS, repeat=n))]
    texts += [" u001 ", "u002\t", "\tu004\r\n", "a b", "\x01a\x01", None]  # type: ignore[list-item]
    con = duckdb.connect()
    con.register("t", pa.table({"x": pa.array(texts, pa.string())}))
    old_trim = f"trim(x, {WHITESPACE})"
    old_split = f"list_filter(list_transform(string_split(x, '|'), lambda x: {old_trim}), lambda x: x <> '')"
    (row,) = con.execute(
        f"SELECT count(*) FILTER (WHERE {old_trim} IS DISTINCT FROM {trimmed('x')}), "
        f"count(*) FILTER (WHERE ({old_trim} = '') IS DISTINCT FROM {all_whitespace('x')}), "
        f"count(*) FILTER (WHERE {old_split} IS DISTINCT FROM {_split('x')}), "
        f"count(*) FILTER (WHERE {old_trim} = ''), count(*) FILTER (WHERE {old_trim} <> x), "
        "count(*) FROM t"
    ).fetchall()
    differ_trim, differ_blank, differ_split, blank, trimmed_rows, total = row
    assert (differ_trim, differ_blank, differ_split) == (0, 0, 0)
    assert blank > 100 and trimmed_rows > 1000 and total == len(texts)  # both paths were taken
