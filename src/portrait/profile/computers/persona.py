"""The ``persona`` kind's computer: each user's persona from the model fitted by ``portrait
persona fit`` and stored in the tag's definition (:class:`portrait.model.tags.PersonaTag`).

The build only assigns: every user goes to the nearest centroid of the stored model, in
batches (:meth:`portrait.learning.personas.PersonaModel.assign`), so a persona keeps its
meaning from one build to the next; fitting again is an explicit act.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from portrait.compile.parts import BuildContext
from portrait.errors import BuildError, InputError
from portrait.learning.personas import PersonaModel, feature_of
from portrait.model.tags import AnyTag, PersonaTag
from portrait.profile.computers.base import PythonComputer


def persona_label(i: int) -> str:
    """The value of the i-th persona (0-based): ``P1`` …"""
    return f"P{i + 1}"


class PersonaComputer(PythonComputer):
    kind = "persona"

    def column(self, tag: AnyTag, inputs: pa.Table, context: BuildContext) -> pa.Array:
        assert isinstance(tag, PersonaTag)
        if not tag.model:
            raise BuildError(
                f"persona tag '{tag.name}' has no fitted model",
                hint=f"portrait persona fit {tag.name} --features {','.join(tag.features)}",
            )
        try:
            model = PersonaModel.from_dict(tag.model)
        except InputError as exc:
            raise BuildError(
                f"persona tag '{tag.name}': its stored model cannot be read ({exc.message})",
                hint=f"fit it again: portrait persona fit {tag.name} --replace …",
            ) from None
        if list(model.feature_names) != list(tag.features) or model.k != tag.k:
            raise BuildError(
                f"persona tag '{tag.name}': its model was fitted on other features or another k",
                hint=f"fit it again: portrait persona fit {tag.name} --replace …",
            )
        types = {name: context.tags[name].value_type for name in tag.features}
        features = [feature_of(n, inputs.column(n), types[n]) for n in tag.features]
        labels = model.assign(features)
        names = np.array([persona_label(i) for i in range(model.k)], dtype=object)
        return pa.array(names[labels], type=pa.string())
