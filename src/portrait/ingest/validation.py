"""What the columns of a load must be: the required ones present, none reserved, and the value
type of each (the table's own, then earlier batches', then what the engine infers)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from portrait.engine import Staging
from portrait.errors import IngestError
from portrait.model.schema import TableSpec
from portrait.store.warehouse import TableState


def column_types(
    staging: Staging,
    spec: TableSpec,
    raw: Mapping[str, str],
    previous: TableState | None,
    infer: bool = True,
) -> dict[str, str]:
    """Value type of every column to load: spec types, then earlier batches, then the file's
    own types (Parquet), inferred from the values for text (CSV, ``infer``) and JSON."""
    known = spec.known()
    earlier = previous.columns if previous is not None else {}
    inferred = staging.infer_types(
        [c for c in raw if c not in known and c not in earlier], from_text=infer
    )
    return {c: known.get(c) or earlier.get(c) or inferred[c] for c in raw}


def check_required(
    spec: TableSpec, raw: Mapping[str, str], path: Path, mapping: Mapping[str, str]
) -> None:
    missing = [c for c in spec.required if c not in raw]
    if missing:
        names = ", ".join(f"'{c}'" for c in missing)
        raise IngestError(
            f"missing required column{'s' if len(missing) > 1 else ''} {names} for {spec.name}",
            where=str(path),
            hint="columns in the file: "
            + ", ".join(raw)
            + f"; map yours with --map {missing[0]}=YOUR_COLUMN",
        )
    for column in ("uid",):
        if column in raw:
            raise IngestError(
                f"column '{column}' is reserved (Portrait assigns dense user ids itself)",
                where=str(path),
                hint=f"rename it, e.g. --map external_{column}={column}",
            )
