"""The computers by tag kind, registered in one place (the end of this module).

The SQL kinds and the ``persona`` kind (computed in Python) are registered when this module
is imported; a new kind registers its computer here too, with :func:`register`.
"""

from __future__ import annotations

from portrait.errors import BuildError
from portrait.model.tags import AnyTag
from portrait.profile.computers import sql
from portrait.profile.computers.base import TagComputer
from portrait.profile.computers.persona import PersonaComputer

_COMPUTERS: dict[str, TagComputer] = {}


def register(computer: TagComputer) -> None:
    """Make ``computer`` the one computing the tags of its kind."""
    if computer.kind in _COMPUTERS:
        raise ValueError(f"a computer for tag kind '{computer.kind}' is registered already")
    _COMPUTERS[computer.kind] = computer


def unregister(kind: str) -> None:
    """Forget the computer of ``kind``."""
    if _COMPUTERS.pop(kind, None) is None:
        raise ValueError(f"no computer for tag kind '{kind}' is registered")


def kinds() -> tuple[str, ...]:
    """The kinds with a computer, in registration order."""
    return tuple(_COMPUTERS)


def computer_for(tag: AnyTag) -> TagComputer:
    """The computer of ``tag``'s kind; a :class:`BuildError` naming the tag if there is none."""
    computer = _COMPUTERS.get(tag.kind)
    if computer is None:
        raise BuildError(
            f"tag '{tag.name}': no computer for tag kind '{tag.kind}'",
            hint="kinds this build can compute: " + ", ".join(_COMPUTERS),
        )
    return computer


for _computer in (sql.ATTRIBUTE, sql.BUCKET, sql.METRIC, sql.PREFERENCE, sql.RFM, sql.DERIVED):
    register(_computer)
register(PersonaComputer())
