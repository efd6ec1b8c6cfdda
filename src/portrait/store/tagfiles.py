"""Read the tag definition files of a workspace."""

from __future__ import annotations

from pathlib import Path

from portrait.errors import TagDefinitionError
from portrait.model.tags import AnyTag, TagSet, parse_tag_file


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
