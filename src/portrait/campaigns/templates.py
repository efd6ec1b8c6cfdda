"""Message templates: Jinja2 in a sandbox, with the user's tag values as variables.

``{{ city }}`` is the user's value of the tag ``city``; ``user_id``, ``campaign`` and
``variant`` are there too. Templates are parsed and their names checked against the built tags
when the campaign is created, so a typo is reported then, not at send time. A missing value
renders as an empty string. Templates run in Jinja's sandbox: no attribute access to Python
internals, no file or network access.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, meta
from jinja2.exceptions import TemplateError
from jinja2.sandbox import SandboxedEnvironment

from portrait.errors import InputError
from portrait.model.campaigns import CampaignSpec

BUILT_INS = frozenset({"user_id", "campaign", "variant"})


def _finalize(value: Any) -> Any:
    return "" if value is None else value


def environment() -> SandboxedEnvironment:
    return SandboxedEnvironment(
        undefined=StrictUndefined, finalize=_finalize, autoescape=False, trim_blocks=True
    )


@dataclass(frozen=True)
class CompiledTemplates:
    """The variants' templates, parsed; ``tags`` are the tag values they read."""

    campaign: str
    texts: Mapping[str, Any]
    subjects: Mapping[str, Any]
    tags: tuple[str, ...]

    def render(self, variant: str, values: Mapping[str, Any]) -> tuple[str, str | None]:
        """(text, subject) for one user; ``values`` holds ``user_id`` and the tags."""
        context = {**values, "campaign": self.campaign, "variant": variant}
        subject = self.subjects.get(variant)
        return (
            self.texts[variant].render(context),
            None if subject is None else subject.render(context),
        )


def compile_templates(
    spec: CampaignSpec, known_tags: Iterable[str], *, suggest: Any = None
) -> CompiledTemplates:
    """Parse every variant's template (and subject) and check the names it uses; errors name
    the variant, the line and the unknown tag (with a did-you-mean from ``suggest``)."""
    env = environment()
    known = set(known_tags)
    texts: dict[str, Any] = {}
    subjects: dict[str, Any] = {}
    used: set[str] = set()
    for variant in spec.variants:
        for part, source, target in (
            ("template", variant.template, texts),
            ("subject", variant.subject, subjects),
        ):
            if source is None:
                continue
            where = f"variant '{variant.name}' {part}"
            try:
                tree = env.parse(source)
            except TemplateSyntaxError as exc:
                raise InputError(
                    f"template does not parse: {exc.message} (line {exc.lineno})", where=where
                ) from None
            names = meta.find_undeclared_variables(tree) - BUILT_INS
            unknown = sorted(names - known)
            if unknown:
                hint = suggest(unknown[0], known) if suggest else None
                raise InputError(
                    f"template uses '{unknown[0]}', which is not a built tag",
                    where=where,
                    hint=hint or "see 'portrait tags list'",
                )
            used |= names
            target[variant.name] = env.from_string(source)
    return CompiledTemplates(spec.name, texts, subjects, tuple(sorted(used)))


def render_safely(
    templates: CompiledTemplates, variant: str, values: Mapping[str, Any]
) -> tuple[str, str | None] | str:
    """The rendered (text, subject), or the error as a string (a user whose values break the
    template is reported, not sent, and the others go on)."""
    try:
        return templates.render(variant, values)
    except TemplateError as exc:
        return f"template error: {exc}"
    except Exception as exc:  # a sandboxed template can still divide by zero and the like
        return f"template error: {type(exc).__name__}: {exc}"
