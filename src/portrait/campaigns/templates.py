"""Message templates: Jinja2 in a sandbox, with the user's tag values as variables.

``{{ city }}`` is the user's value of the tag ``city``; ``user_id``, ``campaign`` and
``variant`` are there too. Templates are parsed and their names checked against the built tags
when the campaign is created, so a typo is reported then, not at send time. A missing value
renders as an empty string. Templates run in Jinja's sandbox: no attribute access to Python
internals, no file or network access; and with limits on what one message may cost (loop
steps, ``range()`` size, text length, render time: :mod:`portrait.campaigns.limits`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, meta
from jinja2.exceptions import TemplateError

from portrait.campaigns.limits import (
    Budget,
    LimitedEnvironment,
    Limits,
    render_within,
)
from portrait.errors import InputError, TemplateLimitError
from portrait.model.campaigns import CampaignSpec

BUILT_INS = frozenset({"user_id", "campaign", "variant"})
_CACHE_LIMIT = 200_000  # distinct renderings kept per campaign (user_id templates: no reuse)
#: a variant whose messages ran out of time this often is not rendered any more in this run
#: (the time limit depends on the machine, so it is not cached by value like the others)
GIVE_UP_AFTER_TIMEOUTS = 3


def _finalize(value: Any) -> Any:
    return "" if value is None else value


def environment(limits: Limits | None = None) -> LimitedEnvironment:
    env = LimitedEnvironment(
        limits,
        undefined=StrictUndefined,
        finalize=_finalize,
        autoescape=False,
        trim_blocks=True,
    )
    # the one global that is not a pure function (random text): without it a message depends
    # only on the values the template reads, which makes rendering cacheable
    env.globals.pop("lipsum", None)
    return env


def _key(value: Any) -> Any:
    return tuple(_key(v) for v in value) if isinstance(value, list | tuple) else value


@dataclass(frozen=True)
class CompiledTemplates:
    """The variants' templates, parsed; ``tags`` are the tag values they read, ``reads`` the
    names each variant's templates use."""

    campaign: str
    texts: Mapping[str, Any]
    subjects: Mapping[str, Any]
    tags: tuple[str, ...]
    reads: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    limits: Limits = field(default_factory=Limits)
    cache: dict[Any, tuple[str, str | None] | Exception] = field(
        default_factory=dict, compare=False
    )
    timeouts: dict[str, int] = field(default_factory=dict, compare=False)

    def render(self, variant: str, values: Mapping[str, Any]) -> tuple[str, str | None]:
        """(text, subject) for one user; ``values`` holds ``user_id`` and the tags.

        A message depends only on the values its templates read (the sandbox has no clock and
        no randomness), so users with the same values share one rendering (or one error):
        most templates read a few low-cardinality tags (city, age band), and rendering is the
        costly part of a large send. Raises :class:`TemplateLimitError` for a message over a
        limit of :class:`Limits`.
        """
        key = (variant, *[values.get(name) for name in self.reads.get(variant, ())])
        try:
            found = self.cache.get(key)
        except TypeError:  # a list value (multi-valued tag): make it hashable
            key = tuple(_key(v) for v in key)
            found = self.cache.get(key)
        if isinstance(found, Exception):
            raise found
        if found is not None:
            return found
        if self.timeouts.get(variant, 0) >= GIVE_UP_AFTER_TIMEOUTS:
            raise TemplateLimitError(
                f"rendering took longer than {self.limits.seconds:g} s (the limit) for "
                f"{GIVE_UP_AFTER_TIMEOUTS} messages; the variant is not rendered any more",
                where=f"variant '{variant}'",
                kind="time",
            )
        context = {**values, "campaign": self.campaign, "variant": variant}
        subject = self.subjects.get(variant)
        budget = Budget(self.limits, f"variant '{variant}' template")
        try:
            text = render_within(self.texts[variant], context, budget)
            budget.where = f"variant '{variant}' subject"
            result = (text, None if subject is None else render_within(subject, context, budget))
        except TemplateLimitError as exc:
            if exc.kind == "time":
                self.timeouts[variant] = self.timeouts.get(variant, 0) + 1
            else:
                self._keep(key, exc.with_traceback(None))
            raise
        except Exception as exc:
            self._keep(key, exc.with_traceback(None))
            raise
        self._keep(key, result)
        return result

    def _keep(self, key: Any, result: tuple[str, str | None] | Exception) -> None:
        if len(self.cache) < _CACHE_LIMIT:
            self.cache[key] = result


def compile_templates(
    spec: CampaignSpec,
    known_tags: Iterable[str],
    *,
    suggest: Any = None,
    limits: Limits | None = None,
) -> CompiledTemplates:
    """Parse every variant's template (and subject) and check the names it uses; errors name
    the variant, the line and the unknown tag (with a did-you-mean from ``suggest``).
    Messages are rendered within ``limits`` (default :class:`Limits`)."""
    limits = limits or Limits()
    env = environment(limits)
    known = set(known_tags)
    texts: dict[str, Any] = {}
    subjects: dict[str, Any] = {}
    used: set[str] = set()
    reads: dict[str, set[str]] = {}
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
            everything = meta.find_undeclared_variables(tree)
            reads.setdefault(variant.name, set()).update(everything)
            names = everything - BUILT_INS
            unknown = sorted(names - known)
            if unknown:
                hint = suggest(unknown[0], known) if suggest else None
                raise InputError(
                    f"template uses '{unknown[0]}', which is not a built tag",
                    where=where,
                    hint=hint or "see 'portrait tags list'",
                )
            used |= names
            target[variant.name] = env.from_string(env.metered(tree))
    return CompiledTemplates(
        spec.name,
        texts,
        subjects,
        tuple(sorted(used)),
        {name: tuple(sorted(names)) for name, names in reads.items()},
        limits,
    )


def render_safely(
    templates: CompiledTemplates, variant: str, values: Mapping[str, Any]
) -> tuple[str, str | None] | str:
    """The rendered (text, subject), or the error as a string (a user whose values break the
    template is reported, not sent, and the others go on)."""
    try:
        return templates.render(variant, values)
    except (TemplateError, TemplateLimitError) as exc:
        return f"template error: {exc}"
    except Exception as exc:  # a sandboxed template can still divide by zero and the like
        return f"template error: {type(exc).__name__}: {exc}"
