"""Read the tag definition files of a workspace, and write the one file the workspace writes
itself: ``personas.yaml``, the persona tags ``portrait persona fit`` makes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from portrait.errors import TagDefinitionError
from portrait.model.tags import AnyTag, TagSet, parse_tag_file
from portrait.store.versions import write_atomic

PERSONA_FILE = "personas.yaml"


def load_tag_files(tags_dir: Path) -> TagSet:
    """All ``*.yaml``/``*.yml`` files under ``tags_dir`` (sorted by name) as one tag set."""
    tags: list[AnyTag] = []
    sources: dict[str, str] = {}
    files = sorted([*tags_dir.glob("*.yaml"), *tags_dir.glob("*.yml")])
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise TagDefinitionError("not UTF-8 text", where=str(path)) from None
        for tag in parse_tag_file(text, str(path), default_category=path.stem):
            if tag.name in sources:
                raise TagDefinitionError(
                    f"tag '{tag.name}' is defined twice: here and in {sources[tag.name]}",
                    where=str(path),
                    hint="tag names are unique across all files in tags/",
                )
            sources[tag.name] = str(path)
            tags.append(tag)
    return TagSet(tags, sources)


def write_generated_tag(
    tags_dir: Path, definition: dict[str, Any], *, file: str = PERSONA_FILE
) -> Path:
    """Put ``definition`` (a tag as its YAML mapping) into ``tags_dir/file``, replacing the tag
    of the same name there, in one atomic write: the file is checked (parsed and validated as
    every tag file is) before it replaces the old one, so a bad definition changes nothing."""
    path = tags_dir / file
    data: dict[str, Any] = {"category": "persona", "title": "人群画像 (personas)", "tags": []}
    if path.is_file():
        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if isinstance(loaded, dict):
            data.update(loaded)
    tags = [t for t in data.get("tags") or [] if t.get("name") != definition["name"]]
    data["tags"] = [*tags, definition]
    text = "# Written by portrait persona fit; names and descriptions may be edited here.\n"
    text += yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100)
    parse_tag_file(text, str(path), default_category=path.stem)
    write_atomic(path, text.encode("utf-8"))
    return path
