"""Experiments run elsewhere: an A/B test whose assignment another system made (an SMS
vendor, an ad platform, a CMS that splits traffic itself), loaded so that Portrait's report
analyses it like one of its own campaigns.

- **Assignments** (CSV, JSON lines or Parquet): ``user_id``, ``group`` and optionally ``ts``
  (when the user was assigned or sent to; ISO 8601, UTC without an offset). Each user is in
  one group; the same row twice counts once. Every user must be a user of the workspace (the
  report reads their orders and events, and CUPED their past).
- **Outcomes** (optional), one of two shapes:

  - events: ``user_id``, ``response`` (delivered, opened, clicked, converted), ``ts`` and an
    optional ``revenue``, as ``portrait campaign responses`` takes them;
  - a table per user: ``user_id`` and any of ``clicked``, ``converted`` (0/1, true/false) and
    ``revenue``; they are stored as responses at the user's assignment time.

  Outcomes of users never assigned are an error; the control's clicks and conversions are
  kept as organic; a control user cannot have been delivered or opened anything.
- **Weights**: the planned split (``control=10,A=45,B=45``, percentages adding up to 100);
  the sample-ratio check tests the assignments against it.

The campaign is stored completed with one run, its delivery records (variants ``sent``, the
control ``control``) and the responses, in one transaction: a failed import stores nothing.
The workspace's orders (and ``conversion_event``) after each assignment count as conversions
too, within the attribution window.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import pyarrow as pa
from pydantic import ValidationError

from portrait.campaigns.lifecycle import Lifecycle
from portrait.errors import InputError
from portrait.model.campaigns import (
    CONTROL_GROUP,
    RESPONSES,
    CampaignSpec,
    CampaignState,
    DeliveryState,
    RunState,
)
from portrait.store.campaigns import CampaignRepository

IMPORTED_CHANNEL = "imported"
_TRUE = {"1", "true", "yes", "y", "t"}
_FALSE = {"0", "false", "no", "n", "f", ""}
_SHOWN = 3  # problems named in a message
_TEXT_COLUMNS = ("user_id", "group", "ts", "response", "clicked", "converted", "campaign")


def parse_weights(text: str) -> dict[str, float]:
    """``control=10,A=45,B=45`` as a mapping; errors name the part that is wrong."""
    weights: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or not name:
            raise InputError(f"'{part}' is not GROUP=PERCENT", where="--weights")
        try:
            weight = float(value)
        except ValueError:
            raise InputError(
                f"'{value.strip()}' is not a number", where=f"--weights {name}"
            ) from None
        if name in weights:
            raise InputError(f"group '{name}' is given twice", where="--weights")
        weights[name] = weight
    if not weights:
        raise InputError("no groups given", where="--weights", hint="e.g. control=10,A=45,B=45")
    return weights


def read_table(source: Path | pa.Table, what: str) -> tuple[pa.Table, str]:
    """A CSV, JSON lines or Parquet file (or an Arrow table) with every column as text or
    as stored; its label for messages."""
    if isinstance(source, pa.Table):
        return source, what
    path = Path(source)
    if not path.is_file():
        raise InputError(f"no such file: {path}", where=what)
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            from pyarrow import csv

            text = {c: pa.string() for c in _TEXT_COLUMNS}
            options = csv.ConvertOptions(column_types=text)
            return csv.read_csv(path, convert_options=options), str(path)
        if suffix in (".jsonl", ".ndjson", ".json"):
            from pyarrow import json

            return json.read_json(path), str(path)
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            return pq.read_table(path), str(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"cannot read the {what}: {exc}", where=str(path)) from None
    raise InputError(
        f"unknown file type '{path.suffix}'", where=str(path), hint="use .csv, .jsonl or .parquet"
    )


def _problems(label: str, found: list[str], what: str, hint: str | None = None) -> InputError:
    shown = "; ".join(found[:_SHOWN]) + ("; …" if len(found) > _SHOWN else "")
    count = f"{len(found)} {what}" if len(found) > 1 else what
    return InputError(f"{count}: {shown}", where=label, hint=hint)


def _time(value: Any) -> dt.datetime:
    moment = (
        value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value).strip())
    )
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _flag(value: Any) -> bool | None:
    """0/1, true/false (and empty as false); None when it is neither."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return None if value not in (0, 1) else bool(value)
    text = _text(value).lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return None


class _Times:
    """Times parsed once per distinct text (an import's rows share a few); None for text that
    is not a time, ``default`` for none given."""

    def __init__(self, default: dt.datetime | None):
        self.default = default
        self.known: dict[Any, dt.datetime | None] = {}

    def parse(self, value: Any) -> dt.datetime | None:
        if value is None or (isinstance(value, str) and not value.strip()):
            return self.default
        if value not in self.known:
            try:
                self.known[value] = _time(value)
            except (TypeError, ValueError):
                self.known[value] = None
        return self.known[value]


class Assigned(NamedTuple):  # a tuple: a million of them are made in a second
    uid: int
    user_id: str
    group: str
    at: dt.datetime


def read_assignments(
    table: pa.Table,
    label: str,
    groups: Sequence[str],
    find_users: Callable[[Sequence[str]], Sequence[int | None]],
    default_time: dt.datetime,
) -> tuple[list[Assigned], int]:
    """The assignments (checked) and how many rows repeated one already read."""
    missing = [c for c in ("user_id", "group") if c not in table.column_names]
    if missing:
        raise InputError(
            f"the assignments need the column '{missing[0]}'",
            where=label,
            hint="columns: user_id, group and optionally ts",
        )
    has_time = "ts" in table.column_names
    seen: dict[str, tuple[str, int, dt.datetime]] = {}
    problems: list[str] = []
    twice: list[str] = []
    repeated = 0
    known = set(groups)
    times = _Times(default_time)
    # a column at a time, each value made text once: a million rows in a second or two
    users = [_text(u) for u in table.column("user_id").to_pylist()]
    chosen = [_text(g) for g in table.column("group").to_pylist()]
    stamps = table.column("ts").to_pylist() if has_time else [None] * len(users)
    for line, (user, group, stamp) in enumerate(zip(users, chosen, stamps, strict=True), 1):
        if not user or not group:
            problems.append(f"row {line}: no {'user_id' if not user else 'group'}")
            continue
        if group not in known:
            problems.append(
                f"row {line}: unknown group '{group}' (the plan has {', '.join(groups)})"
            )
            continue
        at = times.parse(stamp)
        if at is None:
            problems.append(f"row {line}: '{stamp}' is not a time (ISO 8601)")
            continue
        before = seen.get(user)
        if before is not None:
            if before[0] == group:
                repeated += 1
            else:
                twice.append(f"'{user}' in {before[0]} (row {before[1]}) and {group} (row {line})")
            continue
        seen[user] = (group, line, at)
    if problems:
        raise _problems(label, problems, "bad rows", "fix the rows and import again")
    if twice:
        raise _problems(
            label, twice, "users in two groups", "each user must be in exactly one group"
        )
    if not seen:
        raise InputError("the assignments hold no user", where=label)
    users = list(seen)
    uids = find_users(users)
    unknown = [
        f"'{u}' (row {seen[u][1]})" for u, uid in zip(users, uids, strict=True) if uid is None
    ]
    if unknown:
        raise _problems(
            label,
            unknown,
            "users not in this workspace",
            "load the users first (portrait load users FILE)",
        )
    empty = [g for g in groups if g not in {group for group, _, _ in seen.values()}]
    if empty:
        raise InputError(
            f"group '{empty[0]}' of the plan has no assigned user",
            where=label,
            hint="leave it out of --weights if it did not run",
        )
    assigned = [
        Assigned(int(uid), u, seen[u][0], seen[u][2])
        for u, uid in zip(users, uids, strict=True)
        if uid is not None
    ]
    return assigned, repeated


class Outcome(NamedTuple):
    uid: int
    response: str
    at: dt.datetime
    revenue: float | None


def read_outcomes(table: pa.Table, label: str, assigned: Mapping[str, Assigned]) -> list[Outcome]:
    """The outcomes (events or a table per user; see the module docstring), checked."""
    columns = set(table.column_names)
    if "user_id" not in columns:
        raise InputError("the outcomes need the column 'user_id'", where=label)
    per_event = "response" in columns
    if not per_event and not columns & {"clicked", "converted", "revenue"}:
        raise InputError(
            "the outcomes need 'response' and 'ts' (events) or clicked / converted / revenue "
            "(a row per user)",
            where=label,
        )
    if per_event and "ts" not in columns:
        raise InputError("outcome events need the column 'ts'", where=label)
    problems: list[str] = []
    never: list[str] = []
    found: list[Outcome] = []
    rows = table.num_rows

    def column(name: str) -> list[Any]:
        return table.column(name).to_pylist() if name in columns else [None] * rows

    users, amounts, answers, stamps = (column(c) for c in ("user_id", "revenue", "response", "ts"))
    flag_columns = [c for c in ("clicked", "converted") if c in columns]
    flag_values = {c: column(c) for c in flag_columns}
    flags_of: dict[Any, bool | None] = {}
    amount_of: dict[Any, float] = {}
    times = _Times(None)  # an event needs its time
    for index, raw_user in enumerate(users):
        line = index + 1
        user = _text(raw_user)
        target = assigned.get(user)
        if target is None:
            never.append(f"'{user}' (row {line})")
            continue
        revenue: float | None = None
        raw = amounts[index]
        if raw is not None and (not isinstance(raw, str) or raw.strip()):
            if raw not in amount_of:
                try:
                    amount_of[raw] = float(raw)
                except (TypeError, ValueError):
                    amount_of[raw] = math.nan
            revenue = amount_of[raw]
            if math.isnan(revenue) or revenue < 0:
                problems.append(f"row {line}, column revenue: '{raw}' is not an amount ≥ 0")
                continue
        if per_event:
            response = _text(answers[index]).lower()
            if response not in RESPONSES:
                problems.append(f"row {line}: unknown response '{answers[index]}'")
                continue
            if target.group == CONTROL_GROUP and response not in ("clicked", "converted"):
                problems.append(
                    f"row {line}: '{user}' is in the control, which was sent nothing: it "
                    f"cannot be {response}"
                )
                continue
            at = times.parse(stamps[index])
            if at is None:
                problems.append(f"row {line}: '{stamps[index]}' is not a time (ISO 8601)")
                continue
            found.append(Outcome(target.uid, response, at, revenue))
            continue
        flags = {}
        for name in flag_columns:
            value = flag_values[name][index]
            if value not in flags_of:
                flags_of[value] = _flag(value)
            flag = flags_of[value]
            if flag is None:
                problems.append(f"row {line}, column {name}: '{value}' is not 0/1 or true/false")
            flags[name] = flag
        if any(v is None for v in flags.values()):
            continue
        if flags.get("clicked"):
            found.append(Outcome(target.uid, "clicked", target.at, None))
        if flags.get("converted") or (revenue or 0) > 0:
            found.append(Outcome(target.uid, "converted", target.at, revenue))
    if never:
        raise _problems(
            label,
            never,
            "outcomes of users never assigned",
            "every user must be in the assignments",
        )
    if problems:
        raise _problems(label, problems, "bad rows", "fix the rows and import again")
    return found


def imported_spec(
    name: str,
    weights: Mapping[str, float],
    *,
    attribution_days: int,
    conversion_event: str | None,
    metrics: Sequence[str],
    description: str,
) -> CampaignSpec:
    """The campaign an import stores; a bad plan is an error naming ``--weights``."""
    variants = [{"name": g, "weight": w} for g, w in weights.items() if g != CONTROL_GROUP]
    data = {
        "name": name,
        "audience": "imported",
        "channel": IMPORTED_CHANNEL,
        "variants": variants,
        "control": weights.get(CONTROL_GROUP, 0.0),
        "attribution_days": attribution_days,
        "conversion_event": conversion_event,
        "metrics": list(metrics),
        "imported": True,
        "description": description,
    }
    try:
        return CampaignSpec.model_validate(data)
    except ValidationError as exc:
        problem = exc.errors()[0]
        location = ".".join(str(p) for p in problem["loc"])
        message = str(problem["msg"]).removeprefix("Value error, ")
        where = (
            "--weights"
            if location in ("", "variants", "control") or "weight" in location
            else location
        )
        raise InputError(message, where=where) from None


def store_import(
    repo: CampaignRepository,
    states: Lifecycle,
    spec: CampaignSpec,
    assigned: Sequence[Assigned],
    outcomes: Sequence[Outcome],
    *,
    started_at: dt.datetime,
    profile_version: str,
    as_of: str | None,
    replace: bool,
) -> int:
    """Store the imported experiment in one transaction; the run's number."""
    name = spec.name
    with repo.transaction() as tx:
        existing = tx.campaign(name)
        if existing is not None:
            was_imported = CampaignSpec.model_validate_json(existing.spec).imported
            if not (replace and was_imported):
                raise InputError(
                    f"campaign '{name}' already exists ({existing.state})",
                    hint="pick another name"
                    + (", or --replace the imported one" if was_imported else ""),
                )
            tx.delete_campaign_data(name)
        if not tx.insert_campaign(
            name, spec.model_dump_json(), CampaignState.COMPLETED, started_at
        ):
            raise InputError(f"campaign '{name}' was just stored by someone else")
        ordered = sorted(assigned, key=lambda a: a.uid)
        run = tx.start_run(
            name,
            IMPORTED_CHANNEL,
            started_at=started_at,
            profile_version=profile_version,
            as_of=as_of,
            batch_size=0,
            uids=[a.uid for a in ordered],
            user_ids=[a.user_id for a in ordered],
            groups=[a.group for a in ordered],
            states=[
                (DeliveryState.CONTROL if a.group == CONTROL_GROUP else DeliveryState.SENT).value
                for a in ordered
            ],
            reasons=[None] * len(ordered),
            sent_at=[None if a.group == CONTROL_GROUP else a.at for a in ordered],
        )
        tx.finish_run(name, run, RunState.COMPLETED.value, started_at)
        tx.add_responses(
            [
                {
                    "campaign": name,
                    "uid": o.uid,
                    "response": o.response,
                    "at": o.at,
                    "run": run,
                    "revenue": o.revenue,
                }
                for o in outcomes
            ]
        )
        states.record(
            tx,
            name,
            "replace" if existing is not None else "import",
            None,
            CampaignState.COMPLETED,
            f"{len(assigned)} users, {len(outcomes)} outcomes",
        )
    return run
