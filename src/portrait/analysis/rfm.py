"""The RFM report: users, share and mean scores per segment, either from the built ``kind: rfm``
tags or computed on the fly from the orders for any window and number of scores."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
from pydantic import ValidationError
from sqlglot import exp

from portrait.compile.tags import rfm_scores_query
from portrait.engine import Engine
from portrait.errors import InputError, NotFoundError
from portrait.model.tags import RFM_SEGMENTS, AnyTag, RfmTag


def rfm_definition(window: str = "365d", scores: int = 5) -> RfmTag:
    """The RFM computation for ``window`` ("365d", "52w", "all") and ``scores`` (2 to 10),
    checked like a ``kind: rfm`` tag."""
    try:
        return RfmTag.model_validate(
            {"name": "rfm", "kind": "rfm", "score": "segment", "window": window, "scores": scores}
        )
    except ValidationError as exc:
        problem = exc.errors()[0]
        option = {"window": "--window", "scores": "--scores"}.get(str(problem["loc"][0]), "")
        value = window if option == "--window" else scores
        raise InputError(
            f"bad RFM {option.lstrip('-') or 'option'} {value!r}: "
            + str(problem["msg"]).removeprefix("Value error, "),
            where=option or None,
            hint="--window like 90d, 52w or all; --scores from 2 to 10",
        ) from None


def rfm_on_the_fly(
    engine: Engine, orders_files: list[Path], definition: RfmTag, as_of: dt.date
) -> list[dict[str, Any]]:
    """Segment rows computed from the orders: users, share of the users with orders in the
    window, mean R/F/M scores and mean recency (days), frequency (orders) and monetary."""
    if not orders_files:
        raise InputError("no orders have been loaded", hint="portrait ingest orders FILE")
    engine.register_parquet("orders", orders_files)
    scored = exp.Subquery(
        this=rfm_scores_query(definition, as_of), alias=exp.TableAlias(this=exp.to_identifier("s"))
    )
    aggregates = [exp.alias_(exp.Count(this=exp.Star()), "users")]
    for column, name in [
        ("r", "avg_r"),
        ("f", "avg_f"),
        ("m", "avg_m"),
        ("recency", "avg_recency_days"),
        ("frequency", "avg_orders"),
        ("monetary", "avg_amount"),
    ]:
        aggregates.append(exp.alias_(exp.Avg(this=exp.column(column)), name))
    query = (
        exp.select(exp.column("segment"), *aggregates).from_(scored).group_by(exp.column("segment"))
    )
    return segment_rows(engine.to_arrow(query))


def segment_rows(table: pa.Table) -> list[dict[str, Any]]:
    """Rows of (segment, users, …) with the share of all scored users added, every one of the
    8 segments present (empty ones with 0 users), largest first."""
    found = {row["segment"]: row for row in table.to_pylist()}
    total = sum(int(row["users"]) for row in found.values())
    averages = [c for c in table.column_names if c not in ("segment", "users")]
    rows = []
    for label in RFM_SEGMENTS.values():
        row = found.get(label, {})
        users = int(row.get("users") or 0)
        rows.append(
            {
                "segment": label,
                "users": users,
                "share": users / total if total else 0.0,
                **{c: None if row.get(c) is None else float(row[c]) for c in averages},
            }
        )
    return sorted(rows, key=lambda r: -int(r["users"]))


def rfm_tags(
    definitions: Mapping[str, AnyTag], built: Sequence[str], segment_tag: str | None
) -> tuple[RfmTag, list[RfmTag]] | None:
    """The built RFM segment tag to report (``segment_tag``, else the first) and every built
    ``kind: rfm`` tag; None when none is built (the report is then computed from the
    orders). Naming a segment tag that is not built is an error."""
    rfm = [t for n in built if isinstance(t := definitions.get(n), RfmTag)]
    segments = [t for t in rfm if t.score == "segment"]
    if segment_tag is not None:
        segments = [t for t in segments if t.name == segment_tag]
        if not segments:
            raise NotFoundError(
                f"no built RFM segment tag named '{segment_tag}'",
                hint="define one (kind: rfm, score: segment) and run portrait build; "
                "see docs/tags.md",
            )
    return (segments[0], rfm) if segments else None


def rfm_from_tags(
    profile_file: Path, segment: RfmTag, rfm: Sequence[RfmTag]
) -> list[dict[str, Any]]:
    """Segment rows read from the built profile: users per value of the ``segment`` tag and
    the mean of the r, f and m score tags computed with the same window, scale and
    filter."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    def same_computation(tag: RfmTag) -> bool:
        return (tag.window, tag.scores, tag.where) == (
            segment.window,
            segment.scores,
            segment.where,
        )

    scores = {t.score: t.name for t in rfm if same_computation(t)}
    present = [k for k in "rfm" if k in scores]
    table = pq.read_table(profile_file, columns=[segment.name, *(scores[k] for k in present)])
    table = table.filter(pc.is_valid(table.column(segment.name)))
    aggregates = [(segment.name, "count")] + [(scores[k], "mean") for k in present]
    grouped = table.group_by(segment.name).aggregate(aggregates)
    names = {f"{segment.name}_count": "users", segment.name: "segment"}
    names.update({f"{scores[k]}_mean": f"avg_{k}" for k in present})
    return segment_rows(grouped.rename_columns([names[c] for c in grouped.column_names]))
