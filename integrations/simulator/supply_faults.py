"""Business faults of procure-to-receive that the tower's business rules must catch.

Each takes what the flow planned and returns the messages that make the fault (or changes
them in place), so `procure.procure_to_receive` decides only whether a fault happens:
- `short_asn`: one ASN line ships less than was confirmed (quantity mismatch, ASN vs PO line);
- `production_waits`: the ERP releases a production order that needs a shipment's material and
  starts just after its ETA plus the planners' buffer, and the shipment is then delayed past it
  (production at risk);
- `received_lot_hold`: quality holds a lot of the receipt, and releases it only sometimes;
- `unreconciled`: the ERP never posts the receipt, or books another quantity than the WMS
  counted (reconciliation).
"""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

from .catalog import PRODUCTS
from .logistics import Shipment
from .model import FlowContext, Step, ce_step
from .network import ERP, QMS

# The tower's default buffer before a production order's start (exceptions.rules.thresholds,
# PRODUCTION_AT_RISK, in real minutes): the order starts this long plus a little after the ETA.
PLANNING_BUFFER = timedelta(minutes=60)
_HOLD_REASONS = [
    ("HARD-01", "Hardness out of tolerance on incoming inspection"),
    ("DIM-04", "Thread gauge fails on sample of 20"),
    ("COAT-02", "Coating thickness below specification"),
    ("CERT-01", "Material certificate missing"),
]


def short_asn(ctx: FlowContext, shipment: Shipment) -> str:
    """Ship 3-10 % less on one line of `shipment` (in place); the fault's description."""
    line = ctx.rng.choice(shipment.lines)
    short = max(1, round(line["quantity"] * ctx.rng.uniform(0.03, 0.10)))
    line["quantity"] = max(1, line["quantity"] - short)
    return f"ASN mismatch: {shipment.id} ships {line['quantity']} of {line['material']} for PO {line['po_number']}/{line['po_line']}"


def production_waits(ctx: FlowContext, shipment: Shipment) -> tuple[Step, str]:
    """A production order at the shipment's plant needing its first material, released just
    after the ASN, starting after the ETA plus the buffer by less than the coming delay."""
    plant, material = shipment.plant, shipment.lines[0]["material"]
    order = ctx.numbers.next("production_order")
    product = ctx.rng.choice(PRODUCTS[plant]) if plant in PRODUCTS else None
    # The delay is at least 30 simulated minutes (logistics.milestone_steps): start within it.
    start = ctx.clock.at(shipment.eta) + PLANNING_BUFFER + timedelta(seconds=15 * 60 / ctx.clock.speed)
    due = shipment.dispatch + ctx.minutes(1, 4)
    quantity = product.lot_size if product else 100
    data = {
        "production_order": order,
        "plant": plant,
        "material": product.number if product else "FG-SPARES",
        "quantity": quantity,
        "unit": "EA",
        "released_at": ctx.clock.utc(due),
        "scheduled_start": start.astimezone(ctx.clock.at(due).tzinfo).isoformat(timespec="seconds"),
        "components": [{"material": material, "quantity": quantity * 2, "unit": shipment.lines[0]["unit"]}],
    }
    note = f"ERP releases production order {order} at {plant}, needing {material} from {shipment.id}"
    step = ce_step(ctx.rng, ctx.clock, due, ERP, "production_order.released", data, note, subject=order)
    return step, f"production at risk: {order} waits for {shipment.id}"


def received_lot_hold(
    ctx: FlowContext, shipment: Shipment, receipt: Step, due: float
) -> tuple[list[Step], str]:
    """Quality holds one received lot after the receipt; releases it in half the cases."""
    data: dict[str, Any] = receipt.payload["data"]  # type: ignore[index]
    line = ctx.rng.choice([item for item in data["lines"] if item.get("lot")] or data["lines"])
    code, reason = ctx.rng.choice(_HOLD_REASONS)
    common = {
        "plant": shipment.plant,
        "lot": line.get("lot") or f"{data['receipt_id']}-{line['line']}",
        "material": line["material"],
        "notification": ctx.numbers.next("notification"),
        "quantity": line["quantity"],
        "unit": line["unit"],
        "supplier": shipment.supplier,
        "po_number": line["po_number"],
        "receipt_id": data["receipt_id"],
    }
    hold = due + ctx.minutes(10, 30)
    steps = [
        ce_step(
            ctx.rng, ctx.clock, hold, QMS, "quality.exception",
            {**common, "action": "hold", "occurred_at": ctx.clock.utc(hold), "reason": reason, "defect_code": code},
            f"QMS holds received lot {common['lot']} of {shipment.id} ({code})", subject=common["lot"],
        )
    ]  # fmt: skip
    if ctx.rng.random() < 0.5:
        release = hold + ctx.minutes(20, 60)
        steps.append(
            ce_step(
                ctx.rng, ctx.clock, release, QMS, "quality.exception",
                {**common, "action": "release", "occurred_at": ctx.clock.utc(release), "reason": "Use as is (deviation approved)"},
                f"QMS releases lot {common['lot']}", subject=common["lot"],
            )
        )  # fmt: skip
    return steps, f"quality hold: lot {common['lot']} of {shipment.id}"


def unreconciled(ctx: FlowContext, steps: list[Step]) -> tuple[list[Step], str]:
    """The receipt's messages with the ERP side broken: its goods-receipt posting never comes,
    or the ERP reports its own receipt document with one line's quantity off."""
    receipt = next(s for s in steps if s.type == "goods.received")
    receipt_id = receipt.payload["data"]["receipt_id"]  # type: ignore[index]
    posting = next(
        (
            s
            for s in steps
            if s.type == "erp.posting" and s.payload["data"].get("transaction") == "goods_receipt"
        ),  # type: ignore[union-attr]
        None,
    )
    if posting is None or ctx.rng.random() < 0.5:
        return [
            s for s in steps if s is not posting
        ], f"reconciliation: receipt {receipt_id} never posted in the ERP"
    booked = copy.deepcopy(receipt.payload["data"])  # type: ignore[index]
    line = booked["lines"][0]
    line["quantity"] = max(
        1, line["quantity"] - max(1, round(line["quantity"] * ctx.rng.uniform(0.02, 0.08)))
    )
    document = ce_step(
        ctx.rng, ctx.clock, posting.due + 1, ERP, "goods.received", booked,
        f"ERP reports its goods receipt {receipt_id} with {line['quantity']} of {line['material']}", subject=receipt_id,
    )  # fmt: skip
    return [*steps, document], f"reconciliation: ERP books another quantity on {receipt_id}"


__all__ = ["PLANNING_BUFFER", "production_waits", "received_lot_hold", "short_asn", "unreconciled"]
