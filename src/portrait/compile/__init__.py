"""Tag definitions → SQLGlot expressions. Pure: no engine, no I/O.

Passes, in order: :mod:`.validate` (resolve names against the loaded schema, parse derived
expressions), :mod:`.conditions` (``where:`` filters → predicates), :mod:`.tags` (one query
per source table and kind, plus a standalone query per tag for the catalog).
"""

from portrait.compile.tags import (
    TAG_TABLE_KEY,
    BuildQueries,
    aggregate_query,
    derived_select,
    plan_queries,
    preference_query,
    tag_sql,
    users_query,
)
from portrait.compile.validate import validate_tags

__all__ = [
    "TAG_TABLE_KEY",
    "BuildQueries",
    "aggregate_query",
    "derived_select",
    "plan_queries",
    "preference_query",
    "tag_sql",
    "users_query",
    "validate_tags",
]
