"""attribute and bucket: users columns go to the users query, a bucket of a tag to the assembly."""

from __future__ import annotations

import datetime as dt

import pytest

from portrait.compile import validate_tags
from portrait.compile.parts import BuildContext, TagExpression, UsersColumn
from portrait.compile.users import attribute_parts, bucket_parts, users_query, users_select
from portrait.model.tags import AttributeTag, BucketTag
from tests.unit.tag_files import SCHEMA, parse

TAGS = validate_tags(
    parse(
        "tags:\n"
        "  - {name: city, kind: attribute}\n"
        "  - {name: age_band, kind: bucket, source: age, bins: [20, 30]}\n"
        "  - {name: views, kind: metric, from: events, agg: count}\n"
        "  - {name: views_band, kind: bucket, source: views, bins: [1]}\n"
    ),
    SCHEMA,
)
CONTEXT = BuildContext(TAGS, dt.date(2026, 10, 31), SCHEMA)


def test_bucket_of_a_column_or_of_a_tag() -> None:
    buckets = [t for t in (TAGS["age_band"], TAGS["views_band"]) if isinstance(t, BucketTag)]
    column, expression = bucket_parts(buckets, CONTEXT)
    assert isinstance(column, UsersColumn) and column.tag.name == "age_band"
    assert column.value.sql("duckdb").startswith("CASE WHEN age IS NULL THEN NULL")
    assert isinstance(expression, TagExpression) and expression.tag.name == "views_band"
    assert '"views" < 1' in expression.value.sql("duckdb")


def test_users_select_of_the_parts_is_the_users_query() -> None:
    city = TAGS["city"]
    assert isinstance(city, AttributeTag)
    parts = attribute_parts([city], CONTEXT)
    columns = [p for p in parts if isinstance(p, UsersColumn)]
    assert [c.tag for c in columns] == [city]
    assert users_select(columns).sql() == users_query([city]).sql()
    assert users_select(columns).sql() == 'SELECT uid, user_id, city AS "city" FROM users'


def test_users_query_refuses_other_kinds() -> None:
    with pytest.raises(ValueError, match="views is not computed from the users table"):
        users_query([TAGS["views"]])
