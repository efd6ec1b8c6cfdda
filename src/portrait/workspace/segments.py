"""``ws.audiences.segments``: saved segments as a caller sees them and changes them.

Sizes and size histories are released under disclosure control, values compared with
personal-data tags are masked in rule texts below the permission to see them, members are
user-level data, and every change and every read of members is audited. The segment store
itself is ``ws.segments`` (:class:`portrait.audience.segments.Segments`).
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import TYPE_CHECKING, Any

from portrait.errors import InputError
from portrait.model.access import Caller
from portrait.rules import parse_rule, print_rule
from portrait.rules.validate import rule_tags

if TYPE_CHECKING:
    from portrait.audience.segments import IdUploadReport
    from portrait.workspace.root import Workspace

MAX_PAGE = 10_000
"""Members per page at most."""


class SegmentService:
    def __init__(self, ws: Workspace):
        self._ws = ws

    # -- reading -----------------------------------------------------------------------------
    def info(self, name: str, caller: Caller | None = None) -> dict[str, Any]:
        """A saved segment's definition and latest size, as ``caller`` may see them: under
        disclosure control the size is released (noisy, small ones suppressed) and, below
        the permission to see personal data, values compared with pii tags are masked."""
        return self._shown(self._ws.segments[name].to_dict(), self._ws.who(caller))

    def all(self, caller: Caller | None = None) -> list[dict[str, Any]]:
        """Every saved segment (see :meth:`info`)."""
        if not self._ws.has_metadata():
            return []
        who = self._ws.who(caller)
        return [self._shown(s.to_dict(), who) for s in self._ws.segments.all()]

    def history(self, name: str, caller: Caller | None = None) -> list[dict[str, Any]]:
        """A segment's size at each evaluation (sizes released as in :meth:`info`)."""
        from portrait.access import releases

        rows = self._ws.segments.history(name)
        return releases.segment_history(self._ws.access.disclosure, self._ws.who(caller), rows)

    def overlap(self, a: str, b: str, caller: Caller | None = None) -> dict[str, Any]:
        """Sizes of A, B, A∩B, A∪B, A only, B only and the Jaccard index, every one computed
        from released counts under disclosure control."""
        from portrait.access import releases

        segments = self._ws.segments
        exact = segments.overlap(a, b)
        who = self._ws.who(caller)
        disclosure = self._ws.access.disclosure
        if not disclosure.controlled(who):
            return exact
        return releases.overlap(disclosure, who, exact, segments.members(a), segments.members(b))

    def members_page(
        self, name: str, cursor: int = -1, limit: int = 1000, caller: Caller | None = None
    ) -> dict[str, Any]:
        """Members' user ids in dense-id order, ``limit`` at a time after ``cursor`` (-1: the
        first page; then the ``next_cursor`` returned, None after the last page); audited."""
        ws = self._ws
        who = ws.access.user_level(caller, False, "a segment's members")
        if not 1 <= limit <= MAX_PAGE:
            raise InputError(f"limit is 1 to {MAX_PAGE:,}", where="limit")
        if not -1 <= cursor < 2**32 - 1:
            raise InputError(
                "cursor is -1 (the first page) or a next_cursor this route returned",
                where="cursor",
            )
        members = ws.segments.members(name)
        page = list(itertools.islice(members.iter_equal_or_larger(cursor + 1), limit))
        ids = ws.users.user_ids_of(page)
        ws.access.record(who, "segment:members", name, len(page))
        return {"user_ids": ids, "next_cursor": page[-1] if len(page) == limit else None}

    def _shown(self, info: dict[str, Any], caller: Caller) -> dict[str, Any]:
        from portrait.access import releases
        from portrait.access.disclosure import mask_rule_literals

        ws = self._ws
        if not caller.sees_pii:
            rule = parse_rule(info["rule"])
            pii = ws.catalog.pii_tags() & rule_tags(rule)
            if pii:
                info["rule"] = print_rule(mask_rule_literals(rule, pii))
        disclosure = ws.access.disclosure
        if disclosure.controlled(caller) and info.get("size") is not None:
            last = ws.segments.history(info["name"])[-1]
            size = releases.segment_size(disclosure, caller, last.id, int(info["size"]))
            info.update(size=size, suppressed=size is None)
        return info

    # -- changing ----------------------------------------------------------------------------
    def create(
        self,
        name: str,
        rule: str,
        *,
        mode: str = "dynamic",
        description: str = "",
        replace: bool = False,
        expected_version: str | None = None,
        caller: Caller | None = None,
    ) -> dict[str, Any]:
        """Save a segment from a rule checked for ``caller`` (``replace`` one of the same
        name); audited. Returns it as :meth:`info` shows it.

        ``expected_version``: the segment's ``updated_at`` as the caller loaded it, to
        replace it only if nobody changed it since (else :class:`ConflictError`, nothing
        saved): an edit form's guard against overwriting another person's save."""
        ws = self._ws
        who = ws.access.permit(caller, "segments:write", "save segments")
        ws.audiences.check_rule(rule, who)
        info = ws.segments.create(
            name,
            rule,
            mode=mode,
            description=description,
            replace=replace,
            expected_version=expected_version,
        )
        ws.access.record(who, "segment:create", info.name, info.size or 0)
        return self._shown(info.to_dict(), who)

    def combine(
        self,
        name: str,
        operation: str,
        names: list[str],
        *,
        mode: str = "dynamic",
        description: str = "",
        replace: bool = False,
        caller: Caller | None = None,
    ) -> dict[str, Any]:
        """Save a segment as the ``union``, ``intersection`` or ``difference`` of saved
        segments; audited."""
        ws = self._ws
        who = ws.access.permit(caller, "segments:write", "save segments")
        info = ws.segments.combine(
            name, operation, names, mode=mode, description=description, replace=replace
        )
        ws.access.record(who, "segment:create", info.name, info.size or 0)
        return self._shown(info.to_dict(), who)

    def create_from_ids(
        self,
        name: str,
        path: str | Path,
        *,
        column: str | None = None,
        description: str = "",
        unmatched_file: str | Path | None = None,
        caller: Caller | None = None,
    ) -> tuple[dict[str, Any], IdUploadReport]:
        """Save a static segment of the users an ID file names; audited."""
        ws = self._ws
        who = ws.access.permit(caller, "segments:write", "save segments")
        info, report = ws.segments.create_from_ids(
            name, path, column=column, description=description, unmatched_file=unmatched_file
        )
        ws.access.record(who, "segment:create", info.name, info.size or 0)
        return self._shown(info.to_dict(), who), report

    def refresh(self, name: str | None = None, caller: Caller | None = None) -> list[Any]:
        """Evaluate a dynamic segment (or all, each after those it refers to) again now;
        each audited. Returns the new snapshots."""
        ws = self._ws
        who = ws.access.permit(caller, "segments:write", "refresh segments")
        snapshots = ws.segments.refresh(name)
        for snap in snapshots:
            ws.access.record(who, "segment:refresh", snap.segment, snap.size)
        return snapshots

    def delete(self, name: str, caller: Caller | None = None) -> None:
        """Delete a segment (refused while others refer to it); audited."""
        ws = self._ws
        who = ws.access.permit(caller, "segments:write", "delete segments")
        ws.segments.delete(name)
        ws.access.record(who, "segment:delete", name, 0)

    def upload_ids(
        self,
        name: str,
        path: str | Path,
        *,
        column: str | None = None,
        replace: bool = False,
        unmatched_file: str | Path | None = None,
        caller: Caller | None = None,
    ) -> IdUploadReport:
        """Upload an ID list (one id a line, or a CSV column); audited."""
        ws = self._ws
        who = ws.access.permit(caller, "segments:write", "upload ID lists")
        report = ws.segments.upload_ids(
            name, path, column=column, replace=replace, unmatched_file=unmatched_file
        )
        ws.access.record(who, "ids:upload", name, report.matched)
        return report

    def delete_id_list(self, name: str, caller: Caller | None = None) -> None:
        """Delete an ID list (refused while segments refer to it); audited."""
        ws = self._ws
        who = ws.access.permit(caller, "segments:write", "delete ID lists")
        ws.segments.delete_id_list(name)
        ws.access.record(who, "ids:delete", name, 0)
