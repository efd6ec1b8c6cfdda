"""Input files: their format and content digest, and how they are staged in the engine (file by
file, each CSV header checked first, an unreadable file explained, then combined and mapped)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

from portrait.engine import Staging
from portrait.engine.loading import FileFormat, IncompatibleFiles, InputFile, UnreadableFile
from portrait.errors import IngestError, InputError
from portrait.ingest.textchecks import check_csv_header, read_error

_SUFFIXES: dict[str, FileFormat] = {
    ".csv": "csv",
    ".txt": "csv",
    ".tsv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}


def detect_format(path: Path, fmt: str | None) -> FileFormat:
    if fmt:
        if fmt not in ("csv", "parquet", "jsonl"):
            raise InputError(f"unknown format '{fmt}'", hint="use csv, parquet or jsonl")
        return fmt  # type: ignore[return-value]
    found = _SUFFIXES.get(path.suffix.lower())
    if found is None:
        raise IngestError(
            f"cannot tell the format from the suffix '{path.suffix}'",
            where=str(path),
            hint="name the file .csv, .parquet or .jsonl, or pass --file-format",
        )
    return found


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def input_files(paths: list[Path]) -> list[InputFile]:
    """The files with their labels (a file's name, or its path when two files share a name)
    and delimiters (tab for .tsv)."""
    names = [p.name for p in paths]
    return [
        InputFile(
            path,
            label=path.name if names.count(path.name) == 1 else str(path),
            delimiter="\t" if path.suffix.lower() == ".tsv" else ",",
        )
        for path in paths
    ]


def stage_files(staging: Staging, paths: list[Path], fmt: FileFormat) -> dict[str, str]:
    """Read ``paths`` into ``staging``, file by file; return the columns (name → raw type)."""
    for file in input_files(paths):
        if fmt == "csv":
            check_csv_header(file.path, file.delimiter)
        try:
            staging.read(file)
        except UnreadableFile as exc:
            raise read_error(file.path, fmt, file.delimiter, exc.detail, exc.problem) from None
    try:
        return staging.combine()
    except IncompatibleFiles as exc:
        raise IngestError(
            f"cannot combine the columns of the files: {exc.detail.splitlines()[0]}",
            where=", ".join(str(p) for p in paths),
            hint="give a column the same type in every file",
        ) from None


def apply_mapping(
    staging: Staging, raw: dict[str, str], mapping: Mapping[str, str], path: Path
) -> dict[str, str]:
    if not mapping:
        return raw
    for target, source in mapping.items():
        if source not in raw:
            raise IngestError(
                f"--map {target}={source}: the file has no column '{source}'",
                where=str(path),
                hint="columns in the file: " + ", ".join(raw),
            )
    renamed = {source: target for target, source in mapping.items()}
    return staging.rename(
        [
            (c, renamed.get(c, c))
            for c in raw
            if not (
                c not in renamed and c in mapping
            )  # a mapped target shadows a same-named column
        ]
    )
