"""Business references carried by an EPCIS event: POs, ASN, receipt, bill of lading, parties.

EPCIS names business documents in ``bizTransactionList`` (CBV types ``po``, ``desadv``,
``recadv``, ``bol``) and parties / places in ``sourceList`` / ``destinationList`` by GLN.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from . import gs1
from .reading import EpcisEvent, Party

__all__ = ["Defaults", "References", "derived_number", "party_codes", "references"]

#: Longest business number the contracts accept (po_number, shipment_id, receipt_id).
MAX_NUMBER = 35
#: Longest tracking number the contracts accept.
MAX_TRACKING = 50
_PLANT_TYPES = ("location", "owning_party", "possessing_party")
_SUPPLIER_TYPES = ("owning_party", "possessing_party", "location")


@dataclass(frozen=True)
class Defaults:
    """The calling system's own plant / supplier codes (ERP codes), when it has them."""

    plant: str | None = None
    supplier: str | None = None


@dataclass
class References:
    """Usable business numbers of one event, plus notes on references that were not usable."""

    purchase_orders: list[str] = field(default_factory=list)
    shipment: str | None = None
    receipt: str | None = None
    tracking: str | None = None
    production_order: str | None = None
    notes: list[str] = field(default_factory=list)


#: Longest usable number per CBV transaction type, and the References field of the single ones.
_LIMITS = {
    "po": MAX_NUMBER,
    "desadv": MAX_NUMBER,
    "recadv": MAX_NUMBER,
    "prodorder": MAX_NUMBER,
    "bol": MAX_TRACKING,
}
_FIRST_ONLY = {"desadv": "shipment", "recadv": "receipt", "bol": "tracking", "prodorder": "production_order"}


def references(event: EpcisEvent) -> References:
    """POs (all, de-duplicated), the first ASN / receipt / bill of lading / production order.

    A number that is empty or too long for the contracts is skipped with a note (the full
    reference stays in ``extensions.epcis.bizTransactions``); the ASN falls back to a GSIN
    among the event's EPCs. Untyped and other transaction types are ignored here.
    """
    refs = References()
    for tx in event.transactions:
        limit = _LIMITS.get(tx.type or "")
        if limit is None:
            continue
        if not tx.number.strip() or len(tx.number) > limit:
            refs.notes.append(
                f"{tx.type} {tx.value!r} gives no usable number ({tx.number!r}: empty or longer than "
                f"{limit} characters); kept in extensions.epcis.bizTransactions only"
            )
        elif tx.type == "po":
            if tx.number not in refs.purchase_orders:
                refs.purchase_orders.append(tx.number)
        elif getattr(refs, _FIRST_ONLY[tx.type]) is None:
            setattr(refs, _FIRST_ONLY[tx.type], tx.number)
    refs.shipment = refs.shipment or _gsin(event)
    return refs


def _gsin(event: EpcisEvent) -> str | None:
    """A GSIN (GS1 shipment id) given as the parent or one of the EPCs of the event."""
    candidates = [event.raw.get("parentID")]
    for key in ("epcList", "childEPCs"):
        value = event.raw.get(key)
        candidates += value if isinstance(value, list) else []
    return next((g for g in (gs1.gsin(c) for c in candidates) if g), None)


def derived_number(event_id: str) -> str:
    """A short deterministic business number for an event that names none: ``EPCIS-<16 hex>``."""
    return "EPCIS-" + hashlib.sha256(event_id.encode("utf-8", "surrogatepass")).hexdigest()[:16].upper()


def _first_gln(parties: tuple[Party, ...], order: tuple[str, ...]) -> str | None:
    for kind in order:
        for party in parties:
            if party.type == kind and (found := gs1.gln(party.value)):
                return found
    return None


def _code(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def party_codes(event: EpcisEvent, defaults: Defaults, *, goods_here: bool) -> tuple[str | None, str | None]:
    """``(plant, supplier)`` for ``event``.

    The calling system's ERP codes win: EPCIS names places and parties only by GLN, which the
    ERP does not use as a plant or supplier code. Without them, the GLN of the destination
    (plant) / source (supplier) is used; ``goods_here`` (receiving, arriving) also accepts the
    ``bizLocation``, since that is where the goods now are.
    """
    plant = _code(defaults.plant) or _first_gln(event.destinations, _PLANT_TYPES)
    if plant is None and goods_here:
        plant = gs1.gln(event.location("bizLocation"))
    supplier = _code(defaults.supplier) or _first_gln(event.sources, _SUPPLIER_TYPES)
    return plant, supplier
