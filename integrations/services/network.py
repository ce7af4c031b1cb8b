"""Onboarding the network as data: systems (and the plants and suppliers they belong to)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from controltower.masterdata.models import Plant, Supplier
from controltower.masterdata.services import plant_upsert, supplier_upsert
from integrations.models import SourceSystem, SystemSource

SYSTEM_FIELDS = {"name", "kind", "owner_team", "criticality", "active"}
PARTNER_FIELDS = {"name", "region", "time_zone", "gln", "active"}


@transaction.atomic
def system_upsert(
    *,
    code: str,
    plant: Plant | None = None,
    supplier: Supplier | None = None,
    sources: Iterable[str] | None = None,
    **fields: Any,
) -> SourceSystem:
    """Create or update system `code`; its CloudEvents sources default to its code.

    A source already registered to another system is refused (ValidationError), so one system
    can never post as another.
    """
    system = SourceSystem.objects.filter(code=code).first() or SourceSystem(code=code)
    for name, value in fields.items():
        setattr(system, name, value)
    system.plant, system.supplier = plant, supplier
    system.full_clean()
    system.save()
    wanted = list(dict.fromkeys(sources or [code]))
    taken = SystemSource.objects.filter(source__in=wanted).exclude(system=system).select_related("system")
    if taken:
        claims = ", ".join(f"{t.source!r} ({t.system.code})" for t in taken)
        raise ValidationError({"sources": f"already registered to another system: {claims}"})
    system.sources.exclude(source__in=wanted).delete()
    for source in wanted:
        SystemSource.objects.get_or_create(system=system, source=source)
    return system


def _partner(model: type[Plant] | type[Supplier], code: str | None, where: str) -> Any:
    if not code:
        return None
    found = model.objects.filter(code=code).first()
    if found is None:
        raise ValidationError({where: f"unknown {model._meta.verbose_name} {code!r}"})
    return found


@transaction.atomic
def network_load(*, document: Mapping[str, Any]) -> dict[str, int]:
    """Load plants, suppliers and systems from a parsed YAML/JSON document, idempotently.

    All or nothing: any invalid entry raises ValidationError naming it, and nothing is saved.
    Returns how many of each were loaded.
    """
    if not isinstance(document, Mapping):
        raise ValidationError("The network file must be a mapping with plants, suppliers and systems.")
    counts = {"plants": 0, "suppliers": 0, "systems": 0}
    for key, upsert, allowed in (
        ("plants", plant_upsert, PARTNER_FIELDS),
        ("suppliers", supplier_upsert, PARTNER_FIELDS),
    ):
        for index, entry in enumerate(document.get(key) or []):
            _require_code(entry, f"{key}[{index}]")
            upsert(code=entry["code"], **{k: v for k, v in entry.items() if k in allowed})
            counts[key] += 1
    for index, entry in enumerate(document.get("systems") or []):
        where = f"systems[{index}]"
        _require_code(entry, where)
        unknown = set(entry) - SYSTEM_FIELDS - {"code", "plant", "supplier", "sources"}
        if unknown:
            raise ValidationError({where: f"unknown fields {sorted(unknown)}"})
        system_upsert(
            code=entry["code"],
            plant=_partner(Plant, entry.get("plant"), f"{where}.plant"),
            supplier=_partner(Supplier, entry.get("supplier"), f"{where}.supplier"),
            sources=entry.get("sources"),
            **{k: v for k, v in entry.items() if k in SYSTEM_FIELDS},
        )
        counts["systems"] += 1
    return counts


def _require_code(entry: Any, where: str) -> None:
    if not isinstance(entry, Mapping) or not entry.get("code"):
        raise ValidationError({where: "each entry needs a code"})
