"""ASNs as GS1 EPCIS 2.0 capture documents, as a supplier's traceability platform sends them.

One shipping ObjectEvent per document: the pallets (SSCCs) in `epcList`, the goods per
material in `quantityList`, the purchase orders and the despatch advice in
`bizTransactionList`, the supplier and the plant by GLN in `sourceList` / `destinationList`.
"""

from __future__ import annotations

from typing import Any

from .catalog import TIME_ZONES, check_digit, company_prefix
from .model import FlowContext, new_uuid

EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
# The buyer's material numbers as class identifiers (EPCIS allows any URI for epcClass); a
# supplier without GTINs for the buyer's parts sends these.
MATERIAL_CLASS = "https://id.controltower-demo.example/material/"
# UN/ECE Recommendation 20 codes EPCIS uses for class quantities; counted items carry no uom.
_UOM = {"KG": "KGM", "M": "MTR", "L": "LTR"}


def pgln(code: str) -> str:
    """The party GLN of a plant or supplier as an EPC URI."""
    return f"urn:epc:id:pgln:{company_prefix(code)}.00000"


def sgln(code: str, location: int = 1) -> str:
    """A site GLN (a dock, a warehouse) of a plant or supplier as an EPC URI."""
    return f"urn:epc:id:sgln:{company_prefix(code)}.{location:05d}.0"


def sscc_uri(handling_unit: str) -> str:
    """`urn:epc:id:sscc:` form of an 18-digit SSCC whose company prefix has 7 digits."""
    extension, prefix, serial = handling_unit[0], handling_unit[1:8], handling_unit[8:17]
    return f"urn:epc:id:sscc:{prefix}.{extension}{serial}"


def shipping_document(
    ctx: FlowContext,
    due: float,
    *,
    supplier: str,
    plant: str,
    shipment_id: str,
    purchase_orders: list[str],
    lines: list[dict[str, Any]],
) -> dict[str, Any]:
    """An EPCISDocument with one shipping ObjectEvent for an ASN's `lines`.

    `lines` are shipment.dispatched lines (material, quantity, unit, handling_unit). Quantities
    are summed per material; the event's time is the supplier's local time at `due`.
    """
    tz = TIME_ZONES[supplier]
    totals: dict[tuple[str, str], float] = {}
    for line in lines:
        key = (line["material"], line["unit"])
        totals[key] = totals.get(key, 0) + line["quantity"]
    quantities = []
    for (material, unit), quantity in totals.items():
        item: dict[str, Any] = {"epcClass": MATERIAL_CLASS + material, "quantity": quantity}
        if unit in _UOM:
            item["uom"] = _UOM[unit]
        quantities.append(item)
    pallets = list(dict.fromkeys(line["handling_unit"] for line in lines if line.get("handling_unit")))
    supplier_gln = company_prefix(supplier) + "00000"
    supplier_gln += check_digit(supplier_gln)  # bizTransaction URNs name the issuing party's GLN
    transactions = [
        {"type": "po", "bizTransaction": f"urn:epcglobal:cbv:bt:{supplier_gln}:{po}"}
        for po in purchase_orders
    ]
    transactions.append(
        {"type": "desadv", "bizTransaction": f"urn:epcglobal:cbv:bt:{supplier_gln}:{shipment_id}"}
    )
    event = {
        "type": "ObjectEvent",
        "eventID": f"urn:uuid:{new_uuid(ctx.rng)}",
        "eventTime": ctx.clock.local(due, tz),
        "eventTimeZoneOffset": ctx.clock.offset(due, tz),
        "epcList": [sscc_uri(p) for p in pallets],
        "action": "OBSERVE",
        "bizStep": "shipping",
        "disposition": "in_transit",
        "readPoint": {"id": sgln(supplier, 1)},
        "bizLocation": {"id": sgln(supplier, 0)},
        "bizTransactionList": transactions,
        "sourceList": [
            {"type": "owning_party", "source": pgln(supplier)},
            {"type": "location", "source": sgln(supplier, 0)},
        ],
        "destinationList": [
            {"type": "owning_party", "destination": pgln(plant)},
            {"type": "location", "destination": sgln(plant, 0)},
        ],
        "quantityList": quantities,
    }
    return {
        "@context": [EPCIS_CONTEXT],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": ctx.clock.utc(due),
        "epcisBody": {"eventList": [event]},
    }
