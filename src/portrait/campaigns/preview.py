"""A template's live preview: one message template rendered for the first few users of an
audience, as a template editor shows it while it is typed.

It checks and renders exactly as a campaign does (:func:`compile_templates`: names checked
against the built tags; the sandbox and its limits), and masks personal data as a dry run
does (:mod:`portrait.campaigns.planning`): each message is rendered from the real values
first, then what is shown from the masked values; an error met only with the real values is
shown without its text. Nothing is stored.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import numpy as np

from portrait.campaigns.inputs import Inputs
from portrait.campaigns.planning import WITHHELD, mask_values
from portrait.campaigns.templates import compile_templates, render_safely
from portrait.errors import InputError, suggest
from portrait.index.rows import take_rows
from portrait.model.campaigns import CampaignSpec, Variant

#: the most users one preview renders
MAX_SAMPLES = 10
_VARIANT = "preview"


def preview_template(
    inputs: Inputs,
    audience: str,
    template: str,
    *,
    subject: str | None = None,
    samples: int = 3,
    masked: Collection[str] = frozenset(),
) -> dict[str, Any]:
    """``template`` (and ``subject``) rendered for the first ``samples`` users (by id) of
    ``audience`` (a segment's name or a rule): ``{"audience": size, "samples": [{"user_id",
    "text", "subject"} or {"user_id", "error"}], "reads": tag names}``. The tags in
    ``masked`` reach what is shown masked. A template that does not parse or names a tag
    that is not built raises :class:`InputError` with ``where`` ``template`` or ``subject``."""
    if not template.strip():
        raise InputError("the template is empty: write the message", where="template")
    if not 1 <= samples <= MAX_SAMPLES:
        raise InputError(f"samples must be between 1 and {MAX_SAMPLES}", where="samples")
    inputs.check_audience(audience)
    spec = CampaignSpec(
        name=_VARIANT,
        audience=audience,
        channel="file",
        variants=(Variant(name=_VARIANT, weight=100, template=template, subject=subject or None),),
    )
    try:
        templates = compile_templates(spec, inputs.tags, suggest=suggest)
    except InputError as exc:
        part = "subject" if (exc.where or "").endswith("subject") else "template"
        raise InputError(exc.message, where=part, hint=exc.hint) from None
    members = inputs.audience(audience).bitmap
    first = np.fromiter(
        (uid for _, uid in zip(range(samples), members, strict=False)), dtype=np.int64
    )
    rows = take_rows(inputs.profile_file, first, ["user_id", *templates.tags]).to_pylist()
    private = frozenset(masked).intersection(templates.reads.get(_VARIANT, ()))
    shown: list[dict[str, Any]] = []
    for values in rows:
        user_id = str(values["user_id"])
        out = render_safely(templates, _VARIANT, values)  # the real values: what sending does
        if private:
            masked_out = render_safely(templates, _VARIANT, mask_values(values, private))
            if isinstance(out, str):  # the error's text from masked values, or none at all
                out = masked_out if isinstance(masked_out, str) else WITHHELD
            else:
                out = masked_out
        if isinstance(out, str):
            shown.append({"user_id": user_id, "error": out})
        else:
            shown.append({"user_id": user_id, "text": out[0], "subject": out[1]})
    return {
        "audience": len(members),
        "samples": shown,
        "reads": sorted(templates.reads.get(_VARIANT, ())),
    }
