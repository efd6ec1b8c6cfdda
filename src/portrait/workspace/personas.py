"""``ws.personas``: clustering personas (聚类画像, top-down) as a tag.

``fit`` clusters a sample of users on chosen tags (:mod:`portrait.learning.personas`) and
writes a ``kind: persona`` tag (its model inside the definition, in ``tags/personas.yaml``);
``portrait build`` then gives every user a persona, ``P1`` (the largest) … ``Pk``, usable in
rules, insight and campaign templates like any tag. ``show`` makes each persona's card: size
and share, the tag values that distinguish it (TGI with interval), a short rule approximating
it with its exact precision and coverage, and its editable name and description.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from portrait.errors import InputError, NotFoundError, SegmentError, suggest
from portrait.model.access import Caller
from portrait.model.rules import And, Not, Or, Rule, TagCondition
from portrait.rules import print_rule

if TYPE_CHECKING:
    from portrait.learning.personas import Branch, Feature
    from portrait.model.tags import PersonaTag
    from portrait.workspace.root import Workspace

SHOW_SAMPLE = 50_000
"""Users sampled to grow a persona's approximating rule (its precision and coverage are then
counted over every user)."""


def _label(i: int) -> str:
    return f"P{i + 1}"


class PersonaService:
    def __init__(self, ws: Workspace):
        self._ws = ws

    # -- reading features --------------------------------------------------------------------
    def _features(self, names: Sequence[str], rows: np.ndarray[Any, Any] | None) -> list[Feature]:
        """The built values of tags ``names`` as features, for the users at positions ``rows``
        of the profile (every user when None)."""
        import pyarrow.parquet as pq

        from portrait.learning.personas import feature_of

        profile = self._ws.selector().profile
        table = pq.read_table(profile.profile_file, columns=list(names))
        if rows is not None:
            table = table.take(rows)
        return [feature_of(n, table.column(n), profile.tags[n].type) for n in names]

    def _sample(self, size: int, seed: int) -> np.ndarray[Any, Any] | None:
        population = self._ws.selector().profile.population
        if size >= population:
            return None
        rng = np.random.default_rng(seed)
        return np.sort(rng.choice(population, size=size, replace=False))

    def definition(self, name: str) -> PersonaTag:
        """The persona tag ``name`` (a NotFoundError with a suggestion when there is none)."""
        from portrait.model.tags import PersonaTag

        definitions = self._ws.catalog.tags.definitions
        tag = definitions.get(name)
        if not isinstance(tag, PersonaTag):
            personas = [t for t in definitions if isinstance(definitions[t], PersonaTag)]
            what = "a tag but not a persona" if tag is not None else "no persona tag"
            raise NotFoundError(
                f"'{name}' is {what}",
                where="name",
                hint=suggest(name, personas)
                or "make one with: portrait persona fit NAME --features …",
            )
        return tag

    def _check_file(self, name: str) -> None:
        """Refuse to write a tag defined in a file the workspace does not write itself."""
        from pathlib import Path

        from portrait.store.tagfiles import PERSONA_FILE

        source = self._ws.catalog.tags.definitions.sources.get(name)
        if source is not None and Path(source).name != PERSONA_FILE:
            raise InputError(
                f"'{name}' is defined in {source}, which portrait does not rewrite",
                where="name",
                hint=f"edit it there, or move its definition to tags/{PERSONA_FILE}",
            )

    def _built(self, tag: PersonaTag) -> None:
        """Refuse to read a persona whose built values are not of its current model (fitted
        again, or never built): they would describe other personas."""
        import datetime as dt

        from portrait.profile.fingerprints import fingerprints

        ws = self._ws
        profile = ws.selector().profile
        built = profile.tags.get(tag.name)
        if built is None:
            raise InputError(
                f"persona tag '{tag.name}' is not built yet", where="name", hint="portrait build"
            )
        snapshot = ws.built
        expected = fingerprints(
            ws.catalog.tags.definitions,
            ws.built_warehouse(),
            snapshot.as_of or dt.date.today(),  # a persona is not windowed: any date
            ws.config["data.timezone"],
        ).get(tag.name)
        if expected is not None and expected != built.fingerprint:
            raise InputError(
                f"persona tag '{tag.name}' was fitted again since the last build",
                where="name",
                hint="portrait build",
            )

    # -- fitting -----------------------------------------------------------------------------
    def fit(
        self,
        name: str,
        features: Sequence[str],
        *,
        k: int | None = None,
        k_range: tuple[int, int] = (2, 10),
        sample: int = 50_000,
        seed: int = 0,
        title: str = "",
        replace: bool = False,
        caller: Caller | None = None,
    ) -> dict[str, Any]:
        """Cluster ``sample`` users (drawn with ``seed``) on the built tags ``features`` with
        ``k`` personas (or the k of ``k_range`` with the best silhouette), measure stability
        (bootstrap), and write the persona tag ``name``: its values after the next build are
        ``P1`` (the largest persona) … ``Pk``. Refuses a name in use unless ``replace`` (and
        only a persona tag may be replaced). Returns the fit: k, the silhouette of every k
        tried, stability, each persona's share of the sample."""
        from portrait.learning.personas import fit
        from portrait.model.tags import NAME_PATTERN, PersonaLabel, PersonaTag
        from portrait.store.tagfiles import write_generated_tag

        ws = self._ws
        who = ws.access.permit(caller, "segments:write", "fit personas")
        if not NAME_PATTERN.match(name):
            raise InputError(
                f"'{name}' cannot name a tag",
                where="name",
                hint="a lower-case letter, then a-z, 0-9 and _ (at most 63)",
            )
        definitions = ws.catalog.tags.definitions
        if name in definitions:
            if not isinstance(definitions[name], PersonaTag):
                raise InputError(f"'{name}' is a tag already, not a persona tag", where="name")
            self._check_file(name)
            if not replace:
                raise InputError(
                    f"persona tag '{name}' exists", where="name", hint="--replace fits it again"
                )
        names = list(dict.fromkeys(features))
        if not names:
            raise InputError(
                "name the tags to cluster on",
                where="--features",
                hint="or let the ranking propose them: ws.personas.propose(TARGET)",
            )
        if name in names:
            raise InputError(f"'{name}' cannot be a feature of itself", where="--features")
        try:  # built, known, pii for admins only
            chosen = ws.insights.comparable_tags(names, who)
        except InputError as exc:
            raise type(exc)(exc.message, where="--features", hint=exc.hint) from None
        if not 100 <= sample <= 1_000_000:
            raise InputError("--sample must be between 100 and 1,000,000", where="--sample")
        rows = self._sample(sample, seed)
        found = fit(self._features(chosen, rows), k=k, k_range=k_range, seed=seed)
        order = np.argsort(-np.bincount(found.labels, minlength=found.model.k), kind="stable")
        model = found.model
        model.centroids = model.centroids[order]
        shares = np.bincount(found.labels, minlength=model.k)[order] / found.labels.size
        previous = definitions.get(name)
        tag = PersonaTag(
            name=name,
            title=title or (previous.title if previous else "") or name,
            category="persona",
            features=tuple(chosen),
            k=model.k,
            sample=sample,
            seed=seed,
            fitted_on=ws.selector().profile.version,
            silhouette={int(kk): float(v) for kk, v in found.silhouette.items() if v == v},
            stability=float(found.stability),
            model=model.to_dict(),
            labels={_label(i): PersonaLabel() for i in range(model.k)},
        )
        data = tag.model_dump(mode="json", exclude_defaults=True)
        data["kind"] = "persona"
        write_generated_tag(ws.layout.tags_dir, data)
        ws.access.record(who, "persona:fit", name, int(rows.size if rows is not None else 0))
        return {
            "name": name,
            "features": list(chosen),
            "k": model.k,
            "chosen": k is None,
            "silhouette": tag.silhouette,
            "stability": tag.stability,
            "stable": found.stable,
            "sample": int(found.labels.size),
            "shares": {_label(i): float(s) for i, s in enumerate(shares)},
            "next": "portrait build",
        }

    def propose(self, target: str, *, count: int = 5, caller: Caller | None = None) -> list[str]:
        """Features for a persona fit proposed by the feature ranking of ``target``: its
        ``count`` best-ranked tags that are not circular, most representative first among
        equals (coverage at least 50%)."""
        if not 2 <= count <= 20:
            raise InputError("propose 2 to 20 features", where="--feature-count")
        ranking = self._ws.discovery.rank(target, caller=caller)
        rows = [r for r in ranking.rows if (r["coverage"] or 0) >= 0.5]
        return [r["tag"] for r in rows[:count]]

    def describe(
        self,
        name: str,
        persona: str,
        *,
        display_name: str | None = None,
        description: str | None = None,
        caller: Caller | None = None,
    ) -> dict[str, str]:
        """Set a persona's name and description (shown on its card; its value stays)."""
        from portrait.model.tags import PersonaLabel
        from portrait.store.tagfiles import write_generated_tag

        ws = self._ws
        who = ws.access.permit(caller, "segments:write", "name personas")
        tag = self.definition(name)
        self._check_file(name)
        if persona not in tag.labels and persona not in {_label(i) for i in range(tag.k)}:
            raise NotFoundError(
                f"persona tag '{name}' has no persona '{persona}'",
                where="persona",
                hint=f"one of P1 … P{tag.k}",
            )
        old = tag.labels.get(persona, PersonaLabel())
        new = PersonaLabel(
            name=old.name if display_name is None else display_name.strip(),
            description=old.description if description is None else description.strip(),
        )
        labels = {**tag.labels, persona: new}
        data = tag.model_copy(update={"labels": labels}).model_dump(
            mode="json", exclude_defaults=True
        )
        data["kind"] = "persona"
        write_generated_tag(ws.layout.tags_dir, data)
        ws.access.record(who, "persona:describe", f"{name}:{persona}")
        return new.model_dump()

    # -- cards -------------------------------------------------------------------------------
    def show(self, name: str, *, top: int = 8, caller: Caller | None = None) -> dict[str, Any]:
        """Each persona's card: size and share (released for the caller), its most
        distinctive tag values (TGI with its 95% interval, significance), a rule of at most
        three conditions approximating it (grown on a sample by a decision tree) with its
        precision and coverage counted over every user, and its name and description."""
        from pyroaring import FrozenBitMap

        from portrait.access import releases
        from portrait.learning.personas import approximate

        ws = self._ws
        who = ws.who(caller)
        tag = self.definition(name)
        profile = ws.selector().profile
        self._built(tag)
        index = profile.index.values(name)
        # under disclosure control every card's insight is charged: over the persona's own
        # features only, so that k cards fit in a day's budget
        compared = list(tag.features) if ws.access.disclosure.controlled(who) else None
        rows = self._sample(SHOW_SAMPLE, tag.seed)
        features = self._features(list(tag.features), rows)
        import pyarrow.parquet as pq

        column = pq.read_table(profile.profile_file, columns=[name]).column(name)
        built = np.asarray(column.to_numpy(zero_copy_only=False), dtype=object)
        labels_of = built if rows is None else built[rows]
        codes = np.array([int(str(v)[1:]) - 1 if v else -1 for v in labels_of], dtype=np.int64)
        disclosure = ws.access.disclosure
        everyone = FrozenBitMap(range(profile.population))
        cards = []
        for i in range(tag.k):
            value = _label(i)
            members = index.get(value)
            rule = f'{name} = "{value}"'
            approximation = approximate(features, codes, i, seed=tag.seed)
            text = self._rule_text(approximation.paths)
            found = ws.audiences.members(text, who).bitmap if text else everyone
            size, matched, hit = releases.member_sets(
                disclosure, who, "persona", [members, found, found & members]
            )
            precision = hit / matched if hit is not None and matched else None
            coverage = hit / size if hit is not None and size else None
            label = tag.labels.get(value)
            cards.append(
                {
                    "persona": value,
                    "name": label.name if label else "",
                    "description": label.description if label else "",
                    "size": size,
                    "share": size / profile.population if size is not None else None,
                    "rule": rule,
                    "distinctive": ws.insights.distinctive(
                        rule, top=top, tags=compared, caller=who
                    ),
                    "approximation": {"rule": text, "precision": precision, "coverage": coverage},
                }
            )
        return {
            "name": name,
            "title": tag.title,
            "features": list(tag.features),
            "k": tag.k,
            "fitted_on": tag.fitted_on,
            "silhouette": tag.silhouette,
            "stability": tag.stability,
            "stable": tag.stability is not None and tag.stability >= 0.8,
            "personas": cards,
            "privacy": ws.access.privacy(who),
        }

    def _rule_text(self, paths: Sequence[Sequence[Branch]]) -> str:
        """The rule text of an approximation: an OR of its paths, each an AND of conditions
        with the branch semantics of :mod:`portrait.learning.personas` (empty: everyone)."""
        profile = self._ws.selector().profile
        conjunctions: list[Rule] = []
        for path in paths:
            items = [self._condition(b, profile.tags[b.feature].type) for b in path]
            if not items:
                return ""
            conjunctions.append(items[0] if len(items) == 1 else And(items=items))
        if not conjunctions:
            return ""
        rule = conjunctions[0] if len(conjunctions) == 1 else Or(items=conjunctions)
        return print_rule(rule)

    @staticmethod
    def _condition(branch: Branch, value_type: str) -> Rule:
        tag, op, value = branch.feature, branch.op, branch.value
        if value is None:
            return TagCondition(tag=tag, op="is null" if op == "=" else "is not null")
        if op in ("contains", "not contains"):
            found = TagCondition(tag=tag, op="contains any", value=[str(value)])
            return found if op == "contains" else Not(item=found)
        if op in ("=", "!="):
            typed: Any = value == "true" if value_type == "bool" else value
            equal = TagCondition(tag=tag, op="=", value=typed)
            if op == "=":
                return equal
            return Or(items=[TagCondition(tag=tag, op="!=", value=typed), _null(tag)])
        number: Any = value
        if value_type == "int" and float(value).is_integer():
            number = int(value)
        elif value_type in ("date", "timestamp"):
            number = _moment(float(value), value_type)
        return TagCondition(tag=tag, op="<=" if op == "<=" else ">", value=number)

    # -- segments ----------------------------------------------------------------------------
    def save(
        self, name: str, *, replace: bool = False, caller: Caller | None = None
    ) -> list[dict[str, Any]]:
        """One dynamic segment per persona, ``<name>_p1`` … (rule ``name = "P1"``)."""
        ws = self._ws
        tag = self.definition(name)
        ws.access.permit(caller, "segments:write", "save segments")
        names = [f"{name}_{_label(i).lower()}" for i in range(tag.k)]
        taken = [n for n in names if n in ws.segments]
        if taken and not replace:
            raise SegmentError(
                f"segment '{taken[0]}' exists", where="name", hint="replace=True (--replace)"
            )
        saved = []
        for i in range(tag.k):
            value = _label(i)
            label = tag.labels.get(value)
            saved.append(
                ws.audiences.segments.create(
                    f"{name}_{value.lower()}",
                    f'{name} = "{value}"',
                    description=(label.name if label and label.name else f"{name} {value}"),
                    replace=replace,
                    caller=caller,
                )
            )
        return saved


def _null(tag: str) -> Rule:
    return TagCondition(tag=tag, op="is null")


def _moment(value: float, value_type: str) -> str:
    import datetime as dt

    if value_type == "date":
        return (dt.date(1970, 1, 1) + dt.timedelta(days=int(value))).isoformat()
    moment = dt.datetime(1970, 1, 1) + dt.timedelta(seconds=value)
    return moment.isoformat(sep=" ")
