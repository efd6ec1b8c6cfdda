"""What one message may cost (portrait/campaigns/limits.py), through the campaigns package's
template functions: ``compile_templates`` then ``CompiledTemplates.render`` /
``render_safely``, as planning and delivery use them."""

from __future__ import annotations

import time
from typing import Any

import pytest

from portrait.campaigns.limits import Limits
from portrait.campaigns.templates import CompiledTemplates, compile_templates, render_safely
from portrait.errors import TemplateLimitError
from portrait.model.campaigns import CampaignSpec

USER = {"user_id": "u1", "city": "北京", "cars": ["宝马", "奥迪"], "age": 34}


def compiled(template: str, limits: Limits | None = None, subject: str | None = None) -> Any:
    spec = CampaignSpec(
        name="c",
        audience="age > 1",
        channel="file",
        variants=[{"name": "A", "weight": 100, "template": template, "subject": subject}],
    )
    return compile_templates(spec, ["city", "cars", "age"], limits=limits)


def refused(templates: CompiledTemplates, user: dict[str, Any] | None = None) -> str:
    with pytest.raises(TemplateLimitError) as exc:
        templates.render("A", user or USER)
    return str(exc.value)


def test_ordinary_templates_render_as_before() -> None:
    template = (
        "{{ city }}: {% for c in cars %}{{ loop.index }}/{{ loop.length }} {{ c }}"
        "{% if not loop.last %}, {% endif %}{% endfor %} · {{ cars | join('/') }} · "
        "{{ '%.1f' % 3.14159 }} · {{ '{:>4}'.format(age) }} · {{ 'ab' * 2 }} · {{ age + 1 }}"
        "{% set ns = namespace(n=0) %}{% for i in range(5) %}{% set ns.n = ns.n + i %}"
        "{% endfor %} · {{ ns.n }} · {{ city ~ '!' }} · {{ range(3) | list | length }}"
    )
    text, _ = compiled(template).render("A", USER)
    assert text == "北京: 1/2 宝马, 2/2 奥迪 · 宝马/奥迪 · 3.1 ·   34 · abab · 35 · 10 · 北京! · 3"


def test_range_is_limited_and_the_error_names_the_variant_and_the_limit() -> None:
    message = refused(compiled("{% for i in range(100000) %}x{% endfor %}"))
    assert message.startswith("variant 'A' template: range() of 100,000 items")
    assert "at most 1,000 (the limit)" in message
    assert compiled("{% for i in range(1000) %}{% endfor %}ok").render("A", USER)[0] == "ok"


def test_loop_iterations_per_message_are_limited() -> None:
    nested = "{% for i in range(1000) %}{% for j in range(1000) %}x{% endfor %}{% endfor %}"
    started = time.perf_counter()
    message = refused(compiled(nested))
    assert time.perf_counter() - started < 2  # stopped at the limit, not after a million
    assert message == (
        "variant 'A' template: more than 10,000 loop iterations in one message (the limit)"
    )
    # the count is per message: the next user starts afresh
    ten_thousand = "{% for i in range(100) %}{% for j in range(99) %}{% endfor %}{% endfor %}ok"
    templates = compiled(ten_thousand)
    assert templates.render("A", USER)[0] == "ok"
    assert templates.render("A", {**USER, "city": "上海"})[0] == "ok"
    # recursive loops count too
    recursive = "{% for x in range(3) recursive %}{{ loop(range(3)) }}{% endfor %}"
    assert "loop iterations" in refused(compiled(recursive, Limits(iterations=50)))


def test_the_message_length_is_limited() -> None:
    long = "{% for i in range(1000) %}{{ range(100) | join(',') }}{% endfor %}"
    assert refused(compiled(long)) == (
        "variant 'A' template: the message is longer than 65,536 characters (the limit)"
    )
    subject = compiled("fine", subject="{% for i in range(1000) %}{{ 'y' * 100 }}{% endfor %}")
    assert refused(subject).startswith("variant 'A' subject: the message is longer than")


def test_render_time_is_limited() -> None:
    # within the loop and size limits, but exponential in calls: the clock stops it
    slow = (
        "{% macro f(n) %}{% if n < 30 %}{{ f(n + 1) }}{{ f(n + 1) }}{% endif %}{% endmacro %}"
        "{{ f(1) }}"
    )
    templates = compiled(slow, Limits(seconds=0.05))
    started = time.perf_counter()
    message = refused(templates)
    assert time.perf_counter() - started < 2  # 2**30 calls would take minutes
    assert message == (
        "variant 'A' template: rendering one message took longer than 0.05 s (the limit)"
    )
    # the clock depends on the machine, so a timeout is not cached for users with the same
    # values; a variant that keeps running out of time is given up in the run
    refused(templates)
    refused(templates)
    assert templates.timeouts == {"A": 3} and not templates.cache
    assert "the variant is not rendered any more" in refused(templates)


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ 'x' * 300000000 }}", "'*' would make a value of 300,000,000 characters"),
        ("{{ [0] * 300000000 }}", "'*' would make a value of 300,000,000 items"),
        ("{{ 'x' | center(300000000) }}", "a width of 300,000,000 in the filter 'center'"),
        ("{{ 'x' | indent(300000000, true) }}", "a width of 300,000,000 in the filter 'indent'"),
        ("{{ [1] | tojson(300000000) }}", "an indent of 300,000,000 in the filter 'tojson'"),
        # small arguments, large results: many lines or items times a long text
        ("{{ ('\\n' * 60000) | indent(60000) }}", "the filter 'indent' would make a value of"),
        ("{{ range(1000) | join('x' * 60000) }}", "the filter 'join' would make a value of"),
        ("{{ ('x' * 60000).join(['a'] * 1000) }}", "'join()' would make a value of"),
        ("{{ ('x' * 60000) | wordwrap(1, true, 'y' * 1000) }}", "the filter 'wordwrap' would"),
        ("{{ ([['x'] * 60000] * 60000) | sum(start=[]) }}", "the filter 'sum' would make a value"),
        ("{{ ('x' * 60000).translate({120: 'y' * 1000}) }}", "'translate()' would make a value"),
        ("{{ ('\\t' * 60000).expandtabs(1000) }}", "'expandtabs()' would make a value of"),
        ("{{ 'x'.ljust(300000000) }}", "a width of 300,000,000 in 'ljust()'"),
        ("{{ '%300000000s' % 1 }}", "a width of 300,000,000 in '%'"),
        ("{{ '%.300000000f' % 1 }}", "a width of 300,000,000 in '%'"),
        ("{{ '{:300000000}'.format(1) }}", "a width of 300,000,000 in 'format()'"),
        ("{{ '{:{}}'.format(1, 300000000) }}", "a nested format spec"),
        ("{{ '%300000000s' | format(1) }}", "a width of 300,000,000 in the filter 'format'"),
        ("{{ 'a'.replace('', 'b' * 60000) }}", "'replace()' would make a value of 120,001"),
        ("{{ 9 ** (9 ** 9) }}", "'**' would make a number of more than 4,096 bits"),
        (
            "{% set ns = namespace(s='x') %}{% for i in range(100) %}"
            "{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
            "'~' would make a value of 131,072 characters",
        ),
        (
            "{% set ns = namespace(n=3) %}{% for i in range(100) %}"
            "{% set ns.n = ns.n * ns.n %}{% endfor %}",
            "'*' would make a number of more than 4,096 bits",
        ),
        (
            "{% set ns = namespace(l=[]) %}{% for i in range(1000) %}{% for j in range(9) %}"
            "{% set ns.l = ns.l + ['x' * 60000] %}{% endfor %}{% endfor %}",
            "the values made for one message add up to more than 16,777,216 characters",
        ),
    ],
)
def test_values_too_large_are_refused_before_they_are_made(template: str, message: str) -> None:
    """One C-level operation cannot be interrupted by the clock, so what would allocate too
    much is refused beforehand; before these checks some of these were even folded as
    constants when the template was compiled (the campaign's creation held for seconds and
    gigabytes)."""
    started = time.perf_counter()
    templates = compiled(template)
    assert message in refused(templates)
    assert time.perf_counter() - started < 2  # not the seconds and gigabytes of making it


def test_lists_cannot_be_changed_in_place() -> None:
    """``append`` would grow a list out of sight of the size checks; ``namespace`` is the way
    to carry a value across loop steps."""
    out = render_safely(
        compiled("{% set l = [] %}{% for i in range(3) %}{{ l.append(i) }}{% endfor %}"),
        "A",
        USER,
    )
    assert out == "template error: access to attribute 'append' of 'list' object is unsafe."


def test_limit_errors_are_per_user_reasons_and_cached_by_value() -> None:
    """A message over a limit is that user's render error (reported by a dry run, recorded
    as the delivery's reason), and the other users go on; the same values fail again without
    rendering again."""
    templates = compiled("{% for i in range(age * 100) %}.{% endfor %}ok")
    assert render_safely(templates, "A", {**USER, "age": 9}) == ("." * 900 + "ok", None)
    reason = render_safely(templates, "A", {**USER, "age": 34})
    assert reason == (
        "template error: variant 'A' template: range() of 3,400 items; a message may loop "
        "over at most 1,000 (the limit)"
    )
    assert render_safely(templates, "A", {**USER, "user_id": "u2", "age": 34}) == reason
    assert len(templates.cache) == 2


def test_custom_limits() -> None:
    templates = compiled("{% for i in range(50) %}{{ i }},{% endfor %}", Limits(output_chars=20))
    assert "longer than 20 characters" in refused(templates)
    joined = compiled("{{ range(50) | join }}", Limits(output_chars=20))
    assert "the filter 'join' made a value of 90 characters; at most 20" in refused(joined)
    commas = compiled("{{ range(50) | join(',') }}", Limits(output_chars=20))
    assert "the filter 'join' would make a value of 49 characters" in refused(commas)
    assert "range() of 50 items" in refused(
        compiled("{{ range(50)|list }}", Limits(range_items=10))
    )
