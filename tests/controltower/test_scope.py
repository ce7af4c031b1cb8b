"""The Scope value object that every selector filters through."""

from __future__ import annotations

import pytest

from controltower.accounts.scope import FULL_SCOPE, NO_SCOPE, Scope
from controltower.masterdata.models import Plant

pytestmark = pytest.mark.django_db


def test_scope_allows_by_plant_or_supplier():
    scope = Scope(plant_ids=frozenset({1}), supplier_ids=frozenset({7}))
    assert scope.allows(plant_id=1)
    assert scope.allows(plant_id=2, supplier_id=7)
    assert not scope.allows(plant_id=2, supplier_id=8)
    assert FULL_SCOPE.allows(plant_id=99)
    assert not NO_SCOPE.allows(plant_id=1, supplier_id=7)


def test_scope_groups_name_each_plant_and_supplier():
    assert Scope(plant_ids=frozenset({3, 1}), supplier_ids=frozenset({2})).group_names == [
        "scope.plant.1",
        "scope.plant.3",
        "scope.supplier.2",
    ]
    assert FULL_SCOPE.group_names == ["scope.all"]


def test_filter_requires_a_field_and_narrows_querysets(plants):
    with pytest.raises(ValueError):
        NO_SCOPE.filter(Plant.objects.all())
    north = Scope(plant_ids=frozenset({plants["north"].pk}))
    assert list(north.filter(Plant.objects.all(), plant_field="id")) == [plants["north"]]
    assert list(NO_SCOPE.filter(Plant.objects.all(), plant_field="id")) == []
    assert FULL_SCOPE.filter(Plant.objects.all(), plant_field="id").count() == 2
