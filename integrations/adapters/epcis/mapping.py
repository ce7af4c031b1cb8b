"""Map one checked EPCIS event to a canonical contract event, or to integration telemetry.

Routing: ObjectEvent / AggregationEvent (action ADD or OBSERVE, no errorDeclaration) with
bizStep ``shipping`` -> ``shipment.dispatched``, ``receiving`` -> ``goods.received``,
``departing`` -> ``shipment.milestone`` picked_up, ``arriving`` -> ``shipment.milestone``
arrived. Everything else is kept as ``integration.telemetry``. Every emitted event's data is
validated against its contract; a mapped event that would be invalid is rejected instead.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from integrations.contracts import FieldError, contract_get, validate_data

from .lines import event_lines, handling_units
from .model import MappedEvent
from .reading import EpcisEvent, derived_event_id
from .references import Defaults, References, derived_number, party_codes, references

__all__ = ["Outcome", "map_event"]

TELEMETRY = "integration.telemetry"
ROUTES = {
    "shipping": "shipment.dispatched",
    "receiving": "goods.received",
    "departing": "shipment.milestone",
    "arriving": "shipment.milestone",
}
MILESTONES = {"departing": "picked_up", "arriving": "arrived"}
_MAPPED_TYPES = ("ObjectEvent", "AggregationEvent")
# Dispositions that say the received goods are not (yet) usable.
_CONDITIONS = {
    "damaged": "damaged",
    "non_conformant": "quarantined",
    "mismatch_class": "quarantined",
    "mismatch_instance": "quarantined",
    "mismatch_quantity": "quarantined",
    "expired": "quarantined",
    "recalled": "quarantined",
}


@dataclass
class Outcome:
    """What became of one event: a business event, a telemetry event, or errors (exactly one)."""

    event: MappedEvent | None = None
    telemetry: MappedEvent | None = None
    errors: list[FieldError] = field(default_factory=list)


@dataclass
class _Draft:
    """Contract data under construction, with notes for ``extensions.epcis.notes``."""

    data: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    errors: list[FieldError] = field(default_factory=list)
    telemetry_reason: str | None = None


def _route(event: EpcisEvent) -> tuple[str | None, str | None]:
    """``(contract type, None)`` for a business event, or ``(None, why it is telemetry)``."""
    if event.epcis_type not in _MAPPED_TYPES:
        return None, f"{event.epcis_type} events are kept as telemetry"
    if isinstance(event.raw.get("errorDeclaration"), dict):
        return (
            None,
            "the event carries an errorDeclaration (declared erroneous), so it is not a business fact",
        )
    if event.biz_step is None:
        return None, "the event has no bizStep, so it is not mapped to a business contract"
    if event.biz_step not in ROUTES:
        return None, f"bizStep {event.biz_step} is not mapped to a business contract"
    if event.action == "DELETE":
        return None, "action DELETE (objects leaving the process or disaggregation) is not mapped"
    return ROUTES[event.biz_step], None


def _json_copy(value: Any) -> Any:
    """A copy of ``value`` that is strict JSON (data must not alias the input, nor carry NaN)."""
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError):
        return None


def _context(event: EpcisEvent, notes: list[str]) -> dict[str, Any]:
    """EPCIS facts worth keeping for traces, under ``extensions.epcis`` (only what is present)."""
    raw = event.raw
    context = {
        "eventID": raw.get("eventID"),
        "eventType": event.epcis_type,
        "action": event.action,
        "bizStep": event.biz_step,
        "disposition": event.disposition,
        "readPoint": event.location("readPoint"),
        "bizLocation": event.location("bizLocation"),
        "eventTimeZoneOffset": raw.get("eventTimeZoneOffset"),
        "parentID": raw.get("parentID"),
        "bizTransactions": [{"type": t.type, "bizTransaction": t.value} for t in event.transactions] or None,
        "sources": [{"type": p.type, "source": p.value} for p in event.sources] or None,
        "destinations": [{"type": p.type, "destination": p.value} for p in event.destinations] or None,
        "errorDeclaration": _json_copy(raw.get("errorDeclaration")),
        "notes": notes or None,
    }
    return {key: value for key, value in context.items() if value is not None}


def _require(draft: _Draft, event: EpcisEvent, **codes: str | None) -> None:
    """A per-event error for each party code the contract requires but nobody supplied."""
    for name, value in codes.items():
        if value is None:
            draft.errors.append(
                FieldError(event.pointer, f"no {name}: the calling system has none and the event names none")
            )


def _lines(draft: _Draft, event: EpcisEvent, **extra: Any) -> list[dict[str, Any]]:
    """Contract lines numbered from 1, each with the non-None ``extra`` fields; errors go to ``draft``."""
    lines, errors = event_lines(event)
    draft.errors += errors
    out = []
    for number, line in enumerate(lines, start=1):
        item: dict[str, Any] = {
            "line": number,
            "material": line.material,
            "quantity": line.quantity,
            "unit": line.unit,
        }
        item.update({k: v for k, v in extra.items() if v is not None})
        if line.lot:
            item["lot"] = line.lot
        out.append(item)
    return out


def _shipment_id(draft: _Draft, event: EpcisEvent, refs: References) -> str:
    """The ASN / GSIN number, or one derived from the event id (the shipping event is the record)."""
    if refs.shipment is not None:
        return refs.shipment
    draft.notes.append(
        "shipment_id derived from the event id: the event names no despatch advice (desadv) or GSIN"
    )
    return derived_number(event.id)


def _dispatched(event: EpcisEvent, refs: References, defaults: Defaults) -> _Draft:
    """shipment.dispatched: needs plant, supplier, a PO and lines; the ASN number may be derived."""
    draft = _Draft(notes=list(refs.notes))
    plant, supplier = party_codes(event, defaults, goods_here=False)
    _require(draft, event, plant=plant, supplier=supplier)
    if not refs.purchase_orders:
        draft.errors.append(
            FieldError(
                event.at("bizTransactionList"),
                "no purchase order: a shipping event needs a bizTransaction of type po (urn:epcglobal:cbv:btt:po)",
            )
        )
    units = handling_units(event)
    # Only an aggregation says which pallet holds the goods; an SSCC beside them in an epcList
    # counts as a package but may hold other goods.
    pallet = units[0] if event.epcis_type == "AggregationEvent" and len(units) == 1 else None
    # EPCIS gives no PO line, and the contract wants po_number only together with po_line,
    # so the POs go to purchase_orders rather than onto the lines.
    lines = _lines(draft, event, handling_unit=pallet)
    draft.data = {
        "shipment_id": _shipment_id(draft, event, refs),
        "supplier": supplier,
        "plant": plant,
        "dispatched_at": event.time,
        "tracking_number": refs.tracking,
        "package_count": len(units) or None,
        "purchase_orders": refs.purchase_orders or None,
        "lines": lines,
    }
    return draft


def _received(event: EpcisEvent, refs: References, defaults: Defaults) -> _Draft:
    """goods.received: needs plant and lines; condition follows the disposition."""
    draft = _Draft(notes=list(refs.notes))
    plant, supplier = party_codes(event, defaults, goods_here=True)
    _require(draft, event, plant=plant)
    receipt = refs.receipt
    if receipt is None:  # the receiving event is itself the receipt record: its id identifies it
        receipt = derived_number(event.id)
        draft.notes.append(
            "receipt_id derived from the event id: the event names no receiving advice (recadv)"
        )
    single_po = refs.purchase_orders[0] if len(refs.purchase_orders) == 1 else None
    condition = _CONDITIONS.get(event.disposition or "", "good")
    draft.data = {
        "receipt_id": receipt,
        "plant": plant,
        "received_at": event.time,
        "shipment_id": refs.shipment,
        "supplier": supplier,
        "purchase_orders": refs.purchase_orders or None,
        "lines": _lines(draft, event, po_number=single_po, condition=condition),
    }
    return draft


def _milestone(event: EpcisEvent, refs: References, defaults: Defaults) -> _Draft:
    """shipment.milestone: needs an ASN, GSIN or bill of lading, else the event is telemetry."""
    draft = _Draft(notes=list(refs.notes))
    if refs.shipment is None and refs.tracking is None:
        draft.telemetry_reason = "no shipment reference (desadv, bol or GSIN), so no shipment.milestone"
        return draft
    plant, supplier = party_codes(event, defaults, goods_here=event.biz_step == "arriving")
    draft.data = {
        "shipment_id": refs.shipment,
        "tracking_number": refs.tracking,
        "milestone": MILESTONES[event.biz_step or ""],
        "occurred_at": event.time,
        "plant": plant,
        "supplier": supplier,
    }
    return draft


_BUILDERS = {
    "shipment.dispatched": _dispatched,
    "goods.received": _received,
    "shipment.milestone": _milestone,
}


def _emit(type_: str, event: EpcisEvent, data: dict[str, Any]) -> tuple[MappedEvent | None, list[FieldError]]:
    """The event if ``data`` validates against ``type_``; otherwise errors at the event's pointer."""
    contract = contract_get(type_)
    if contract is None:
        return None, [FieldError(event.pointer, f"contract {type_} is not available")]
    problems = validate_data(contract, data)
    if problems:
        return None, [
            FieldError(event.pointer, f"does not map to a valid {type_}: {p.pointer} {p.detail}")
            for p in problems
        ]
    return MappedEvent(type_, event.id, event.time, data, event.pointer, event.epcis_type, event.biz_step), []


def _compact(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` without its None values (absent optional fields)."""
    return {key: value for key, value in data.items() if value is not None}


def _telemetry(event: EpcisEvent, refs: References, defaults: Defaults, notes: list[str]) -> Outcome:
    """integration.telemetry for a valid EPCIS event that is no business fact; ``notes`` say why."""
    plant, supplier = party_codes(event, defaults, goods_here=False)
    interface = f"EPCIS {event.epcis_type}"
    data = _compact(
        {
            # message_id is capped at 100 characters; the derived id (77) always fits.
            "message_id": event.id if len(event.id) <= 100 else derived_event_id(event.raw),
            "hop": "epcis",
            "status": "received",
            "occurred_at": event.time,
            "interface": interface if len(interface) <= 100 else "EPCIS extension event",
            "po_number": refs.purchase_orders[0] if refs.purchase_orders else None,
            "shipment_id": refs.shipment,
            "receipt_id": refs.receipt,
            "tracking_number": refs.tracking,
            "production_order": refs.production_order,
            "plant": plant,
            "supplier": supplier,
        }
    )
    data["extensions"] = {"epcis": _context(event, notes)}
    mapped, errors = _emit(TELEMETRY, event, data)
    return Outcome(telemetry=mapped, errors=errors)


def map_event(event: EpcisEvent, defaults: Defaults) -> Outcome:
    """Map one checked event.

    Guarantees: exactly one of ``event`` / ``telemetry`` / ``errors`` is set; an emitted event's
    data validates against its contract; errors point into the EPCIS document. Never raises.
    """
    refs = references(event)
    type_, reason = _route(event)
    if type_ is None:
        return _telemetry(event, refs, defaults, [*refs.notes, reason or ""])
    draft = _BUILDERS[type_](event, refs, defaults)
    if draft.telemetry_reason:
        return _telemetry(event, refs, defaults, [*draft.notes, draft.telemetry_reason])
    if draft.errors:
        return Outcome(errors=draft.errors)
    data = _compact(draft.data)
    data["extensions"] = {"epcis": _context(event, draft.notes)}
    mapped, errors = _emit(type_, event, data)
    return Outcome(event=mapped, errors=errors)
