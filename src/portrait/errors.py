"""The exception hierarchy: every error Portrait raises is written for the person who reads it.

Each error says what was wrong, where (file, row, column, tag, field), and what to do. The
CLI prints ``str(error)`` without a traceback and exits with ``error.exit_code``: 2 for bad
input, 1 for failures.
"""

from __future__ import annotations


class PortraitError(Exception):
    """Base class. ``code`` is a stable machine-readable name; ``where`` and ``hint`` are optional."""

    code = "portrait_error"
    exit_code = 1

    def __init__(self, message: str, *, where: str | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.where = where
        self.hint = hint

    def __str__(self) -> str:
        parts = [f"{self.where}: {self.message}" if self.where else self.message]
        if self.hint:
            parts.append(f"hint: {self.hint}")
        return "\n".join(parts)

    def to_dict(self) -> dict[str, str | None]:
        return {"code": self.code, "message": self.message, "where": self.where, "hint": self.hint}


class InputError(PortraitError):
    """The user gave something Portrait cannot accept (bad file, bad flag, bad definition)."""

    code = "bad_input"
    exit_code = 2


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
    """A named thing (tag, user, table) does not exist."""

    code = "not_found"


class BusyError(PortraitError):
    """Another writer holds the workspace lock."""

    code = "workspace_busy"


class BuildError(PortraitError):
    """The engine failed while computing tags; the previous build stays in place."""

    code = "build_failed"


class SegmentError(InputError):
    """A segment or ID list cannot be created, changed or deleted as asked."""

    code = "bad_segment"


class SegmentCycleError(SegmentError):
    """Segments would reference each other in a circle."""

    code = "segment_cycle"


class AccessError(InputError):
    """The caller's role may not do this (select by personal data, read user-level data)."""

    code = "forbidden"


class PrivacyBudgetError(PortraitError):
    """The caller has spent its privacy budget for the day (disclosure control)."""

    code = "privacy_budget"


class LimitError(InputError):
    """A request asks more than the caller's role may (rule size, property filters)."""

    code = "too_costly"
