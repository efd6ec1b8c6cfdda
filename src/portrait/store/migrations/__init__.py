"""Alembic migrations of the metadata database: one revision per schema change.

:mod:`portrait.store.schema` runs them when a database is opened; nobody needs an
``alembic.ini``. Each revision spells its tables out instead of importing the live ones in
:mod:`portrait.store.tables`, so that it keeps building the schema of its own time after the
live definitions move on. ``tests/functional/test_metadata_backends.py`` fails when the live
tables and the revisions disagree.

To change the schema: change the tables in ``tables.py``, add the next revision here (copy
the newest; ``revision = "0005"``, ``down_revision = "0004"``), call
:func:`set_schema_version` with its number, and move ``HEAD_REVISION`` in ``schema.py``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

_meta = sa.table("portrait_meta", sa.column("key", sa.String), sa.column("value", sa.String))


def set_schema_version(version: int) -> None:
    """Keep ``portrait_meta.schema_version`` equal to the revision number.

    Portrait releases from before Alembic read only this row, and refuse a database whose
    number is higher than theirs instead of running on a schema they do not know."""
    op.execute(_meta.delete().where(_meta.c.key == "schema_version"))
    op.execute(_meta.insert().values(key="schema_version", value=str(version)))
