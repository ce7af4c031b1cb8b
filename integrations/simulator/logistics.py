"""Inbound logistics of procure-to-receive: ASN, transport milestones, goods receipt, posting.

A `Shipment` is planned first (what ships when, by which carrier); the step builders then turn
it into messages. Receipts reference the ASN they arrived with and the PO lines it served.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .catalog import (
    DELAY_REASONS,
    MATERIAL_BY_NUMBER,
    PLACES,
    TIME_ZONES,
    Material,
    Place,
    carriers,
    hubs,
    sscc,
)
from .epcis import shipping_document
from .model import MINUTE, FlowContext, Step, ce_step, compact, fill
from .network import SUPPLIER_PORTAL, TMS, wms
from .telemetry import hops, posting

# Door-to-door transit in simulated minutes, by transport mode.
TRANSIT_MINUTES: dict[str, tuple[float, float]] = {
    "road": (40, 100),
    "rail": (90, 150),
    "parcel": (30, 60),
    "air": (80, 140),
    "sea": (150, 240),
}
_DAMAGE_NOTES = ["Crushed carton", "Wet packaging", "Forklift damage", "Corrosion on surface", "Broken seal"]


@dataclass
class ShipLine:
    """What an ASN line carries: a quantity of a PO line's material."""

    po_number: str
    po_line: int
    material: Material
    quantity: int


@dataclass
class Shipment:
    id: str
    supplier: str
    plant: str
    mode: str
    carrier: str
    tracking: str
    lines: list[dict[str, Any]]  # shipment.dispatched lines
    dispatch: float  # simulated seconds after flow start
    eta: float

    @property
    def purchase_orders(self) -> list[str]:
        return list(dict.fromkeys(line["po_number"] for line in self.lines))


def _location(place: Place, name: str) -> dict[str, Any]:
    return compact(
        {
            "name": name,
            "city": place.city,
            "country": place.country,
            "unlocode": place.unlocode,
            "latitude": place.latitude,
            "longitude": place.longitude,
        }
    )


def storage_location(material: str) -> str:
    return {"EL": "EL01", "PK": "PK01"}.get(material[:2], "RM01")


def plan_shipment(
    ctx: FlowContext, *, supplier: str, plant: str, mode: str, lines: list[ShipLine], dispatch: float
) -> Shipment:
    """An ASN for `lines`: one pallet (SSCC) and one supplier lot per line, carrier of the lane."""
    carrier, pattern = ctx.rng.choice(carriers(mode, supplier))
    lot_date = ctx.clock.at(dispatch).strftime("%y%m%d")
    asn_lines = [
        {
            "line": number,
            "po_number": item.po_number,
            "po_line": item.po_line,
            "material": item.material.number,
            "quantity": item.quantity,
            "unit": item.material.unit,
            "lot": f"L{lot_date}-{ctx.rng.choice('ABCDEFGH')}{ctx.rng.randint(1, 9)}",
            "handling_unit": sscc(supplier, int(ctx.numbers.next("serial"))),
        }
        for number, item in enumerate(lines, start=1)
    ]
    low, high = TRANSIT_MINUTES[mode]
    return Shipment(
        id=ctx.numbers.next("asn"),
        supplier=supplier,
        plant=plant,
        mode=mode,
        carrier=carrier,
        tracking=fill(pattern, ctx.rng),
        lines=asn_lines,
        dispatch=dispatch,
        eta=dispatch + ctx.minutes(low, high),
    )


def dispatch_steps(ctx: FlowContext, shipment: Shipment, *, epcis: bool) -> list[Step]:
    """The supplier portal's ASN: a CloudEvent, or an EPCIS shipping event when `epcis`."""
    due, s = shipment.dispatch, shipment
    note = f"{s.supplier} ships {s.id} to {s.plant} ({len(s.lines)} lines, {s.mode}, {s.carrier})"
    if epcis:
        document = shipping_document(
            ctx,
            due,
            supplier=s.supplier,
            plant=s.plant,
            shipment_id=s.id,
            purchase_orders=s.purchase_orders,
            lines=s.lines,
        )
        return [
            Step(due=due, system=SUPPLIER_PORTAL, kind="epcis", payload=document, note=note + " as EPCIS")
        ]
    # Goods plus about 22 kg per pallet; one pallet (SSCC) per line.
    weight = sum(line["quantity"] * MATERIAL_BY_NUMBER[line["material"]].weight + 22.0 for line in s.lines)
    data = {
        "shipment_id": s.id,
        "supplier": s.supplier,
        "plant": s.plant,
        "dispatched_at": ctx.clock.local(due, TIME_ZONES[s.supplier]),
        "carrier": s.carrier,
        "tracking_number": s.tracking,
        "transport_mode": s.mode,
        "estimated_arrival": ctx.clock.local(s.eta, TIME_ZONES[s.plant]),
        "package_count": len(s.lines),
        "gross_weight_kg": round(weight, 1),
        "purchase_orders": s.purchase_orders,
        "lines": s.lines,
    }
    asn = ce_step(ctx.rng, ctx.clock, due, SUPPLIER_PORTAL, "shipment.dispatched", data, note, subject=s.id)
    steps = [asn]
    if ctx.chance(0.3):
        steps += hops(
            ctx,
            due,
            asn,
            source_system=SUPPLIER_PORTAL,
            target_system="ERP-CLOUD",
            refs={
                "shipment_id": s.id,
                "supplier": s.supplier,
                "plant": s.plant,
                "po_number": s.purchase_orders[0],
                "tracking_number": s.tracking,
            },
            correlation_id=s.id,
        )
    return steps


def milestone_steps(ctx: FlowContext, shipment: Shipment, *, delay: bool = False) -> tuple[list[Step], float]:
    """TMS milestones picked_up → in_transit → (delayed with a new ETA) → arrived → delivered.

    Returns the steps and when the goods were delivered at the plant's dock.
    """
    s = shipment
    supplier_place, plant_place = PLACES[s.supplier], PLACES[s.plant]
    hub = ctx.rng.choice(hubs(s.mode, s.plant) or [plant_place])
    base = {
        "shipment_id": s.id,
        "tracking_number": s.tracking,
        "carrier": s.carrier,
        "plant": s.plant,
        "supplier": s.supplier,
    }
    steps: list[Step] = []

    def milestone(due: float, name: str, location: dict[str, Any], **extra: Any) -> None:
        data = {**base, "milestone": name, "occurred_at": ctx.clock.utc(due), "location": location, **extra}
        steps.append(
            ce_step(
                ctx.rng,
                ctx.clock,
                due,
                TMS,
                "shipment.milestone",
                data,
                f"{s.carrier} reports {name} for {s.id}",
                subject=s.id,
            )
        )

    picked = s.dispatch + ctx.minutes(5, 20)
    milestone(picked, "picked_up", _location(supplier_place, f"{s.supplier} shipping dock"))
    transit = picked + (s.eta - picked) * ctx.rng.uniform(0.3, 0.6)
    hub_name = f"{hub.city} {'port' if s.mode == 'sea' else 'airport' if s.mode == 'air' else 'hub'}"
    milestone(transit, "in_transit", _location(hub, hub_name))
    arrival = max(s.eta + ctx.minutes(-8, 8), transit + MINUTE)
    if ctx.chance(ctx.faults.delays) or delay:
        arrival = s.eta + ctx.minutes(30, 150)
        milestone(
            transit + ctx.minutes(2, 10),
            "delayed",
            _location(hub, hub_name),
            estimated_arrival=ctx.clock.utc(arrival),
            reason=ctx.rng.choice(DELAY_REASONS[s.mode]),
        )
    milestone(arrival, "arrived", _location(plant_place, f"{s.plant} yard"))
    delivered = arrival + ctx.minutes(5, 15)
    milestone(
        delivered,
        "delivered",
        _location(plant_place, f"{s.plant} goods receipt dock {ctx.rng.randint(1, 6)}"),
    )
    return steps, delivered


def _receipt_lines(ctx: FlowContext, shipment: Shipment, mismatch: bool) -> tuple[list[dict[str, Any]], str]:
    """Receipt lines for the ASN lines; with `mismatch` one line's quantity differs from the ASN."""
    lines: list[dict[str, Any]] = []
    off = ctx.rng.randrange(len(shipment.lines)) if mismatch else -1
    note = ""
    for index, asn in enumerate(shipment.lines):
        quantity = asn["quantity"]
        if index == off:
            delta = max(1, round(quantity * ctx.rng.uniform(0.02, 0.12)))
            short = ctx.rng.random() < 0.75 or delta >= quantity
            quantity = quantity - delta if short and delta < quantity else quantity + delta
            note = f"; {asn['material']} {'short' if quantity < asn['quantity'] else 'over'} by {abs(quantity - asn['quantity'])}"
        common = {key: asn[key] for key in ("po_number", "po_line", "material", "unit", "lot")}
        damaged = round(quantity * ctx.rng.uniform(0.01, 0.05)) if quantity >= 20 and ctx.chance(0.04) else 0
        lines.append({"line": len(lines) + 1, **common, "quantity": quantity - damaged, "condition": "good"})
        if damaged:
            lines.append(
                {
                    "line": len(lines) + 1,
                    **common,
                    "quantity": damaged,
                    "condition": "damaged",
                    "storage_location": "QI01",
                    "note": ctx.rng.choice(_DAMAGE_NOTES),
                }
            )
    return lines, note


def receipt_steps(ctx: FlowContext, shipment: Shipment, due: float, *, mismatch: bool) -> list[Step]:
    """The plant WMS's goods receipt for `shipment`, its trip through the middleware, the ERP posting."""
    s = shipment
    receipt_id = ctx.numbers.next("receipt")
    lines, note = _receipt_lines(ctx, s, mismatch)
    data = {
        "receipt_id": receipt_id,
        "plant": s.plant,
        "received_at": ctx.clock.local(due, TIME_ZONES[s.plant]),
        "shipment_id": s.id,
        "supplier": s.supplier,
        "storage_location": storage_location(s.lines[0]["material"]),
        "purchase_orders": s.purchase_orders,
        "lines": lines,
    }
    text = f"{wms(s.plant)} receives {s.id} as {receipt_id}{note}"
    receipt = ce_step(ctx.rng, ctx.clock, due, wms(s.plant), "goods.received", data, text, subject=receipt_id)
    steps = [receipt]
    refs = {
        "po_number": s.purchase_orders[0],
        "shipment_id": s.id,
        "receipt_id": receipt_id,
        "plant": s.plant,
        "supplier": s.supplier,
    }
    posted_at = due + ctx.minutes(1, 4)
    message_id = None
    if ctx.chance(0.6):
        carried = hops(
            ctx,
            due,
            receipt,
            source_system=wms(s.plant),
            target_system="ERP-CLOUD",
            refs=refs,
            correlation_id=s.id,
        )
        steps += carried
        message_id = str(receipt.payload["id"])  # type: ignore[index]
        posted_at = max(posted_at, carried[-1].due + ctx.rng.uniform(2, 20))
    steps.append(
        posting(
            ctx,
            posted_at,
            transaction="goods_receipt",
            reference=receipt_id,
            refs=refs,
            message_id=message_id,
        )
    )
    return steps
