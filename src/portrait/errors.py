"""The exception hierarchy: every error Portrait raises is written for the person who reads it.

Each error says what was wrong, where (file, row, column, tag, field, rule position), and what
to do. Every class carries, once, how each surface reports it:

- ``code``: a stable machine-readable name (the HTTP API's ``error.code``);
- ``exit_code``: the CLI's exit status (2 for bad input, 1 for failures), printed without a
  traceback;
- ``http_status``: the HTTP API's status.

:func:`suggest` writes every "did you mean …?" hint.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any, Literal


def suggest(name: str, candidates: Iterable[str], *, cutoff: float = 0.5) -> str | None:
    """'did you mean …?' text naming the (up to three) candidates closest to ``name``, or None.

    The cutoff is low enough for two-character names (``北经`` finds ``北京``).

    ``candidates`` must never hold personal data: callers pass tag, event, column and value
    names that any role may see."""
    close = difflib.get_close_matches(name, list(candidates), n=3, cutoff=cutoff)
    return "did you mean " + " or ".join(f"'{c}'" for c in close) + "?" if close else None


class PortraitError(Exception):
    """Base class. ``code`` is a stable machine-readable name; ``where`` and ``hint`` are optional.

    ``extra`` holds further named fields the HTTP API adds to its error body (such as the
    permission a refused request needs)."""

    code = "portrait_error"
    exit_code = 1
    http_status = 500

    def __init__(
        self,
        message: str,
        *,
        where: str | None = None,
        hint: str | None = None,
        **extra: Any,
    ):
        super().__init__(message)
        self.message = message
        self.where = where
        self.hint = hint
        self.extra: dict[str, Any] = extra

    def __str__(self) -> str:
        parts = [f"{self.where}: {self.message}" if self.where else self.message]
        if self.hint:
            parts.append(f"hint: {self.hint}")
        return "\n".join(parts)

    def to_dict(self) -> dict[str, str | None]:
        return {"code": self.code, "message": self.message, "where": self.where, "hint": self.hint}


# -- bad input (exit 2) -------------------------------------------------------------------


class InputError(PortraitError):
    """The user gave something Portrait cannot accept (bad file, bad flag, bad definition)."""

    code = "bad_input"
    exit_code = 2
    http_status = 400


class ConfigError(InputError):
    """``portrait.toml`` or a ``PORTRAIT_*`` variable holds an unknown name or a bad value."""

    code = "bad_config"


class WorkspaceError(InputError):
    """The folder is not a workspace, or is missing something a command needs."""

    code = "bad_workspace"


class TagDefinitionError(InputError):
    """A tag definition file is invalid: names the file, the tag and the field."""

    code = "bad_tag_definition"


class DependencyCycleError(TagDefinitionError):
    """Tags depend on each other in a circle."""

    code = "tag_dependency_cycle"


class IngestError(InputError):
    """A data file was rejected as a whole (missing column, unreadable file, rows rejected under
    ``--on-error fail``)."""

    code = "bad_data_file"


class NotFoundError(InputError):
    """A named thing (tag, user, table, segment, campaign) does not exist."""

    code = "not_found"
    http_status = 404


class RuleSyntaxError(InputError):
    """The rule text does not parse, or a condition in it is malformed; ``line`` and
    ``column`` point at the problem and the message shows it with a caret."""

    code = "bad_rule"

    def __init__(
        self,
        message: str,
        *,
        line: int | None = None,
        column: int | None = None,
        context: str | None = None,
        hint: str | None = None,
    ):
        where = f"rule, line {line}, column {column}" if line is not None else "rule"
        super().__init__(
            message + (f"\n{context.rstrip()}" if context else ""), where=where, hint=hint
        )
        self.line = line
        self.column = column
        if line is not None:
            self.extra.update(line=line, column=column)


class RuleValidationError(InputError):
    """The rule parses but does not fit the catalog (tags, values, types, events). When the
    rule was given as text, ``line`` and ``column`` point at the condition and the message
    shows it with a caret."""

    code = "bad_rule"

    def __init__(
        self,
        message: str,
        *,
        where: str | None = None,
        hint: str | None = None,
        line: int | None = None,
        column: int | None = None,
    ):
        super().__init__(message, where=where, hint=hint)
        self.line = line
        self.column = column
        if line is not None:
            self.extra.update(line=line, column=column)


class UnsupportedLeafError(InputError):
    """A rule condition the evaluator cannot answer with the data at hand."""

    code = "unsupported_rule"


class SegmentError(InputError):
    """A segment or ID list cannot be created, changed or deleted as asked."""

    code = "bad_segment"


class SegmentCycleError(SegmentError):
    """Segments would reference each other in a circle."""

    code = "segment_cycle"


class UnauthorizedError(InputError):
    """No credentials, or unknown, revoked or expired ones."""

    code = "unauthorized"
    http_status = 401


class AccessError(InputError):
    """The caller's role may not do this (select by personal data, read user-level data)."""

    code = "forbidden"
    http_status = 403


class LimitError(InputError):
    """A request asks more than the caller's role may (rule size, property filters)."""

    code = "too_costly"


class TemplateLimitError(LimitError):
    """A campaign template goes over a limit of what one message may cost.

    ``kind`` is ``"time"`` when the clock ran out (depends on the machine's load), else
    ``"size"``: a limit the same values always reach."""

    code = "template_too_costly"

    def __init__(
        self,
        message: str,
        *,
        where: str | None = None,
        hint: str | None = None,
        kind: Literal["size", "time"] = "size",
    ):
        super().__init__(message, where=where, hint=hint)
        self.kind = kind


# -- failures (exit 1) --------------------------------------------------------------------


class BusyError(PortraitError):
    """Another writer holds the workspace lock."""

    code = "workspace_busy"
    http_status = 409


class ServiceBusyError(PortraitError):
    """A server's workspace stayed busy with other requests for its whole waiting time."""

    code = "busy"
    http_status = 503


class TimedOutError(PortraitError):
    """The work took longer than it may (``api.timeout``) and was abandoned."""

    code = "timeout"
    http_status = 504


class BuildError(PortraitError):
    """The engine failed while computing tags; the previous build stays in place."""

    code = "build_failed"


class CampaignError(PortraitError):
    """A campaign cannot go on (e.g. a channel is down); it can be resumed."""


class PrivacyBudgetError(PortraitError):
    """The caller has spent its privacy budget for the day (disclosure control)."""

    code = "privacy_budget"
    http_status = 429


class ThrottledError(PortraitError):
    """Too many failed sign-ins in a row: the account (or name) waits before the next try."""

    code = "throttled"
    http_status = 429


class ConflictError(InputError):
    """The thing changed since the caller read it (another person saved it first)."""

    code = "conflict"
    http_status = 409


class CampaignStateError(InputError):
    """A campaign cannot move from its state to the one asked: the move is not in the
    lifecycle's transition table (:mod:`portrait.campaigns.lifecycle`), or another process
    changed the state meanwhile. Nothing was changed."""

    code = "campaign_state"
    exit_code = 2
    http_status = 409  # a conflict with the campaign's current state, not a malformed request
