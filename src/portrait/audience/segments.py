"""Saved segments (分群 / 人群包): the ``Segments`` catalog of a workspace.

A segment is a named rule with a mode: **dynamic** segments are re-evaluated after every build,
**static** ones keep the members they had when created. Set operations on segments are rules
over ``segment(...)`` references; a segment from an ID file is the static rule ``ids("name")``.
Every evaluation is stored as a snapshot (size, profile version, as-of date, time).

``Segments`` reads and writes segments here and hands the other concerns to their modules:
ID lists (:mod:`~portrait.audience.idlists`), the reference graph
(:mod:`~portrait.audience.references`), snapshots and refresh
(:mod:`~portrait.audience.refresh`), overlap (:mod:`~portrait.audience.overlap`) and samples
(:mod:`~portrait.audience.sampling`).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pyroaring import BitMap, FrozenBitMap
from sqlalchemy.exc import IntegrityError

from portrait.audience import overlap as overlap_module
from portrait.audience import refresh as refresh_module
from portrait.audience.idlists import IdLists, IdUploadReport
from portrait.audience.names import check_name
from portrait.audience.references import check_references, dependents, segment_references
from portrait.audience.refresh import KEEP_MEMBERS, record_snapshot
from portrait.audience.sampling import sample, sample_size
from portrait.audience.selector import Selector, no_such_segment
from portrait.audience.stored import utc
from portrait.errors import ConflictError, InputError, SegmentError
from portrait.model.rules import And, IdListRef, Not, Or, Rule, RuleDocument, SegmentRef
from portrait.rules import parse_rule, print_rule
from portrait.store.metadata import MetadataStore
from portrait.store.segments import SnapshotRow

__all__ = [
    "KEEP_MEMBERS",
    "IdUploadReport",
    "Mode",
    "SegmentInfo",
    "Segments",
    "check_name",
]

Mode = Literal["dynamic", "static"]


@dataclass(frozen=True)
class SegmentInfo:
    name: str
    mode: str
    rule: str
    description: str
    created_at: dt.datetime
    updated_at: dt.datetime
    size: int | None
    profile_version: str | None
    as_of: str | None
    evaluated_at: dt.datetime | None
    references: list[str] = field(default_factory=list)
    dependents: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "mode": self.mode,
            "rule": self.rule,
            "description": self.description,
            "size": self.size,
            "profile_version": self.profile_version,
            "as_of": self.as_of,
            "evaluated_at": self.evaluated_at.isoformat() if self.evaluated_at else None,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "references": self.references,
            "dependents": self.dependents,
        }


def _version(text: str) -> dt.datetime:
    """A segment's version as callers send it back: its ``updated_at`` in ISO form."""
    try:
        return utc(dt.datetime.fromisoformat(text))
    except (TypeError, ValueError):
        raise InputError(
            f"{text!r} is not a segment version (the updated_at time it was loaded with)",
            where="expected_version",
        ) from None


def _changed(name: str, what: str) -> ConflictError:
    return ConflictError(
        f"segment '{name}' was {what} by someone else since you opened it; nothing was saved",
        hint="reload it and make your change again",
    )


class Segments:
    """The segment catalog of a workspace (``ws.segments``), with its ID lists."""

    def __init__(
        self,
        store: MetadataStore,
        selector: Callable[[], Selector],
        check: Callable[[Rule], object],
        user_ids: Callable[[], Any],
        unmatched_dir: Path,
    ):
        self.store = store
        self._selector = selector
        self._check = check
        self._id_lists = IdLists(store, user_ids, unmatched_dir)

    # -- reading ----------------------------------------------------------------------
    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.store.segment(name) is not None

    def __iter__(self) -> Iterator[str]:
        return iter([s["name"] for s in self.store.segments()])

    def __len__(self) -> int:
        return len(self.store.segments())

    def _row(self, name: str) -> dict[str, Any]:
        row = self.store.segment(name)
        if row is None:
            raise no_such_segment(name, self.store)
        return row

    def _info(self, row: dict[str, Any], used_by: list[str]) -> SegmentInfo:
        history = self.store.history(row["name"])
        last = history[-1] if history else None
        return SegmentInfo(
            name=row["name"],
            mode=row["mode"],
            rule=row["rule_text"],
            description=row["description"] or "",
            created_at=utc(row["created_at"]),
            updated_at=utc(row["updated_at"]),
            size=last.size if last else None,
            profile_version=last.profile_version if last else None,
            as_of=last.as_of if last else None,
            evaluated_at=last.evaluated_at if last else None,
            references=segment_references(row),
            dependents=used_by,
        )

    def __getitem__(self, name: str) -> SegmentInfo:
        row = self._row(name)
        return self._info(row, dependents(self.store.segments()).get(name, []))

    def all(self) -> list[SegmentInfo]:
        rows = self.store.segments()
        deps = dependents(rows)
        return [self._info(r, deps.get(r["name"], [])) for r in rows]

    def history(self, name: str) -> list[SnapshotRow]:
        self._row(name)
        return self.store.history(name)

    def members(self, name: str) -> FrozenBitMap:
        """Current members: static segments' frozen members, dynamic ones' as of the live
        profile."""
        self._row(name)
        return FrozenBitMap(self._selector().segment_members(name))

    def containing(self, uids: Sequence[int | None]) -> list[list[str] | None]:
        """For each dense id, the names of the segments it is in (None stays None)."""
        every = self._selector().every_segment()
        return [
            None if uid is None else [name for name, members in every.items() if uid in members]
            for uid in uids
        ]

    def membership(
        self, uids: Sequence[int | None], names: Sequence[str]
    ) -> list[dict[str, bool] | None]:
        """For each dense id, whether it is in each of ``names`` (None stays None); an
        unknown segment name is an error."""
        every = self._selector().every_segment()
        for name in names:
            if name not in every:
                raise no_such_segment(name, self.store)
        return [
            None if uid is None else {name: uid in every[name] for name in names} for uid in uids
        ]

    def overlap(self, a: str, b: str) -> dict[str, Any]:
        """Sizes of A, B, A∩B, A∪B and the Jaccard index |A∩B| / |A∪B|."""
        return overlap_module.overlap(a, b, self.members(a), self.members(b))

    def sample(self, name: str, n: int, seed: int = 0) -> np.ndarray[Any, np.dtype[np.uint32]]:
        """``n`` members drawn without replacement, reproducibly for a seed (ascending ids)."""
        size = sample_size(n)
        return sample(self.members(name), size, seed)

    # -- writing ----------------------------------------------------------------------
    def create(
        self,
        name: str,
        rule: str | Rule,
        *,
        mode: str = "dynamic",
        description: str = "",
        replace: bool = False,
        expected_version: str | None = None,
    ) -> SegmentInfo:
        """Save ``rule`` as segment ``name`` and take its first snapshot.

        ``expected_version``: the ``updated_at`` (ISO text) of the segment as the caller
        loaded it; the segment is then replaced only if nobody changed it since (else
        :class:`~portrait.errors.ConflictError`, and nothing is written). The check and the
        change are one statement in the saving transaction."""
        name = check_name(name)
        if mode not in ("dynamic", "static"):
            raise SegmentError(f"mode must be 'dynamic' or 'static', not {mode!r}")
        expected = None if expected_version is None else _version(expected_version)
        parsed = parse_rule(rule) if isinstance(rule, str) else rule
        existing = self.store.segment(name)
        if expected is not None:
            if existing is None:
                raise _changed(name, "deleted")
            replace = True
        if existing is not None and not replace:
            raise SegmentError(
                f"a segment named '{name}' exists", hint="choose another name or --replace"
            )
        self._check(parsed)
        check_references(self.store, name, parsed)
        started = time.perf_counter()
        members = BitMap(self._selector().evaluate(parsed))
        seconds = time.perf_counter() - started
        document = RuleDocument(rule=parsed).model_dump_json()
        try:
            with self.store.transaction() as conn:
                if existing is not None:
                    changed = self.store.update_segment(
                        conn,
                        name,
                        expected_updated_at=expected,
                        mode=mode,
                        rule=document,
                        rule_text=print_rule(parsed),
                        description=description,
                    )
                    if not changed:  # rolled back: nothing of this save is kept
                        raise _changed(name, "changed")
                else:
                    self.store.insert_segment(
                        conn,
                        name=name,
                        mode=mode,
                        rule=document,
                        rule_text=print_rule(parsed),
                        description=description,
                    )
                record_snapshot(self.store, conn, self._selector().profile, name, members, seconds)
                self.store.bump(conn)
        except ConflictError:
            if name not in self:
                raise _changed(name, "deleted") from None
            raise
        except IntegrityError:
            if existing is None and self.store.segment(name) is not None:
                # another process saved this name after the check above: as if it had been first
                raise SegmentError(
                    f"a segment named '{name}' exists", hint="choose another name or --replace"
                ) from None
            raise
        return self[name]

    def combine(
        self,
        name: str,
        operation: str,
        names: list[str],
        *,
        mode: str = "dynamic",
        description: str = "",
        replace: bool = False,
    ) -> SegmentInfo:
        """A segment from set operations on segments: ``union`` / ``intersection`` of all,
        ``difference``: the first minus the others."""
        if len(names) < 2:
            raise SegmentError(f"{operation} needs at least two segments")
        refs: list[Rule] = [SegmentRef(name=n) for n in names]
        rule: Rule
        if operation == "union":
            rule = Or(items=refs)
        elif operation == "intersection":
            rule = And(items=refs)
        elif operation == "difference":
            rest: Rule = refs[1] if len(refs) == 2 else Or(items=refs[1:])
            rule = And(items=[refs[0], Not(item=rest)])
        else:
            raise SegmentError(f"unknown set operation {operation!r}")
        return self.create(name, rule, mode=mode, description=description, replace=replace)

    def create_from_ids(
        self,
        name: str,
        path: str | Path,
        *,
        column: str | None = None,
        description: str = "",
        unmatched_file: str | Path | None = None,
    ) -> tuple[SegmentInfo, IdUploadReport]:
        """Upload ``path`` as ID list ``name`` and save the static segment ``ids("name")``."""
        name = check_name(name)
        if self.store.segment(name) is not None:
            raise SegmentError(f"a segment named '{name}' exists", hint="choose another name")
        report = self.upload_ids(name, path, column=column, unmatched_file=unmatched_file)
        try:
            info = self.create(name, IdListRef(name=name), mode="static", description=description)
        except Exception:
            self._id_lists.discard(name)
            raise
        return info, report

    def refresh(self, name: str | None = None) -> list[SnapshotRow]:
        """Re-evaluate dynamic segments (one, or all in reference order) against the live
        profile; static segments keep their members. Returns the new snapshots."""
        return refresh_module.refresh(self.store, self._selector, self._check, name)

    def refresh_all(self) -> tuple[list[str], dict[str, str]]:
        """Re-evaluate every dynamic segment, each after the segments it refers to. A segment
        whose rule no longer fits (a tag was removed) is skipped and reported, the others go
        on. Returns (refreshed names, {name: problem})."""
        return refresh_module.refresh_all(self.store, self.refresh)

    def delete(self, name: str) -> None:
        """Delete a segment; refused while other segments refer to it."""
        self._row(name)
        users = dependents(self.store.segments()).get(name, [])
        if users:
            raise SegmentError(
                f"segment '{name}' is used by: {', '.join(users)}",
                hint="delete or change those segments first",
            )
        with self.store.transaction() as conn:
            self.store.delete_segment(conn, name)
            self.store.bump(conn)

    # -- ID lists (:mod:`portrait.audience.idlists`) ------------------------------------
    def upload_ids(
        self,
        name: str,
        path: str | Path,
        *,
        column: str | None = None,
        replace: bool = False,
        unmatched_file: str | Path | None = None,
    ) -> IdUploadReport:
        """Upload an ID list: ids matched to users; unmatched ids are written to a file."""
        return self._id_lists.upload(
            name, path, column=column, replace=replace, unmatched_file=unmatched_file
        )

    def id_lists(self) -> list[dict[str, Any]]:
        return self._id_lists.all()

    def delete_id_list(self, name: str) -> None:
        self._id_lists.delete(name)
