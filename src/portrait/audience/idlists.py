"""Uploaded ID lists: a file of external user ids matched to users and stored as a bitmap,
for rules to refer to as ``ids("name")``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from portrait.audience.idfile import match_ids, read_id_file
from portrait.audience.names import check_name
from portrait.audience.references import id_list_users
from portrait.audience.stored import utc
from portrait.errors import NotFoundError, SegmentError
from portrait.index.bitmaps import bitmap_from_sorted
from portrait.store.metadata import MetadataStore


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


class IdLists:
    """The ID lists of a workspace (through ``ws.segments``: ``upload_ids``, ``id_lists``,
    ``delete_id_list``)."""

    def __init__(self, store: MetadataStore, user_ids: Callable[[], Any], unmatched_dir: Path):
        self.store = store
        self._user_ids = user_ids
        self._unmatched_dir = unmatched_dir

    def upload(
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

    def all(self) -> list[dict[str, Any]]:
        """Every ID list's row (without its members), created_at as ISO text."""
        out = []
        for list_name in self.store.id_list_names():
            row = self.store.id_list(list_name)
            assert row is not None
            row.pop("members")
            row["created_at"] = utc(row["created_at"]).isoformat(timespec="seconds")
            out.append(row)
        return out

    def delete(self, name: str) -> None:
        """Delete an ID list; refused while segments refer to it."""
        if self.store.id_list(name) is None:
            raise NotFoundError(f"no ID list named '{name}'")
        users = id_list_users(self.store.segments(), name)
        if users:
            raise SegmentError(
                f"ID list '{name}' is used by segments: {', '.join(users)}",
                hint="delete or change those segments first",
            )
        self.discard(name)

    def discard(self, name: str) -> None:
        """Delete an ID list without looking for segments that use it (undoing an upload)."""
        with self.store.transaction() as conn:
            self.store.delete_id_list(conn, name)
            self.store.bump(conn)
