"""Reading plants and suppliers, always through the reader's scope."""

from __future__ import annotations

from django.db.models import QuerySet

from controltower.accounts.scope import Scope
from controltower.masterdata.models import Plant, Supplier


def plants_visible(*, scope: Scope) -> QuerySet[Plant]:
    return scope.filter(Plant.objects.all(), plant_field="id")


def suppliers_visible(*, scope: Scope) -> QuerySet[Supplier]:
    return scope.filter(Supplier.objects.all(), supplier_field="id")
