"""Saved segments (分群 / 人群包) and uploaded ID lists.

A segment is a named rule with a mode: **dynamic** segments are re-evaluated after every build,
**static** ones keep the members they had when created. Set operations on segments are rules
over ``segment(...)`` references; a segment from an ID file is the static rule ``ids("name")``.
Every evaluation is stored as a snapshot (size, profile version, as-of date, time).
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

from portrait.audience.idfile import match_ids, read_id_file
from portrait.audience.selector import Selector, no_such_segment
from portrait.errors import (
    InputError,
    NotFoundError,
    PortraitError,
    SegmentCycleError,
    SegmentError,
    suggest,
)
from portrait.index.bitmaps import bitmap_from_sorted
from portrait.model.rules import And, IdListRef, Not, Or, Rule, RuleDocument, SegmentRef
from portrait.rules import parse_rule, print_rule
from portrait.rules.validate import rule_references
from portrait.store.metadata import MetadataStore, SnapshotRow

Mode = Literal["dynamic", "static"]
KEEP_MEMBERS = 5
"""Snapshots per segment whose member lists are kept (older ones keep their size only)."""

_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-.")


def check_name(name: str, what: str = "segment") -> str:
    """Names are what users type in rules: letters, digits, ``_ - .``, up to 128 characters
    (any script: 高价值用户 is fine)."""
    text = name.strip()
    if not text or len(text) > 128 or '"' in text or "\\" in text:
        raise SegmentError(
            f"{what} name {name!r} is not usable",
            hint="1-128 characters without quotes or backslashes",
        )
    if any(c.isspace() for c in text) or any(
        not (c.lower() in _NAME_CHARS or not c.isascii()) for c in text
    ):
        raise SegmentError(
            f"{what} name {name!r} has characters rules cannot quote simply",
            hint="use letters, digits, '_', '-' or '.'",
        )
    if text.startswith(".") or text.endswith("."):
        # '.', '..' and hidden names are no single safe path segment (exports, uploads)
        raise SegmentError(
            f"{what} name {name!r} cannot start or end with '.'",
            hint="e.g. vip.2026 or vip_2026",
        )
    return text


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


@dataclass(frozen=True)
class IdUploadReport:
    name: str
    source: str
    rows: int
    matched: int
    unmatched: int
    duplicates: int
    header: str | None
    unmatched_file: str | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Segments:
    """The segment catalog of a workspace (``ws.segments``)."""

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
        self._user_ids = user_ids
        self._unmatched_dir = unmatched_dir

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

    def _dependents(self, rows: list[dict[str, Any]]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {r["name"]: [] for r in rows}
        for r in rows:
            for ref in sorted(rule_references(_rule(r))["segment"]):
                out.setdefault(ref, []).append(r["name"])
        return out

    def _info(self, row: dict[str, Any], dependents: list[str]) -> SegmentInfo:
        history = self.store.history(row["name"])
        last = history[-1] if history else None
        return SegmentInfo(
            name=row["name"],
            mode=row["mode"],
            rule=row["rule_text"],
            description=row["description"] or "",
            created_at=_utc(row["created_at"]),
            updated_at=_utc(row["updated_at"]),
            size=last.size if last else None,
            profile_version=last.profile_version if last else None,
            as_of=last.as_of if last else None,
            evaluated_at=last.evaluated_at if last else None,
            references=sorted(rule_references(_rule(row))["segment"]),
            dependents=dependents,
        )

    def __getitem__(self, name: str) -> SegmentInfo:
        row = self._row(name)
        return self._info(row, self._dependents(self.store.segments()).get(name, []))

    def all(self) -> list[SegmentInfo]:
        rows = self.store.segments()
        deps = self._dependents(rows)
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

    # -- writing ----------------------------------------------------------------------
    def _check_references(self, name: str, rule: Rule) -> None:
        refs = rule_references(rule)
        rows = {r["name"]: r for r in self.store.segments()}
        for ref in sorted(refs["segment"]):
            if ref not in rows:
                raise NotFoundError(
                    f"the rule refers to segment '{ref}', which does not exist",
                    hint=suggest(ref, rows) or "see portrait segment list",
                )
        lists = set(self.store.id_list_names())
        for ref in sorted(refs["ids"]):
            if ref not in lists:
                raise NotFoundError(
                    f"the rule refers to ID list '{ref}', which does not exist",
                    hint=suggest(ref, lists) or "upload it: portrait ids upload NAME FILE",
                )
        # A cycle: the new rule reaches `name` through the references of other segments.
        stack: list[tuple[str, tuple[str, ...]]] = [(r, (name, r)) for r in refs["segment"]]
        seen: set[str] = set()
        while stack:
            current, path = stack.pop()
            if current == name:
                raise SegmentCycleError(
                    "segments would reference each other in a circle: " + " → ".join(path)
                )
            if current in seen or current not in rows:
                continue
            seen.add(current)
            for nxt in rule_references(_rule(rows[current]))["segment"]:
                stack.append((nxt, (*path, nxt)))

    def _snapshot(self, conn: Any, name: str, members: BitMap, seconds: float) -> None:
        profile = self._selector().profile
        self.store.add_snapshot(
            conn,
            name,
            BitMap(members).serialize(),
            KEEP_MEMBERS,
            profile_version=profile.version,
            as_of=profile.as_of.isoformat() if profile.as_of else None,
            size=len(members),
            population=profile.population,
            seconds=seconds,
        )

    def create(
        self,
        name: str,
        rule: str | Rule,
        *,
        mode: str = "dynamic",
        description: str = "",
        replace: bool = False,
    ) -> SegmentInfo:
        """Save ``rule`` as segment ``name`` and take its first snapshot."""
        name = check_name(name)
        if mode not in ("dynamic", "static"):
            raise SegmentError(f"mode must be 'dynamic' or 'static', not {mode!r}")
        parsed = parse_rule(rule) if isinstance(rule, str) else rule
        existing = self.store.segment(name)
        if existing is not None and not replace:
            raise SegmentError(
                f"a segment named '{name}' exists", hint="choose another name or --replace"
            )
        self._check(parsed)
        self._check_references(name, parsed)
        started = time.perf_counter()
        members = BitMap(self._selector().evaluate(parsed))
        seconds = time.perf_counter() - started
        document = RuleDocument(rule=parsed).model_dump_json()
        try:
            with self.store.transaction() as conn:
                if existing is not None:
                    self.store.update_segment(
                        conn,
                        name,
                        mode=mode,
                        rule=document,
                        rule_text=print_rule(parsed),
                        description=description,
                    )
                else:
                    self.store.insert_segment(
                        conn,
                        name=name,
                        mode=mode,
                        rule=document,
                        rule_text=print_rule(parsed),
                        description=description,
                    )
                self._snapshot(conn, name, members, seconds)
                self.store.bump(conn)
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
        name = check_name(name, "ID list")
        source = Path(path)
        if self.store.id_list(name) is not None and not replace:
            raise SegmentError(
                f"an ID list named '{name}' exists", hint="choose another name or --replace"
            )
        ids = read_id_file(source, column)
        source = source.resolve()
        match = match_ids(ids.ids, self._user_ids())
        out: Path | None = None
        if match.unmatched:
            out = Path(unmatched_file) if unmatched_file else self._unmatched_dir / f"{name}.txt"
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = out.with_name(f".{out.name}.tmp")
            tmp.write_text("\n".join(match.unmatched) + "\n", encoding="utf-8")
            tmp.replace(out)
        with self.store.transaction() as conn:
            self.store.save_id_list(
                conn,
                name,
                source=str(source),
                rows=match.rows,
                matched=int(match.uids.size),
                unmatched=len(match.unmatched),
                duplicates=match.duplicates,
                members=bitmap_from_sorted(match.uids).serialize(),
            )
            self.store.bump(conn)
        return IdUploadReport(
            name=name,
            source=str(source),
            rows=match.rows,
            matched=int(match.uids.size),
            unmatched=len(match.unmatched),
            duplicates=match.duplicates,
            header=ids.header,
            unmatched_file=str(out) if out else None,
        )

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
            with self.store.transaction() as conn:
                self.store.delete_id_list(conn, name)
                self.store.bump(conn)
            raise
        return info, report

    def id_lists(self) -> list[dict[str, Any]]:
        out = []
        for list_name in self.store.id_list_names():
            row = self.store.id_list(list_name)
            assert row is not None
            row.pop("members")
            row["created_at"] = _utc(row["created_at"]).isoformat(timespec="seconds")
            out.append(row)
        return out

    def delete_id_list(self, name: str) -> None:
        if self.store.id_list(name) is None:
            raise NotFoundError(f"no ID list named '{name}'")
        users = [
            r["name"] for r in self.store.segments() if name in rule_references(_rule(r))["ids"]
        ]
        if users:
            raise SegmentError(
                f"ID list '{name}' is used by segments: {', '.join(users)}",
                hint="delete or change those segments first",
            )
        with self.store.transaction() as conn:
            self.store.delete_id_list(conn, name)
            self.store.bump(conn)

    def refresh(self, name: str | None = None) -> list[SnapshotRow]:
        """Re-evaluate dynamic segments (one, or all in reference order) against the live
        profile; static segments keep their members. Returns the new snapshots."""
        rows = self.store.segments()
        if name is not None:
            self._row(name)
        order = _reference_order(rows)
        targets = [n for n in order if name is None or n == name]
        selector = self._selector()
        done: list[SnapshotRow] = []
        for target in targets:
            row = next(r for r in rows if r["name"] == target)
            if row["mode"] != "dynamic":
                continue
            rule = _rule(row)
            self._check(rule)  # a tag may have been removed since the segment was saved
            started = time.perf_counter()
            members = BitMap(selector.evaluate(rule, resolving=(target,)))
            seconds = time.perf_counter() - started
            with self.store.transaction() as conn:
                self._snapshot(conn, target, members, seconds)
                self.store.bump(conn)
            done.append(self.store.history(target)[-1])
        return done

    def refresh_all(self) -> tuple[list[str], dict[str, str]]:
        """Re-evaluate every dynamic segment, each after the segments it refers to. A segment
        whose rule no longer fits (a tag was removed) is skipped and reported, the others go
        on. Returns (refreshed names, {name: problem})."""
        refreshed: list[str] = []
        failed: dict[str, str] = {}
        for name in _reference_order(self.store.segments()):
            try:
                if self.refresh(name):
                    refreshed.append(name)
            except PortraitError as exc:
                failed[name] = str(exc)
        return refreshed, failed

    def delete(self, name: str) -> None:
        """Delete a segment; refused while other segments refer to it."""
        self._row(name)
        dependents = self._dependents(self.store.segments()).get(name, [])
        if dependents:
            raise SegmentError(
                f"segment '{name}' is used by: {', '.join(dependents)}",
                hint="delete or change those segments first",
            )
        with self.store.transaction() as conn:
            self.store.delete_segment(conn, name)
            self.store.bump(conn)

    def overlap(self, a: str, b: str) -> dict[str, Any]:
        """Sizes of A, B, A∩B, A∪B and the Jaccard index |A∩B| / |A∪B|."""
        ma, mb = self.members(a), self.members(b)
        both = ma.intersection_cardinality(mb)
        either = ma.union_cardinality(mb)
        return {
            "a": a,
            "b": b,
            "size_a": len(ma),
            "size_b": len(mb),
            "intersection": both,
            "union": either,
            "jaccard": both / either if either else 0.0,
            "a_only": len(ma) - both,
            "b_only": len(mb) - both,
        }

    def sample(self, name: str, n: int, seed: int = 0) -> np.ndarray[Any, np.dtype[np.uint32]]:
        """``n`` members drawn without replacement, reproducibly for a seed (ascending ids)."""
        if n < 0:
            raise InputError("the sample size cannot be negative")
        members = np.asarray(self.members(name).to_array(), dtype=np.uint32)
        if n >= members.size:
            return members
        rng = np.random.default_rng(seed)
        return np.sort(members[rng.choice(members.size, size=n, replace=False)])


def _utc(moment: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes; they were written in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _rule(row: dict[str, Any]) -> Rule:
    return RuleDocument.model_validate_json(row["rule"]).rule


def _reference_order(rows: list[dict[str, Any]]) -> list[str]:
    """Segment names with every segment after the segments it refers to."""
    refs = {r["name"]: rule_references(_rule(r))["segment"] for r in rows}
    order: list[str] = []
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in done or name not in refs:
            return
        if name in path:
            raise SegmentCycleError("segments reference each other: " + " → ".join((*path, name)))
        for ref in sorted(refs[name]):
            visit(ref, (*path, name))
        done.add(name)
        order.append(name)

    for name in sorted(refs):
        visit(name, ())
    return order
