"""Tag files that the model and compile tests share: a schema of ingested tables, and YAML text
parsed as the file ``tags/x.yaml``."""

from __future__ import annotations

from portrait.model.tags import TagSet, parse_tag_file

SCHEMA = {
    "users": {"user_id": "string", "age": "int", "city": "string"},
    "events": {"user_id": "string", "ts": "timestamp", "event": "string", "price": "float"},
}


def parse(text: str) -> TagSet:
    return TagSet(parse_tag_file(text, "tags/x.yaml", "x"))
