"""The registry of computers by tag kind: the SQL kinds in production, others registered and
removed through the same functions."""

from __future__ import annotations

import pytest

from portrait.errors import BuildError
from portrait.model.tags import TAG_KINDS, AttributeTag
from portrait.profile.computers import computer_for, kinds, register, unregister
from portrait.profile.computers import sql as sql_computers
from tests.python_kind import DoubledComputer, DoubledTag, registered


def test_production_registry_is_the_sql_kinds() -> None:
    assert kinds() == TAG_KINDS
    assert computer_for(AttributeTag(name="city")) is sql_computers.ATTRIBUTE


def test_register_then_unregister() -> None:
    tag = DoubledTag(name="twice", source="age")
    with registered(DoubledComputer()) as computer:
        assert kinds() == (*TAG_KINDS, "doubled")
        assert computer_for(tag) is computer
    assert kinds() == TAG_KINDS
    with pytest.raises(BuildError, match="tag 'twice': no computer for tag kind 'doubled'") as info:
        computer_for(tag)
    assert info.value.hint is not None and "attribute, bucket" in info.value.hint


def test_a_kind_has_one_computer() -> None:
    with pytest.raises(ValueError, match="'metric' is registered already"):
        register(sql_computers.METRIC)
    with pytest.raises(ValueError, match="no computer for tag kind 'doubled'"):
        unregister("doubled")
    assert kinds() == TAG_KINDS
