"""Tag definitions and rules → SQLGlot expressions. Pure: no engine, no I/O.

Passes, in order: :mod:`.validate` (resolve names against the loaded schema, parse derived
expressions), :mod:`.conditions` (``where:`` filters → predicates), then per SQL tag kind its
parts (:mod:`.users`, :mod:`.metrics`, :mod:`.preferences`, :mod:`.rfm`, :mod:`.derived`; the
part types in :mod:`.parts`) and :mod:`.assembly` (the parts → the queries of a build stage).
:mod:`.tags` holds the all-SQL plan and a standalone query per tag for the catalog.
"""

from portrait.compile.assembly import BuildQueries, derived_select
from portrait.compile.metrics import aggregate_query
from portrait.compile.parts import TAG_TABLE_KEY
from portrait.compile.preferences import preference_query
from portrait.compile.tags import plan_queries, tag_sql
from portrait.compile.users import users_query
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
