"""Checks of text input files (CSV, JSON lines) that say exactly where a file went wrong.

An engine's reader errors are terse and sometimes point at the wrong line (DuckDB's ``CSV Error
on Line: 2`` for a bad byte, ``Line: 1`` for an over-long field on line 4). When a read fails,
these scans find the cause themselves: the first byte that is not UTF-8, the first line over
the size limit, the first line that is not JSON. They run only after a failure, so a good file
is not read twice. The CSV header is checked up front (it is one line): DuckDB silently renames
an empty header to ``column4`` and a repeated one to ``a_1``.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

from portrait.engine.loading import MAX_LINE_BYTES, ReadProblem
from portrait.errors import IngestError

_BLOCK = 1 << 20


def check_csv_header(path: Path, delimiter: str) -> None:
    """Refuse a header with an empty or a repeated column name, naming the positions."""
    try:
        with open(path, newline="", encoding="utf-8-sig", errors="replace") as fh:
            header = next(csv.reader(fh, delimiter=delimiter, quotechar='"'), [])
    except csv.Error:  # e.g. an over-long header field: the reader reports it
        return
    seen: dict[str, int] = {}
    for position, raw in enumerate(header, start=1):
        name = raw.strip()
        if not name:
            raise IngestError(
                f"column {position} of the header has no name",
                where=str(path),
                hint="name every column in the header line (or remove the empty column, "
                "e.g. a delimiter at the end of the line)",
            )
        first = seen.get(name.lower())
        if first is not None:
            also = "" if header[first - 1].strip() == name else " (names ignore case)"
            raise IngestError(
                f"columns {first} and {position} of the header are both named "
                f"'{header[first - 1].strip()}'{also}",
                where=str(path),
                hint="give each column its own name",
            )
        seen[name.lower()] = position


def first_invalid_utf8(path: Path) -> tuple[int, int, bytes] | None:
    """(byte offset from 0, line from 1, the offending bytes) of the first byte sequence that
    is not UTF-8, or None when the whole file is UTF-8."""
    base = 0  # file offset of data[0]
    line = 1
    carry = b""
    with open(path, "rb") as fh:
        while True:
            block = fh.read(_BLOCK)
            data = carry + block
            if not data:
                return None
            try:
                data.decode("utf-8")
                good = len(data)
            except UnicodeDecodeError as exc:
                if block and exc.reason == "unexpected end of data":
                    good = exc.start  # a character cut by the block boundary: read on
                else:
                    line += data.count(b"\n", 0, exc.start)
                    return base + exc.start, line, data[exc.start : exc.end]
            line += data.count(b"\n", 0, good)
            base += good
            carry = data[good:]
            if not block:
                return None


def _long_csv_line(path: Path, delimiter: str, limit: int) -> tuple[int, str, int, int] | None:
    """(line, column, field bytes, record bytes) of the first record longer than ``limit``."""
    old = csv.field_size_limit()
    csv.field_size_limit(sys.maxsize)
    try:
        with open(path, newline="", encoding="utf-8-sig", errors="replace") as fh:
            reader = csv.reader(fh, delimiter=delimiter, quotechar='"')
            header = next(reader, [])
            start = reader.line_num + 1
            for row in reader:
                chars = sum(map(len, row)) + len(row)
                if chars * 4 > limit:  # a UTF-8 character is at most 4 bytes: only then count
                    sizes = [len(f.encode("utf-8")) for f in row]
                    total = sum(sizes) + len(row) - 1
                    if total > limit:
                        i = max(range(len(row)), key=sizes.__getitem__)
                        name = header[i].strip() if i < len(header) else f"#{i + 1}"
                        return start, name, sizes[i], total
                start = reader.line_num + 1
    except csv.Error:
        return None
    finally:
        csv.field_size_limit(old)
    return None


def _bad_json_line(path: Path) -> tuple[int, str] | None:
    """(line, what is wrong) of the first non-blank line that is not one JSON value."""
    with open(path, "rb") as fh:
        if fh.read(4096).lstrip().startswith(b"["):
            return None  # one JSON array: lines mean nothing
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            text = raw.strip()
            if not text:
                continue
            try:
                json.loads(text)
            except ValueError as exc:
                detail = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
                where = (
                    f" at character {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
                )
                return number, f"{detail}{where}"
    return None


def read_error(
    path: Path, fmt: str, delimiter: str, engine_message: str, problem: ReadProblem | None
) -> IngestError:
    """The error for a file the engine could not read: the cause found by the scans above, or
    the engine's own first line. ``problem``: what the engine recognised in its message."""
    if fmt in ("csv", "jsonl"):
        bad = first_invalid_utf8(path)
        if bad is not None:
            offset, line, seq = bad
            return IngestError(
                f"the file is not valid UTF-8: the byte{'s' if len(seq) > 1 else ''} "
                f"{' '.join(f'0x{b:02X}' for b in seq)} at byte offset {offset} (line {line}) "
                "cannot be decoded; Portrait reads CSV and JSON files as UTF-8",
                where=str(path),
                hint="convert the file to UTF-8, e.g. iconv -f GBK -t UTF-8 in.csv > out.csv",
            )
    if fmt == "csv" and problem == "line_too_long":
        long = _long_csv_line(path, delimiter, MAX_LINE_BYTES)
        if long is not None:
            line, column, field_bytes, total = long
            return IngestError(
                f"line {line} is too long: {total:,} bytes, over the limit of "
                f"{MAX_LINE_BYTES:,} bytes per line; its column '{column}' holds "
                f"{field_bytes:,} bytes",
                where=str(path),
                hint="shorten or drop that value (long text does not belong in a profile)",
            )
    if fmt == "jsonl" and problem == "not_json":
        bad_line = _bad_json_line(path)
        if bad_line is not None:
            return IngestError(
                f"line {bad_line[0]} is not valid JSON: {bad_line[1]}",
                where=str(path),
                hint="write one JSON object per line",
            )
    return IngestError(
        f"cannot read the file as {fmt}: {engine_message.splitlines()[0]}",
        where=str(path),
        hint="check the format, the header line and the quoting",
    )
