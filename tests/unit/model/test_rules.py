"""The rule model's JSON document."""

from __future__ import annotations

from portrait.model.rules import RuleDocument
from portrait.rules import parse_rule
from tests.unit.rules.samples import ISSUE_EXAMPLE


def test_document_is_versioned_json() -> None:
    doc = RuleDocument(rule=parse_rule(ISSUE_EXAMPLE))
    text = doc.model_dump_json()
    assert '"version":1' in text
    assert RuleDocument.model_validate_json(text) == doc
