"""Writing plants and suppliers (used by the demo loader and, later, network onboarding)."""

from __future__ import annotations

from typing import Any

from controltower.masterdata.models import Plant, Supplier


def plant_upsert(*, code: str, **fields: Any) -> Plant:
    """Create or update the plant with `code`; validates every field first."""
    plant = Plant.objects.filter(code=code).first() or Plant(code=code)
    for name, value in fields.items():
        setattr(plant, name, value)
    plant.full_clean()
    plant.save()
    return plant


def supplier_upsert(*, code: str, **fields: Any) -> Supplier:
    """Create or update the supplier with `code`; validates every field first."""
    supplier = Supplier.objects.filter(code=code).first() or Supplier(code=code)
    for name, value in fields.items():
        setattr(supplier, name, value)
    supplier.full_clean()
    supplier.save()
    return supplier
