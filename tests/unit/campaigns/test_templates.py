"""Message templates (portrait/campaigns/templates.py): names checked against the built tags
when a campaign is created, what a template sees, renderings shared by users with the same
values, per-user errors as reasons. What one message may cost is test_limits.py's."""

from __future__ import annotations

from typing import Any

import pytest

from portrait.campaigns.templates import (
    BUILT_INS,
    CompiledTemplates,
    compile_templates,
    render_safely,
)
from portrait.errors import InputError, suggest
from portrait.model.campaigns import CampaignSpec

TAGS = ["city", "age", "cars", "phone"]


def spec(*variants: dict[str, Any]) -> CampaignSpec:
    weight = 100 / len(variants)
    return CampaignSpec(
        name="autumn",
        audience="age > 1",
        channel="file",
        variants=[{"name": f"V{i}", "weight": weight, **v} for i, v in enumerate(variants)],
    )


def compiled(*templates: str, subject: str | None = None) -> CompiledTemplates:
    return compile_templates(
        spec(*[{"template": t, "subject": subject} for t in templates]), TAGS, suggest=suggest
    )


def refused(*variants: dict[str, Any], tags: list[str] = TAGS, hints: bool = True) -> InputError:
    with pytest.raises(InputError) as caught:
        compile_templates(spec(*variants), tags, suggest=suggest if hints else None)
    return caught.value


def test_the_tags_read_are_collected_per_variant() -> None:
    templates = compiled(
        "{{ city }} for {{ user_id }}",
        "{% for c in cars %}{{ c }}{% endfor %} in {{ campaign }}/{{ variant }}",
        subject="{{ age }}",
    )
    assert templates.campaign == "autumn"
    assert templates.tags == ("age", "cars", "city")  # sorted, built-ins left out
    assert templates.reads == {
        "V0": ("age", "city", "user_id"),
        "V1": ("age", "campaign", "cars", "variant"),
    }
    assert set(templates.texts) == set(templates.subjects) == {"V0", "V1"}
    assert set(BUILT_INS) == {"user_id", "campaign", "variant"}


def test_an_unknown_name_is_refused_with_the_variant_and_a_suggestion() -> None:
    error = refused({"template": "hello"}, {"template": "hi\n{{ cty }} and {{ zzz }}"})
    assert error.message == "template uses 'cty', which is not a built tag"  # first, sorted
    assert error.where == "variant 'V1' template"
    assert error.hint == "did you mean 'city'?"
    nothing_close = refused({"template": "{{ qqqqq }}"})
    assert nothing_close.hint == "see 'portrait tags list'"
    no_suggester = refused({"template": "{{ cty }}"}, hints=False)
    assert no_suggester.hint == "see 'portrait tags list'"
    in_subject = refused({"template": "ok", "subject": "{{ agee }}"})
    assert in_subject.where == "variant 'V0' subject" and in_subject.hint == "did you mean 'age'?"
    # lipsum (random text) is no global here: renderings depend on the values only
    assert refused({"template": "{{ lipsum() }}"}).message.startswith("template uses 'lipsum'")


def test_a_template_that_does_not_parse_names_the_line() -> None:
    error = refused({"template": "line one\n{{ city "})
    assert error.where == "variant 'V0' template"
    assert error.message.startswith("template does not parse: ")
    assert error.message.endswith("(line 2)")
    unclosed = refused({"template": "{% if city %}x"})
    assert "(line 1)" in unclosed.message and "endif" in unclosed.message


def test_a_message_sees_the_users_values_and_the_built_ins() -> None:
    templates = compiled(
        "{{ city }}|{{ user_id }}|{{ campaign }}|{{ variant }}|{{ cars | join('/') }}",
        subject="{{ age + 1 }} {{ phone }}",
    )
    user = {"user_id": "u1", "city": "北京", "cars": ["宝马", "奥迪"], "age": 34, "phone": None}
    assert templates.render("V0", user) == ("北京|u1|autumn|V0|宝马/奥迪", "35 ")  # None: ""
    no_subject = compiled("{{ city }}")
    assert no_subject.render("V0", {"user_id": "u1", "city": "上海"}) == ("上海", None)


def test_users_with_the_same_values_share_one_rendering() -> None:
    templates = compiled("hi {{ city }}", "{{ cars }}")
    one = templates.render("V0", {"user_id": "u1", "city": "北京", "age": 30})
    # another user and age, which the template does not read: the same rendering
    two = templates.render("V0", {"user_id": "u2", "city": "北京", "age": 60})
    assert one == two == ("hi 北京", None) and one is two
    assert len(templates.cache) == 1
    templates.render("V0", {"user_id": "u3", "city": "上海"})
    # list values (multi-valued tags) are keys too
    a = templates.render("V1", {"user_id": "u1", "cars": ["宝马"]})
    b = templates.render("V1", {"user_id": "u2", "cars": ["宝马"]})
    assert a is b and len(templates.cache) == 3


def test_a_failing_user_gets_the_reason_and_the_others_go_on() -> None:
    templates = compiled("{{ 100 // age }} per year")
    assert render_safely(templates, "V0", {"user_id": "u1", "age": 4}) == ("25 per year", None)
    assert render_safely(templates, "V0", {"user_id": "u2", "age": 0}) == (
        "template error: ZeroDivisionError: integer division or modulo by zero"
    )
    # a value missing from the row is an error (StrictUndefined), not an empty text
    assert render_safely(templates, "V0", {"user_id": "u3"}) == (
        "template error: 'age' is undefined"
    )
    # errors are kept by value too: the same values fail without rendering again
    assert isinstance(templates.cache[("V0", 0)], ZeroDivisionError)
    with pytest.raises(ZeroDivisionError):
        templates.render("V0", {"user_id": "u4", "age": 0})
    # the sandbox keeps Python internals out
    unsafe = compiled("{{ city.__class__.__mro__ }}")
    assert render_safely(unsafe, "V0", {"user_id": "u1", "city": "x"}).startswith(
        "template error: "
    )
