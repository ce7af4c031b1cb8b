"""Procure-to-receive: PO → supplier confirmation → ASN → transport → goods receipt → ERP posting.

Variants a buyer sees every day: one ASN serving two POs of the same supplier and plant, a PO
shipped in two partial shipments, revised or rejected lines, an ASN sent as EPCIS. Business
faults (missing / late confirmation, quantity mismatch, delay) come from `ctx.faults`.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from .catalog import BUYERS, CURRENCIES, LANES, MATERIALS, REGIONS, TIME_ZONES, Material
from .logistics import (
    TRANSIT_MINUTES,
    ShipLine,
    Shipment,
    dispatch_steps,
    milestone_steps,
    plan_shipment,
    receipt_steps,
)
from .model import Flow, FlowContext, Step, ce_step
from .network import ERP, SUPPLIER_PORTAL
from .supply_faults import production_waits, received_lot_hold, short_asn, unreconciled
from .telemetry import hops

_INCOTERMS = {
    "road": ["FCA", "DAP"],
    "rail": ["FCA"],
    "parcel": ["DAP"],
    "air": ["FCA", "CPT"],
    "sea": ["FOB", "CIF"],
}
_REVISION_REASONS = [
    "Raw material allocation; remaining quantity next week",
    "Capacity constraint on line 2",
    "Tooling maintenance; partial quantity only",
    "Allocation due to market shortage",
]
_DATE_REASONS = [
    "Production slot moved",
    "Transport booking not available earlier",
    "Supplier plant shutdown day",
]
_REJECT_REASONS = [
    "Part discontinued; successor part offered",
    "No capacity in the requested period",
    "Drawing revision not released to us",
]


@dataclass
class OrderLine:
    line: int
    material: Material
    quantity: int
    requested_date: str
    price: float
    status: str = "confirmed"
    confirmed: int = 0
    days_late: int = 0  # a date-conflict fault: confirmed this many days after the requested date


@dataclass
class Order:
    po: str
    supplier: str
    plant: str
    lines: list[OrderLine] = field(default_factory=list)


def supplier_material(supplier: str, material: Material) -> str:
    """The supplier's own part number for a buyer material (stable)."""
    return f"{supplier[4:7]}-{zlib.crc32((supplier + material.number).encode()) % 100_000:05d}"


def _order(ctx: FlowContext, supplier: str, plant: str, arrival: float) -> Order:
    """A PO of 1-4 lines; a fourth line repeats a material with a later date (a schedule split)."""
    rng, materials = ctx.rng, MATERIALS[supplier]
    count = rng.choice([1, 1, 2, 2, 2, 3, 3, 4])
    chosen = rng.sample(materials, min(count, len(materials)))
    while len(chosen) < count:
        chosen.append(rng.choice(materials))
    order = Order(ctx.numbers.next("po"), supplier, plant)
    for index, material in enumerate(chosen):
        repeat = material in chosen[:index]
        order.lines.append(
            OrderLine(
                line=10 * (index + 1),
                material=material,
                quantity=material.lot_size * rng.randint(2, material.max_lots),
                requested_date=ctx.clock.date(arrival, TIME_ZONES[plant], days=7 if repeat else 0),
                price=round(material.price * rng.uniform(0.96, 1.04), 4 if material.price < 1 else 2),
            )
        )
    return order


def _po_steps(ctx: FlowContext, order: Order, due: float, mode: str) -> list[Step]:
    data = {
        "po_number": order.po,
        "supplier": order.supplier,
        "plant": order.plant,
        "released_at": ctx.clock.utc(due),
        "order_date": ctx.clock.date(due, TIME_ZONES[order.plant]),
        "currency": CURRENCIES[REGIONS[order.supplier]],
        "incoterms": ctx.rng.choice(_INCOTERMS[mode]),
        "buyer": ctx.rng.choice(BUYERS),
        "lines": [
            {
                "line": line.line,
                "material": line.material.number,
                "description": line.material.description,
                "quantity": line.quantity,
                "unit": line.material.unit,
                "requested_date": line.requested_date,
                "net_price": line.price,
            }
            for line in order.lines
        ],
    }
    note = f"ERP releases PO {order.po} ({len(order.lines)} lines) to {order.supplier} for {order.plant}"
    po = ce_step(ctx.rng, ctx.clock, due, ERP, "purchase_order.released", data, note, subject=order.po)
    steps = [po]
    if ctx.chance(0.4):
        steps += hops(
            ctx,
            due,
            po,
            source_system=ERP,
            target_system=SUPPLIER_PORTAL,
            refs={"po_number": order.po, "supplier": order.supplier, "plant": order.plant},
            correlation_id=order.po,
        )
    return steps


def _decide(ctx: FlowContext, order: Order) -> None:
    """The supplier's answer per line: mostly confirmed, some revised, rarely rejected.

    Guarantees: at least one line is not rejected; a confirmed quantity never exceeds the order.
    """
    for line in order.lines:
        line.status, line.confirmed = "confirmed", line.quantity
        roll = ctx.rng.random()
        others_open = any(o.status != "rejected" for o in order.lines if o is not line)
        if roll < 0.04 and len(order.lines) > 1 and others_open:
            line.status, line.confirmed = "rejected", 0
        elif roll < 0.16:
            line.status = "revised"
            lot = line.material.lot_size
            if line.quantity > lot and ctx.rng.random() < 0.6:
                line.confirmed = max(lot, int(line.quantity * ctx.rng.uniform(0.6, 0.9)) // lot * lot)


def _confirmation_steps(ctx: FlowContext, order: Order, due: float) -> list[Step]:
    lines: list[dict[str, Any]] = []
    for line in order.lines:
        item: dict[str, Any] = {
            "line": line.line,
            "material": line.material.number,
            "supplier_material": supplier_material(order.supplier, line.material),
            "status": line.status,
        }
        if line.status == "rejected":
            item["reason"] = ctx.rng.choice(_REJECT_REASONS)
        else:
            revised_date = line.status == "revised" and line.confirmed == line.quantity
            days = line.days_late or (ctx.rng.randint(1, 3) if revised_date else 0)
            item.update(
                quantity=line.confirmed,
                unit=line.material.unit,
                confirmed_date=_later(line.requested_date, days) if days else line.requested_date,
            )
            if line.status == "revised":
                item["reason"] = ctx.rng.choice(_DATE_REASONS if revised_date else _REVISION_REASONS)
        lines.append(item)
    data = {
        "po_number": order.po,
        "supplier": order.supplier,
        "plant": order.plant,
        "confirmation_id": ctx.numbers.next("confirmation"),
        "confirmed_at": ctx.clock.local(due, TIME_ZONES[order.supplier]),
        "lines": lines,
    }
    statuses = ", ".join(sorted({line.status for line in order.lines}))
    note = f"{order.supplier} confirms PO {order.po} ({statuses})"
    confirmation = ce_step(
        ctx.rng, ctx.clock, due, SUPPLIER_PORTAL, "supplier.confirmation", data, note, subject=order.po
    )
    steps = [confirmation]
    if ctx.chance(0.3):
        steps += hops(
            ctx,
            due,
            confirmation,
            source_system=SUPPLIER_PORTAL,
            target_system=ERP,
            refs={"po_number": order.po, "supplier": order.supplier, "plant": order.plant},
            correlation_id=order.po,
        )
    return steps


def _later(day: str, days: int) -> str:
    return (date.fromisoformat(day) + timedelta(days=days)).isoformat()


def _ship_lines(ctx: FlowContext, orders: list[Order], split: bool) -> list[list[ShipLine]]:
    """What ships, as one list per shipment: everything confirmed, or two partial shipments.

    Guarantees: per PO line, the shipped quantities sum to at most the confirmed quantity.
    """
    open_lines = [(o, line) for o in orders for line in o.lines if line.confirmed > 0]
    if not split:
        return [[ShipLine(o.po, line.line, line.material, line.confirmed) for o, line in open_lines]]
    first: list[ShipLine] = []
    second: list[ShipLine] = []
    for order, line in open_lines:
        lot = line.material.lot_size
        part = int(line.confirmed * ctx.rng.uniform(0.4, 0.7)) // lot * lot
        if part <= 0 or part >= line.confirmed:
            (first if ctx.rng.random() < 0.5 else second).append(
                ShipLine(order.po, line.line, line.material, line.confirmed)
            )
            continue
        rest = line.confirmed - part
        if ctx.rng.random() < 0.2:  # the supplier falls short on the back order
            rest = max(1, int(rest * ctx.rng.uniform(0.8, 0.95)))
        first.append(ShipLine(order.po, line.line, line.material, part))
        second.append(ShipLine(order.po, line.line, line.material, rest))
    return [group for group in (first, second) if group]


def procure_to_receive(ctx: FlowContext) -> Flow:
    """One supplier, one plant, one or two POs, their ASN(s) and everything after."""
    rng, faults = ctx.rng, ctx.faults
    supplier = rng.choice(sorted(LANES))
    plant, mode = rng.choice(LANES[supplier])
    consolidated = rng.random() < 0.12
    split = not consolidated and rng.random() < 0.15
    epcis = ctx.chance(ctx.epcis_share)
    po_dues = [0.0, ctx.minutes(2, 20)] if consolidated else [0.0]
    confirm_dues = [due + ctx.minutes(10, 40) for due in po_dues]
    dispatch = max(confirm_dues) + ctx.minutes(20, 60)
    arrival = dispatch + sum(TRANSIT_MINUTES[mode]) / 2 * 60
    orders = [_order(ctx, supplier, plant, arrival) for _ in po_dues]
    flow = Flow("procure_to_receive", orders[0].po, [])
    for order, due in zip(orders, po_dues, strict=True):
        flow.steps += _po_steps(ctx, order, due, mode)
        _decide(ctx, order)
    if ctx.chance(faults.date_conflicts):
        line = rng.choice([line for line in orders[0].lines if line.status != "rejected"])
        line.status, line.days_late = "revised", rng.randint(2, 5)
        flow.faults.append(
            f"date conflict: PO {orders[0].po}/{line.line} confirmed {line.days_late} days late"
        )
    missing = rng.randrange(len(orders)) if ctx.chance(faults.missing_confirmations) else -1
    late = rng.randrange(len(orders)) if ctx.chance(faults.late_confirmations) else -1
    for index, (order, due) in enumerate(zip(orders, confirm_dues, strict=True)):
        if index == missing:
            flow.faults.append(f"missing confirmation: PO {order.po}")
            continue
        if index == late:  # the portal batch job ran only after the goods had left
            due = dispatch + ctx.minutes(30, 120)
            flow.faults.append(f"late confirmation: PO {order.po}")
        flow.steps += _confirmation_steps(ctx, order, due)
    shipments: list[Shipment] = []
    for number, lines in enumerate(_ship_lines(ctx, orders, split)):
        at = dispatch + (ctx.minutes(30, 90) if number else 0.0)
        shipments.append(
            plan_shipment(ctx, supplier=supplier, plant=plant, mode=mode, lines=lines, dispatch=at)
        )
    mismatch = rng.randrange(len(shipments)) if ctx.chance(faults.quantity_mismatch) else -1
    if ctx.chance(faults.asn_mismatch):
        flow.faults.append(short_asn(ctx, rng.choice(shipments)))
    # An EPCIS ASN carries no ETA: only a CloudEvent ASN can be planned against.
    at_risk = 0 if ctx.chance(faults.production_at_risk) and not epcis else -1
    held = rng.randrange(len(shipments)) if ctx.chance(faults.quality_holds) else -1
    unposted = rng.randrange(len(shipments)) if ctx.chance(faults.reconciliation) else -1
    for index, shipment in enumerate(shipments):
        flow.steps += dispatch_steps(ctx, shipment, epcis=epcis)
        if index == at_risk:
            release, fault = production_waits(ctx, shipment)
            flow.steps.append(release)
            flow.faults.append(fault)
        milestones, delivered = milestone_steps(ctx, shipment, delay=index == at_risk)
        flow.steps += milestones
        if any(s.payload.get("data", {}).get("milestone") == "delayed" for s in milestones):  # type: ignore[union-attr]
            flow.faults.append(f"delay: {shipment.id}")
        if index == mismatch:
            flow.faults.append(f"quantity mismatch: receipt of {shipment.id}")
        received = delivered + ctx.minutes(10, 30)
        receipt = receipt_steps(ctx, shipment, received, mismatch=index == mismatch)
        if index == unposted:
            receipt, fault = unreconciled(ctx, receipt)
            flow.faults.append(fault)
        flow.steps += receipt
        if index == held:
            holds, fault = received_lot_hold(ctx, shipment, receipt[0], received)
            flow.steps += holds
            flow.faults.append(fault)
    return flow.ordered()
