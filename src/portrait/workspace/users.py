"""``ws.users``: user-level data — the profile, one user's 360 view and the personalisation
lookups. Every read needs ``users:read`` (unmasked personal data ``pii:unmasked``) and is
audited with who asked."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from portrait.errors import NotFoundError
from portrait.model.access import Caller

if TYPE_CHECKING:
    import pyarrow as pa

    from portrait.workspace.root import Workspace


class UserService:
    def __init__(self, ws: Workspace):
        self._ws = ws

    def profile(
        self,
        columns: list[str] | None = None,
        *,
        unmask: bool = False,
        caller: Caller | None = None,
    ) -> pa.Table:
        """The built profile as an Arrow table: ``user_id`` first, then one column per tag.

        Tags marked ``pii: true`` are masked (``138****5678``) unless ``unmask=True``."""
        import pyarrow.parquet as pq

        ws = self._ws
        who = ws.access.user_level(caller, unmask, "the profile")
        snap = ws.built
        names = list(snap.tags) if columns is None else list(columns)
        unknown = [c for c in names if c not in snap.tags]
        if unknown:
            raise NotFoundError(
                f"no built tag named '{unknown[0]}'", hint="see 'portrait tags list'"
            )
        table = pq.read_table(snap.profile_file, columns=["user_id", *names])
        ws.access.record(who, "profile:read" + (":unmasked" if unmask else ""), "", table.num_rows)
        return ws.access.masker(names, unmask)(table)

    def export_profile(
        self,
        output: str | os.PathLike[str],
        columns: list[str] | None = None,
        *,
        unmask: bool = False,
        caller: Caller | None = None,
    ) -> int:
        """Write the profile to a .parquet or .csv file (lists joined with ``|`` in CSV),
        streamed row group by row group; PII masked unless ``unmask``; audited."""
        from pyroaring import FrozenBitMap

        from portrait.audience.export import export_members, output_format

        ws = self._ws
        who = ws.access.user_level(caller, unmask, "the profile")
        snap = ws.built
        names = ws.audiences.check_columns(list(snap.tags) if columns is None else columns)
        out = Path(output)
        output_format(out)
        everyone = FrozenBitMap(range(snap.users))
        rows = export_members(
            snap.profile_file, everyone, out, names, ws.access.masker(names, unmask)
        )
        ws.access.record(who, "profile:export" + (":unmasked" if unmask else ""), "", rows)
        return rows

    def user_ids_of(self, uids: Sequence[int]) -> list[str]:
        """The user ids of dense ids (profile rows)."""
        return self._ws.user_index().user_ids(uids)

    def uid_of(self, user_id: str) -> int:
        """The dense id of a user (its profile row); an unknown id is an error."""
        (found,) = self._ws.user_index().find([user_id])
        if found is None:
            raise NotFoundError(f"no user with id '{user_id}'", hint="ids are the users' user_id")
        return found

    def segments_of(self, user_id: str, caller: Caller | None = None) -> list[str]:
        """For personalisation: the names of the saved segments a user is in now; audited."""
        ws = self._ws
        who = ws.access.user_level(caller, False, "a user's segments")
        uid = self.uid_of(user_id)
        names: list[str] = []
        if ws.has_metadata():
            (found,) = ws.segments.containing([uid])
            names = found or []
        ws.access.record(who, "user:segments", user_id, 1)
        return names

    def membership(
        self, user_ids: Sequence[str], segments: Sequence[str], caller: Caller | None = None
    ) -> dict[str, dict[str, bool] | None]:
        """For personalisation: which of ``segments`` each user is in (None for an unknown
        user id). Unknown segment names are an error. Audited."""
        ws = self._ws
        who = ws.access.user_level(caller, False, "segment membership")
        uids = ws.user_index().find(user_ids)
        rows = ws.segments.membership(uids, segments)
        ws.access.record(who, "membership", ",".join(segments), len(user_ids))
        return {str(u): row for u, row in zip(user_ids, rows, strict=True)}

    def user(
        self,
        user_id: str,
        *,
        events: int = 20,
        unmask: bool = False,
        caller: Caller | None = None,
    ) -> dict[str, Any]:
        """One user's 360 view: tag values grouped by category (PII masked unless ``unmask``),
        the segments it is in, its campaigns (group, delivery state, responses), its latest
        ``events`` events and an orders summary, all of one profile version (a build
        finishing meanwhile does not mix two); audited."""
        ws = self._ws
        who = ws.access.user_level(caller, unmask, "a user's profile")
        with ws.pinned():
            view = self._view(user_id, events, unmask)
        ws.access.record(who, "user:read" + (":unmasked" if unmask else ""), user_id, 1)
        return view

    def _view(self, user_id: str, events: int, unmask: bool) -> dict[str, Any]:
        import numpy as np

        from portrait.analysis.user360 import by_category, orders_summary, recent_events
        from portrait.index.rows import take_rows
        from portrait.store.tagfiles import load_tag_files

        ws = self._ws
        snap = ws.built
        found = self.uid_of(user_id)
        names = list(snap.tags)
        row = ws.access.masker(names, unmask)(
            take_rows(snap.profile_file, np.array([found]), ["user_id", *names])
        ).to_pylist()[0]
        definitions = load_tag_files(ws.layout.tags_dir)
        titles = {n: definitions[n].title for n in names if n in definitions}
        segments: list[str] = []
        history: list[dict[str, Any]] = []
        if ws.has_metadata():
            segments = ws.segments.containing([found])[0] or []
            history = ws.campaigns().history(int(found))
        warehouse = ws.built_warehouse()
        with ws.engine() as engine:
            latest = recent_events(engine, warehouse.files("events"), str(user_id), events)
            orders = orders_summary(engine, warehouse.files("orders"), str(user_id))
        return {
            "user_id": str(user_id),
            "uid": int(found),
            "as_of": snap.as_of.isoformat() if snap.as_of else None,
            "tags": by_category(row, snap.tags, titles),
            "segments": segments,
            "orders": orders,
            "events": latest,
            "campaigns": history,
        }
