"""Rules evaluated as SQL by an engine: the path for engines other than the in-process index,
and the independent oracle the bitmap path is tested against."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
from pyroaring import AbstractBitMap, BitMap

from portrait.compile.rollup import rollup_view
from portrait.compile.rules import (
    CAMPAIGN_MEMBERS,
    ID_LIST_MEMBERS,
    SEGMENT_MEMBERS,
    RuleSQL,
    rule_query,
)
from portrait.engine import Engine
from portrait.index.bitmaps import bitmap_from_sorted
from portrait.model.rules import CampaignRef, Rule
from portrait.rules.validate import rule_references


@dataclass(frozen=True)
class SqlInputs:
    """Files of one profile version and the warehouse that rule SQL reads."""

    profile_file: Path
    rollup_file: Path | None
    rollup_groups_file: Path | None
    rollup_sums: list[str]
    events_files: list[Path]


def _members_table(key: str, members: Mapping[str, AbstractBitMap]) -> pa.Table:
    names: list[str] = []
    uids: list[np.ndarray] = []
    for name, bitmap in members.items():
        ids = np.asarray(bitmap.to_array(), dtype=np.int64)
        names.extend([name] * ids.size)
        uids.append(ids)
    column = np.concatenate(uids) if uids else np.zeros(0, dtype=np.int64)
    return pa.table({key: pa.array(names, type=pa.string()), "uid": column})


def _campaign_refs(rule: Rule) -> list[CampaignRef]:
    if isinstance(rule, CampaignRef):
        return [rule]
    items = getattr(rule, "items", None) or ([rule.item] if hasattr(rule, "item") else [])
    return [ref for item in items for ref in _campaign_refs(item)]


def evaluate_sql(
    rule: Rule,
    ctx: RuleSQL,
    inputs: SqlInputs,
    engine: Engine,
    segment: Callable[[str], AbstractBitMap],
    id_list: Callable[[str], AbstractBitMap],
    campaign: Callable[[str, str], AbstractBitMap] | None = None,
) -> BitMap:
    """The users ``rule`` selects, computed by ``engine`` from the Parquet files."""
    engine.register_parquet(ctx.profile, [inputs.profile_file])
    if inputs.rollup_file is not None and inputs.rollup_groups_file is not None:
        engine.register_parquet("rollup_rows", [inputs.rollup_file])
        engine.register_parquet("rollup_groups", [inputs.rollup_groups_file])
        engine.create_view(
            "rollup", rollup_view("rollup_rows", "rollup_groups", inputs.rollup_sums)
        )
    if inputs.events_files:
        engine.register_parquet("events", inputs.events_files)
    refs = rule_references(rule)
    engine.register_arrow(
        SEGMENT_MEMBERS,
        _members_table("segment", {n: segment(n) for n in sorted(refs["segment"])}),
    )
    engine.register_arrow(
        ID_LIST_MEMBERS, _members_table("list", {n: id_list(n) for n in sorted(refs["ids"])})
    )
    wanted = sorted({(c.name, c.outcome) for c in _campaign_refs(rule)})
    campaigns, outcomes, uids = [], [], []
    for name, outcome in wanted:
        if campaign is None:
            raise ValueError("campaign() leaves need the campaign records")
        ids = np.asarray(campaign(name, outcome).to_array(), dtype=np.int64)
        campaigns.extend([name] * ids.size)
        outcomes.extend([outcome] * ids.size)
        uids.append(ids)
    engine.register_arrow(
        CAMPAIGN_MEMBERS,
        pa.table(
            {
                "campaign": pa.array(campaigns, type=pa.string()),
                "outcome": pa.array(outcomes, type=pa.string()),
                "uid": np.concatenate(uids) if uids else np.zeros(0, dtype=np.int64),
            }
        ),
    )
    result = engine.to_arrow(rule_query(rule, ctx))
    return bitmap_from_sorted(np.asarray(result.column(0), dtype=np.uint32))  # ORDER BY uid
