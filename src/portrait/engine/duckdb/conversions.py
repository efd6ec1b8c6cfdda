"""Per-row conversion of a raw column to its value type, and the checks each value must pass.

A raw column is text (CSV, or a Parquet string), JSON (JSON lines: a value per row whose JSON
kind can differ from row to row) or a typed Parquet column. Each value is judged on its own:
a value of the wrong JSON kind, text that is not of the type, a number that is not finite, a
timestamp outside the accepted range or with an impossible offset, text with a NUL character
is a problem of that row only.
"""

from __future__ import annotations

from dataclasses import dataclass

from portrait.engine.duckdb.jsonlines import kind_word_sql
from portrait.engine.duckdb.sqltext import quote, time_range_literals
from portrait.engine.loading import TimeRange
from portrait.model.schema import SQL_TYPES

TYPE_WORDS = {
    "string": "text",
    "int": "a whole number",
    "float": "a number",
    "bool": "true/false",
    "date": "a date",
    "timestamp": "a timestamp",
    "list<string>": "a list",
}
LIST_SEPARATOR = "|"
#: ASCII whitespace (space, tab, newline, carriage return, vertical tab, form feed): trimmed
#: around every CSV value, so " u001 " and "u001\t" are both the user u001.
WHITESPACE = "(' ' || chr(9) || chr(10) || chr(13) || chr(11) || chr(12))"
#: Offsets accepted in timestamps: the range real time zones use.
OFFSET_MIN, OFFSET_MAX = -12 * 60, 14 * 60
_INT_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER")
_NUMBER_KINDS = ("BIGINT", "UBIGINT", "DOUBLE")
#: JSON kinds a value type accepts; text (a JSON string) is read as CSV text is.
_JSON_KINDS = {
    "string": ("VARCHAR",),
    "int": ("VARCHAR", *_NUMBER_KINDS),
    "float": ("VARCHAR", *_NUMBER_KINDS),
    "bool": ("VARCHAR", "BOOLEAN"),
    "date": ("VARCHAR",),
    "timestamp": ("VARCHAR",),
    "list<string>": ("VARCHAR", "ARRAY"),
}
# The part of a timestamp after the time of day that DuckDB reads as an offset.
_OFFSET_RE = r"[0-9]:[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]*)?)?([+-][0-9:]+)\s*$"


def trimmed(text: str) -> str:
    """SQL for ``text`` with :data:`WHITESPACE` trimmed from both ends.

    DuckDB's ``trim`` with a set of characters costs about five times its plain ``trim`` (it
    made the row checks of a Parquet load twice as slow). A value whose first and last
    characters are above the space (nearly every value) has nothing to trim, so it skips it.
    ``ascii`` is the first character's code point (0 for empty text)."""
    return (
        f"CASE WHEN ascii({text}) > 32 AND ascii(right({text}, 1)) > 32 THEN {text} "
        f"ELSE trim({text}, {WHITESPACE}) END"
    )


def all_whitespace(text: str) -> str:
    """SQL: ``text`` is empty or :data:`WHITESPACE` only (``trim(text, …) = ''``), with the
    trim only for text whose first character is at or below the space (see :func:`trimmed`)."""
    return f"(ascii({text}) <= 32 AND trim({text}, {WHITESPACE}) = '')"


@dataclass(frozen=True)
class RawColumn:
    """A column of ``src`` to convert: its name, target value type and raw (DuckDB) type.

    ``trim``: text was typed by hand (CSV) and has ASCII whitespace trimmed; text in a typed
    format (Parquet, JSON) is taken as written. ``objects``: a JSON object is accepted as its
    JSON text (nested properties); not for the table's known columns."""

    name: str
    vtype: str
    raw_type: str
    trim: bool = True
    objects: bool = False

    @property
    def raw(self) -> str:
        return self.raw_type.upper()

    @property
    def is_json(self) -> bool:
        return self.raw == "JSON"

    @property
    def is_text(self) -> bool:
        return self.raw.startswith("VARCHAR")

    @property
    def col(self) -> str:
        return quote(self.name)

    def kinds(self) -> tuple[str, ...]:
        return _JSON_KINDS[self.vtype] + (("OBJECT",) if self.objects else ())

    def text(self) -> str:
        """The value as text, NULL when empty (JSON: the string, or the JSON of other kinds)."""
        if self.is_json:
            return f"NULLIF({self.col} ->> '$', '')"
        if self.is_text:
            if self.trim:
                return f"NULLIF({trimmed(self.col)}, '')"
            return f"NULLIF({self.col}, '')"
        return f"CAST({self.col} AS VARCHAR)"

    def shown(self) -> str:
        """The value as the file had it, cut for messages."""
        if self.is_json:
            return f"({self.col} ->> '$')[:40]"
        return f"CAST({self.col} AS VARCHAR)[:40]"

    def blank(self) -> str:
        """The value is missing: absent, null, or empty (blank) text."""
        if self.is_json:
            text = all_whitespace(f"({self.col} ->> '$')")
            return f"({self.col} IS NULL OR (json_type({self.col}) = 'VARCHAR' AND {text}))"
        if self.is_text:
            return f"({self.col} IS NULL OR {all_whitespace(self.col)})"
        return f"({self.col} IS NULL)"

    def can_fail(self) -> bool:
        """Whether converting the column can fail on some row."""
        vtype, raw = self.vtype, self.raw
        if self.is_json:
            return True
        if vtype in ("string", "list<string>"):
            return False
        if vtype == "int":
            return raw not in _INT_TYPES
        if vtype == "float":
            return not (
                raw in _INT_TYPES
                or raw in ("FLOAT", "DOUBLE", "BIGINT", "HUGEINT", "UBIGINT")
                or raw.startswith("DECIMAL")
            )
        if vtype == "bool":
            return raw != "BOOLEAN"
        if vtype in ("timestamp", "date"):
            return self.is_text or not (raw.startswith("TIMESTAMP") or raw == "DATE")
        return True


def typed_expr(c: RawColumn, utc: bool = True) -> str:
    """SQL that converts ``c`` to its value type, NULL when it cannot.

    ``utc``: the workspace time zone is UTC, so naive timestamps need no conversion.
    """
    col, raw, vtype = c.col, c.raw, c.vtype
    if c.is_json:
        kind = f"json_type({col})"
        if vtype == "string":
            objects = f" WHEN 'OBJECT' THEN CAST({col} AS VARCHAR)" if c.objects else ""
            return f"CASE {kind} WHEN 'VARCHAR' THEN {c.text()}{objects} END"
        if vtype == "list<string>":
            return (
                f"CASE {kind} WHEN 'ARRAY' THEN TRY_CAST({col} AS VARCHAR[]) "
                f"WHEN 'VARCHAR' THEN {_split(c.text())} END"
            )
        return _from_text(c.text(), vtype)
    if vtype == "timestamp":
        # Values with an offset (or a zone-aware type) are converted to UTC; values without one
        # (text or a naive timestamp type) are in the workspace time zone (the session's).
        # epoch_us/make_timestamp turn an instant into naive UTC without a time-zone lookup.
        if raw == "TIMESTAMP WITH TIME ZONE":
            return f"make_timestamp(epoch_us({col}))"
        if raw.startswith("TIMESTAMP") or raw == "DATE":
            if utc:
                return f"CAST({col} AS TIMESTAMP)"
            return f"make_timestamp(epoch_us(CAST({col} AS TIMESTAMPTZ)))"
        return _from_text(c.text(), vtype)
    if vtype == "list<string>":
        if raw.endswith("[]"):
            return f"CAST({col} AS VARCHAR[])"
        return _split(f"CAST({col} AS VARCHAR)")
    if vtype == "string":
        return c.text()
    if not c.can_fail():
        return f"CAST({col} AS {SQL_TYPES[vtype]})"
    return _from_text(c.text(), vtype)


def _split(text: str) -> str:
    return (
        f"list_filter(list_transform(string_split({text}, '{LIST_SEPARATOR}'), "
        f"lambda x: {trimmed('x')}), lambda x: x <> '')"
    )


def _from_text(text: str, vtype: str) -> str:
    if vtype == "timestamp":
        return f"make_timestamp(epoch_us(TRY_CAST({text} AS TIMESTAMPTZ)))"
    if vtype == "int":
        # TRY_CAST('4.5' AS BIGINT) rounds; a whole number must look like one.
        return f"CASE WHEN regexp_full_match({text}, '[+-]?[0-9]+') THEN TRY_CAST({text} AS BIGINT) END"
    if vtype == "list<string>":
        return _split(text)
    if vtype == "string":
        return text
    return f"TRY_CAST({text} AS {SQL_TYPES[vtype]})"


def _offset_minutes(text: str) -> tuple[str, str]:
    """SQL for the offset written after the time of day ('' when none) and its minutes east of
    UTC (NULL when it is not ±HH, ±HHMM or ±HH:MM with minutes under 60)."""
    off = f"regexp_extract({text}, '{_OFFSET_RE}', 1)"
    digits = f"replace({off}, ':', '')"
    well_formed = f"regexp_full_match({off}, '[+-][0-9]{{2}}(:?[0-5][0-9]){{0,2}}')"
    minutes = (
        f"CASE WHEN {well_formed} THEN (CASE WHEN {off}[1] = '-' THEN -1 ELSE 1 END) * "
        f"(CAST({digits}[2:3] AS INTEGER) * 60 + COALESCE(TRY_CAST({digits}[4:5] AS INTEGER), 0)) END"
    )
    return off, minutes


def column_checks(c: RawColumn, typed: str, bounds: TimeRange) -> list[tuple[str, str]]:
    """(condition, reason) pairs, in order, for the values of ``c`` (``typed``: its converted
    value). The first that holds is the row's problem."""
    checks: list[tuple[str, str]] = []
    shown, word = c.shown(), TYPE_WORDS[c.vtype]
    if c.is_json:
        kinds = ", ".join(f"'{k}'" for k in c.kinds())
        checks.append(
            (
                f"json_type({c.col}) NOT IN ({kinds})",
                f"'expected {word}, found ' || {kind_word_sql(f'json_type({c.col})')} "
                f"|| ': ' || {shown}",
            )
        )
    if c.can_fail():
        reason = f"'cannot read ' || {shown} || ' as {word}'"
        if c.vtype == "int":
            reason = (
                f"CASE WHEN regexp_full_match({c.text()}, '[+-]?[0-9]+') THEN {shown} || "
                "' is too large for a whole number (-9223372036854775808 to 9223372036854775807)'"
                f" ELSE {reason} END"
            )
        checks.append((f"(NOT {c.blank()} AND {typed} IS NULL)", reason))
    if c.vtype == "float":
        checks.append(
            (
                f"NOT isfinite({typed})",
                f"{shown} || ' is not a finite number (infinite, not a number, or too large "
                "for a 64-bit float)'",
            )
        )
    if c.vtype == "string":
        checks.append(
            (
                f"strpos({typed}, chr(0)) > 0",
                f"'the text contains a NUL character (U+0000) at position ' || strpos({typed}, chr(0))",
            )
        )
    if c.vtype in ("timestamp", "date"):
        lo, hi = time_range_literals(bounds)
        checks.append(
            (
                f"({typed} < {lo} OR {typed} >= {hi})",
                f"{shown} || ' is outside the accepted time range {bounds.describe()} "
                "(settings ingest.min_time and ingest.max_time)'",
            )
        )
    if c.vtype == "timestamp" and (c.is_text or c.is_json):
        off, minutes = _offset_minutes(c.text())
        checks.append(
            (
                f"({typed} IS NOT NULL AND {off} <> '' AND "
                f"COALESCE({minutes} NOT BETWEEN {OFFSET_MIN} AND {OFFSET_MAX}, TRUE))",
                f"'the time zone offset ' || {off} || ' is not a real one (offsets run from "
                "-12:00 to +14:00, minutes under 60)'",
            )
        )
    return checks
