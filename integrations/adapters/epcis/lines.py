"""Turn the objects of an object / aggregation event into contract lines.

Class-level quantities (``quantityList`` / ``childQuantityList``) give their quantity and unit;
each instance EPC (``epcList`` / ``childEPCs``) counts one ``EA`` of its GTIN. Lines with the
same material, lot and unit are merged, in order of first appearance.
"""

from __future__ import annotations

from dataclasses import dataclass

from integrations.contracts import FieldError

from . import gs1
from .reading import EpcisEvent

__all__ = ["Line", "event_lines", "handling_units"]

DEFAULT_UNIT = "EA"
#: Where each mapped event type keeps its class-level and instance-level objects.
_OBJECT_KEYS = {
    "ObjectEvent": ("quantityList", "epcList"),
    "AggregationEvent": ("childQuantityList", "childEPCs"),
}


@dataclass(frozen=True)
class Line:
    """One merged line: material (GTIN-14 when GS1-identified), optional lot, quantity, unit."""

    material: str
    lot: str | None
    quantity: int | float
    unit: str


def _class_material(epc_class: str) -> tuple[str, str | None]:
    """GTIN (and lot) of a GS1 class; otherwise the class URI's last segment as material."""
    item = gs1.trade_item(epc_class)
    return item if item else (gs1.business_number(epc_class), None)


def _class_lines(event: EpcisEvent, key: str) -> tuple[list[Line], list[FieldError]]:
    lines: list[Line] = []
    errors: list[FieldError] = []
    items = event.raw.get(key)
    for index, item in enumerate(items if isinstance(items, list) else []):
        quantity = item.get("quantity")
        if quantity is None:  # EPCIS allows "unspecified quantity"; a contract line cannot
            errors.append(
                FieldError(event.at(key, index, "quantity"), "is required to turn this class into a line")
            )
        elif quantity <= 0:
            errors.append(
                FieldError(
                    event.at(key, index, "quantity"), "must be greater than 0 to turn this class into a line"
                )
            )
        else:
            material, lot = _class_material(item["epcClass"])
            lines.append(Line(material, lot, quantity, item.get("uom") or DEFAULT_UNIT))
    return lines, errors


def _instance_lines(event: EpcisEvent, key: str) -> list[Line]:
    """One EA per trade-item EPC; logistic units and other keys (SSCC, GRAI, ...) are no lines."""
    epcs = event.raw.get(key)
    items = (gs1.trade_item(epc) for epc in (epcs if isinstance(epcs, list) else []))
    return [Line(gtin, lot, 1, DEFAULT_UNIT) for gtin, lot in (i for i in items if i)]


def _merged(lines: list[Line]) -> list[Line]:
    totals: dict[tuple[str, str | None, str], int | float] = {}
    for line in lines:
        key = (line.material, line.lot, line.unit)
        totals[key] = totals.get(key, 0) + line.quantity
    return [Line(material, lot, quantity, unit) for (material, lot, unit), quantity in totals.items()]


def event_lines(event: EpcisEvent) -> tuple[list[Line], list[FieldError]]:
    """The merged lines of an object / aggregation event, or errors saying why there are none.

    Guarantees: every line has a positive quantity; an event without any usable object yields
    an error at its quantity list's pointer. Never raises for an event :func:`read_event` accepted.
    """
    quantity_key, epc_key = _OBJECT_KEYS.get(event.epcis_type, ("quantityList", "epcList"))
    lines, errors = _class_lines(event, quantity_key)
    lines += _instance_lines(event, epc_key)
    if errors:
        return [], errors
    if not lines:
        detail = (
            f"no lines: the event has no {quantity_key} and no trade-item EPCs "
            f"(SGTIN or GS1 Digital Link with /01/) in {epc_key}"
        )
        return [], [FieldError(event.at(quantity_key), detail)]
    return _merged(lines), []


def handling_units(event: EpcisEvent) -> list[str]:
    """SSCCs of the logistic units the event moves: the aggregation's parent or SSCC EPCs."""
    candidates = [event.raw.get("parentID")]
    for key in ("epcList", "childEPCs"):
        value = event.raw.get(key)
        candidates += value if isinstance(value, list) else []
    found = (gs1.sscc(candidate) for candidate in candidates)
    return list(dict.fromkeys(s for s in found if s))
